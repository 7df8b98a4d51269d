"""``3d``: 3D CNNs over the clip (Karpathy's slow fusion; C3D, I3D, R(2+1)D and their successors).

The network is chosen with ``arch`` (``vidclass train --model 3d --arch NAME``):

* ``inflated`` (the default): the default 2D ImageNet backbone inflated to 3D the I3D way
  (:mod:`vidclass.models.clip_models.inflate`), so it is pretrained and works offline. Only the stem
  and the first pointwise convolution of each stage in the network's second half get a temporal
  kernel (``temporal_kernel``, 3): every other layer stays per frame, which keeps it affordable
  on a CPU; frame features are averaged over time before the classifier;
* ``c3d_small``: a C3D-style stack of 3 x 3 x 3 convolutions sized for a CPU, from scratch
  (no pretrained weights exist for it; ``pretrained`` does nothing);
* torchvision's video networks ``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``s3d``,
  ``mvit_v2_s`` and ``swin3d_t`` with their Kinetics-400 weights: from the torch hub cache,
  downloaded when online, or a local ``weights`` file; with none of these a
  WeightsUnavailableError says how to get them, never random weights in their place
  (``pretrained=False`` trains from scratch on purpose). Frames are normalised with the
  weights' own mean and std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vidclass.errors import ConfigError, WeightsUnavailableError
from vidclass.models.backbones import Preprocess
from vidclass.models.clip_models.base import ClipModel, ClipSpec, Network, backbone_network, backbone_stages, register
from vidclass.models.clip_models.inflate import default_temporal_convs, inflate_network, set_frames

DEFAULT_ARCH = "inflated"
TORCHVISION_ARCHS = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t")
ARCHS = (DEFAULT_ARCH, "c3d_small", *TORCHVISION_ARCHS)
_HEADS = {"r3d_18": "fc", "mc3_18": "fc", "r2plus1d_18": "fc", "s3d": "classifier", "mvit_v2_s": "head",
          "swin3d_t": "head"}
_FIXED_INPUT = {"mvit_v2_s": (16, 224)}  # (frames, size) its positional tables are built for
_KINETICS_MEAN_STD = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
C3D_WIDTHS = (16, 32, 64, 128)  # C3D has 64 to 512; these cost 1.4 GFLOPs on 8 frames of 112 px


def _c3d_small(widths: tuple[int, ...]) -> nn.Sequential:
    """C3D's recipe (3 x 3 x 3 convolutions, pooling space first and time later) at CPU widths.

    Each block: Conv3d, BatchNorm3d (so it trains from scratch at a usual learning rate), ReLU,
    max pooling (1 x 2 x 2 after the first block, 2 x 2 x 2 after the others, as in C3D;
    ``ceil_mode`` lets a clip of few frames through); then global average pooling.
    """
    layers: list[nn.Module] = []
    for number, (a, b) in enumerate(zip((3, *widths), widths)):
        layers += [nn.Conv3d(a, b, 3, padding=1, bias=False), nn.BatchNorm3d(b), nn.ReLU(inplace=True),
                   nn.MaxPool3d((1, 2, 2) if number == 0 else 2, ceil_mode=True)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(1))


def _kinetics_weights(arch: str):
    from torchvision.models import get_model_weights

    return get_model_weights(arch).KINETICS400_V1


def _torchvision_network(arch: str, spec: ClipSpec, *, pretrained: bool, weights: str | None) -> Network:
    """torchvision's ``arch`` without its classification layer, with the weights the rules above say."""
    from torchvision.models import get_model

    if arch in _FIXED_INPUT and (spec.frames, spec.size) != _FIXED_INPUT[arch]:
        frames, size = _FIXED_INPUT[arch]
        raise ConfigError(f"3d arch {arch!r} takes clips of exactly {frames} frames of {size} px "
                          f"(--frames {frames} --size {size}), got {spec.frames} of {spec.size}")
    enum = _kinetics_weights(arch)
    transform = enum.transforms()
    preprocess = Preprocess(spec.size, spec.size, "bilinear", tuple(transform.mean), tuple(transform.std))
    if weights is not None and not pretrained:
        raise ConfigError(f"3d arch {arch!r}: weights={weights!r} contradicts pretrained=False; give one or the other")
    model = get_model(arch, weights=None)
    weights_id = "none"
    if weights is not None:
        path = Path(weights)
        _load_headless(model, arch, path)
        from vidclass.util.digests import sha256_file

        weights_id = f"file:sha256:{sha256_file(path)}"
    elif pretrained:
        _load_headless(model, arch, _kinetics_file(arch))
        weights_id = f"torchvision:{type(enum).__name__}.{enum.name}"
    head = getattr(model, _HEADS[arch])
    linear = head if isinstance(head, (nn.Linear, nn.Conv3d)) else next(
        m for m in head.modules() if isinstance(m, (nn.Linear, nn.Conv3d)))
    dim = linear.in_features if isinstance(linear, nn.Linear) else linear.in_channels
    setattr(model, _HEADS[arch], nn.Identity())
    if arch == "s3d":  # its (2, 7, 7) average pool fits only 16+ frames of 224 px; a global one is the same there
        model.avgpool = nn.AdaptiveAvgPool3d(1)
    return Network(model, dim, preprocess, weights_id)


