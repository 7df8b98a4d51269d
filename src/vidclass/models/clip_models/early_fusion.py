"""``early_fusion``: the clip's T frames stacked as 3T input channels of a pretrained 2D CNN.

Karpathy et al.'s early fusion (Large-scale Video Classification with CNNs, 2014): the first
layer sees every frame at once, so motion is picked up by its very first filters. The first
convolution is inflated from the ImageNet weights (repeated over the frames and divided by
their number, :func:`~vidclass.models.clip_models.inflate.inflate_input_conv`), everything after it
is the pretrained network as usual, so it starts from ImageNet offline with the default
backbone: on T copies of one image it computes what the 2D network computes on that image.
"""

from __future__ import annotations

from torch import Tensor, nn

from vidclass.models.clip_models.base import ClipModel, ClipSpec, backbone_network, register
from vidclass.models.clip_models.inflate import inflate_input_conv


@register
class EarlyFusion(ClipModel):
    """Normalised frames, stacked over time into channels -> 2D backbone -> dropout -> linear."""

    name = "early_fusion"
    description = ("T frames stacked as 3T input channels of an ImageNet CNN (first convolution inflated "
                   "over time, the rest pretrained)")

    def __init__(self, spec: ClipSpec, num_classes: int, *, pretrained: bool = True, weights: str | None = None) -> None:
        network = backbone_network(spec, pretrained=pretrained, weights=weights)
        inflate_input_conv(network.module, spec.frames)
        super().__init__(spec, num_classes, network=network)
        self.classifier = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(self.feature_dim, num_classes))

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Only normalisation: the network needs the window's frames together."""
        return self.normalize(frames)

    def classify_encoded(self, encoded: Tensor) -> Tensor:
        if encoded.shape[1] != self.spec.frames:
            raise ValueError(f"early_fusion was built for {self.spec.frames} frames per clip, got {encoded.shape[1]}")
        return self.classifier(self.backbone(encoded.float().flatten(1, 2)))
