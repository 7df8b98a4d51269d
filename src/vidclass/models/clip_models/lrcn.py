"""``lrcn``: a backbone and a temporal head trained jointly on frame sequences (LRCN, CNN + LSTM).

The LearnOpenCV catalogue's LRCN and the Keras CNN-RNN example's first "next step" (fine-tune
the CNN): the same temporal heads as the frozen-feature seam (:mod:`vidclass.models.heads`), but the
backbone learns too, at its own (lower) learning rate.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vidclass.models.clip_models.base import ClipModel, ClipSpec, register
from vidclass.models.heads import create_head

DEFAULT_HEAD = "lstm"


@register
class LRCN(ClipModel):
    """Backbone features per frame -> temporal head (any of ``vidclass.models.heads``) -> logits."""

    name = "lrcn"
    description = "CNN + temporal head (lstm, bilstm, gru, attention, transformer, mean) trained end to end"

    def __init__(
        self,
        spec: ClipSpec,
        num_classes: int,
        *,
        pretrained: bool = True,
        weights: str | None = None,
        head: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(spec, num_classes, pretrained=pretrained, weights=weights)
        options = dict(head or {"name": DEFAULT_HEAD})
        head_name = options.pop("name", DEFAULT_HEAD)
        options.pop("in_dim", None)
        options.pop("num_classes", None)
        self.head = create_head(head_name, in_dim=self.feature_dim, num_classes=num_classes, **options)

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Each frame's pooled backbone features."""
        return self.backbone_features(frames)

    def classify_encoded(self, encoded: Tensor) -> Tensor:
        mask = torch.ones(encoded.shape[:2], dtype=torch.bool, device=encoded.device)
        return self.head(encoded.float(), mask)

    def options(self) -> dict[str, Any]:
        return {"head": self.head.hparams()}
