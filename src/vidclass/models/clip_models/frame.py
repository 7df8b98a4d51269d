"""``frame``: an ImageNet backbone with a new classification layer, fine-tuned on single frames.

PyImageSearch's recipe: every frame is an example with its video's label; a video's label is
the mean of its frames' probabilities (late fusion), and a timeline labels every frame and
averages the last K frame predictions so the label stops flickering. Because it looks at
one frame at a time, it also trains on a folder of images (each image a one-frame clip).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidclass.models.clip_models.base import ClipModel, ClipSpec, register


@register
class FrameClassifier(ClipModel):
    """Backbone -> dropout -> linear, per frame; clip logits = log of the mean frame probabilities."""

    name = "frame"
    description = "ImageNet CNN fine-tuned on single frames; video = mean of frame probabilities (late fusion)"
    stream_unit = "frame"

    def __init__(self, spec: ClipSpec, num_classes: int, *, pretrained: bool = True, weights: str | None = None) -> None:
        super().__init__(spec, num_classes, pretrained=pretrained, weights=weights)
        self.classifier = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(self.feature_dim, num_classes))

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Each frame's class logits."""
        return self.classifier(self.backbone_features(frames))

    def classify_encoded(self, encoded: Tensor) -> Tensor:
        """Late fusion: the log of the frames' mean probabilities, so softmax gives that mean
        (one output, a regression value: the frames' mean value)."""
        if self.num_classes == 1:
            return encoded.float().mean(dim=1)
        return torch.log(torch.softmax(encoded.float(), dim=-1).mean(dim=1).clamp_min(1e-12))

    def training_logits(self, clips: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Every frame is its own example, with its clip's label."""
        t = clips.shape[1]
        return self.encode_frames(clips.flatten(0, 1)), labels.repeat_interleave(t)