def _kinetics_file(arch: str) -> Path:
    """The Kinetics-400 weights of ``arch`` in the torch hub cache, downloaded if missing and possible."""
    from vidclass.models.weights import download

    url = _kinetics_weights(arch).url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if path.is_file():
        return path
    try:
        download(url, path)
    except Exception as error:  # any network or cache failure becomes one actionable error
        raise WeightsUnavailableError(
            f"3d arch {arch!r}: its Kinetics-400 weights are not on this machine and could not be downloaded "
            f"({error}). To get them: download {url} and save it as {path} (the torch hub cache; set TORCH_HOME "
            f"to move it), or pass --weights PATH (Python: weights=PATH) with that file, or --pretrained none "
            f"(Python: pretrained=False) to train {arch} from scratch on purpose. Offline, the default "
            f"--arch {DEFAULT_ARCH} is pretrained (an ImageNet backbone inflated to 3D)."
        ) from error
    return path


def _load_headless(model: nn.Module, arch: str, path: Path) -> None:
    """Load a state dict file into ``model``: every key but the Kinetics classification layer must fit."""
    from vidclass.models.weights import load_strict, read_state_dict

    head = f"{_HEADS[arch]}."
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(head)}
    own = {k: v for k, v in model.state_dict().items() if k.startswith(head)}
    load_strict(model, {**state, **own}, path, arch)


@register
class Video3D(ClipModel):
    """Normalised frames -> a 3D network over the clip -> dropout -> linear."""

    name = "3d"
    description = ("3D CNN over the clip, --arch inflated (default: ImageNet CNN inflated to 3D, offline), "
                   "c3d_small (from scratch), or r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v2_s, swin3d_t (Kinetics-400)")

    def __init__(
        self,
        spec: ClipSpec,
        num_classes: int,
        *,
        pretrained: bool = True,
        weights: str | None = None,
        arch: str = DEFAULT_ARCH,
        temporal_kernel: int = 3,
    ) -> None:
        if arch not in ARCHS:
            raise ConfigError(f"3d: unknown arch {arch!r}; allowed: {', '.join(ARCHS)}")
        if arch == DEFAULT_ARCH:
            network = backbone_network(spec, pretrained=pretrained, weights=weights)
            convs = default_temporal_convs(network.module, backbone_stages(network.module))
            inflate_network(network.module, convs, temporal_kernel)
        elif arch == "c3d_small":
            # pretrained: ignored on purpose, there are no pretrained weights for this network
            if weights is not None:
                raise ConfigError("3d arch 'c3d_small' trains from scratch: it takes no --weights file")
            mean, std = _KINETICS_MEAN_STD
            network = Network(_c3d_small(C3D_WIDTHS), C3D_WIDTHS[-1],
                              Preprocess(spec.size, spec.size, "bilinear", mean, std), "none")
        else:
            network = _torchvision_network(arch, spec, pretrained=pretrained, weights=weights)
        super().__init__(spec, num_classes, network=network)
        self.arch = arch
        self.temporal_kernel = temporal_kernel
        self.classifier = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(self.feature_dim, num_classes))

    def encode_frames(self, frames: Tensor) -> Tensor:
        """Only normalisation: the network convolves over the window's frames together."""
        return self.normalize(frames)

    def classify_encoded(self, encoded: Tensor) -> Tensor:
        encoded = encoded.float()
        if self.arch == DEFAULT_ARCH:  # frames folded into the batch; the temporal convolutions unfold them
            b, t = encoded.shape[:2]
            set_frames(self.backbone, t)
            features = self.backbone(encoded.flatten(0, 1)).unflatten(0, (b, t)).mean(dim=1)
        else:
            features = self.backbone(encoded.transpose(1, 2))  # (B, C, T, H, W)
        return self.classifier(features)

    def parameter_groups(self, lr: float, backbone_lr: float) -> list[dict[str, Any]]:
        """c3d_small has nothing pretrained, so all of it learns at ``lr``; the others as every clip model."""
        if self.arch == "c3d_small":
            return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr, "name": "head"}]
        return super().parameter_groups(lr, backbone_lr)

    def options(self) -> dict[str, Any]:
        return {"arch": self.arch, "temporal_kernel": self.temporal_kernel}
