"""The base of every clip model (a network trained end to end on decoded frames) and its registry.

A clip model takes a batch of clips as uint8 ``(B, T, C, H, W)`` RGB, already cropped to its
``size``, normalises them itself (the backbone's mean and std) and returns class logits
``(B, classes)`` (with ``num_classes=1`` one output, a regression value: :mod:`vidclass.estimator.regressor`).
It splits its work the way a stream needs it (:mod:`vidclass.estimator.stream`):
``encode_frames`` is what each sampled frame costs once, ``classify_encoded`` turns a window
of encoded frames into logits, and ``forward`` is the two in a row. A frame classifier
encodes a frame into its class logits; an LRCN into backbone features for its temporal head;
a 3D CNN would encode nothing and run the whole network per window.

Models are built by name (``list_clip_models`` / ``create_clip_model``) from a
:class:`ClipSpec` plus model-specific options, and rebuilt from ``hparams()`` by
``clip_model_from_config`` with the same architecture, ready for the saved weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from vidclass.errors import ConfigError
from vidclass.media.motion import MOTION_RULE, UNRECORDED_RULE, check_motion_rule
from vidclass.models.backbones import DEFAULT_BACKBONE, Preprocess, create_backbone, get_backbone_spec

BatchNormMode = Literal["frozen", "train"]
PixelInputs = Literal["rgb", "rgbdiff", "flow"]
FREEZE_ALL = -1
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class ClipSpec:
    """What every clip model is built from; validated on creation.

    ``frames`` per clip, square ``size`` in pixels, ``inputs`` ``rgb`` (frames), ``rgbdiff``
    (TSN's RGB differences of each frame with the frame 1/15 s later) or ``flow`` (the optical
    flow between the two drawn as an image), see :mod:`vidclass.media.motion`, whose ``motion_rule`` says how
    their motion follows the frame rate. ``freeze_stages`` freezes the backbone's first N stages
    (``-1``: all of it, bit for bit). ``bn="train"`` updates the backbone's BatchNorm statistics
    (a batch holds clips x frames images); ``"frozen"`` keeps them at their pretrained values
    (TSN's partial BN), which on a 64 px synthetic task stopped the backbone from learning at
    all (0.50 against 1.00 with ``train`` after 60 steps), so it is not the default.
    ``dropout`` is applied before a frame model's classification layer. ``pretrained`` / ``weights`` follow
    :func:`vidclass.models.backbones.create_backbone`.
    """

    backbone: str = DEFAULT_BACKBONE
    frames: int = 8
    size: int = 112
    inputs: PixelInputs = "rgb"
    freeze_stages: int = 0
    bn: BatchNormMode = "train"
    dropout: float = 0.2
    motion_rule: str = MOTION_RULE  # how pair images follow the frame rate (vidclass.media.motion.MOTION_RULES)

    def __post_init__(self) -> None:
        if not (isinstance(self.frames, int) and self.frames >= 1):
            raise ConfigError(f"frames must be an integer >= 1, got {self.frames!r}")
        if not (isinstance(self.size, int) and 32 <= self.size <= 1024):
            raise ConfigError(f"size must be an integer number of pixels in [32, 1024], got {self.size!r}")
        if self.inputs not in ("rgb", "rgbdiff", "flow"):
            raise ConfigError(f"pixel inputs must be rgb, rgbdiff or flow, got {self.inputs!r}")
        if not (isinstance(self.freeze_stages, int) and self.freeze_stages >= FREEZE_ALL):
            raise ConfigError(f"freeze_stages must be an integer >= 0, or -1 for the whole backbone, got {self.freeze_stages!r}")
        if self.bn not in ("frozen", "train"):
            raise ConfigError(f"bn must be frozen or train, got {self.bn!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        check_motion_rule(self.motion_rule)

    @property
    def pair_image(self) -> str | None:
        """The pair images the model reads (``rgbdiff`` or ``flow``), or None for frames (``rgb``)."""
        return None if self.inputs == "rgb" else self.inputs


@dataclass(frozen=True)
class Network:
    """A clip model's trunk: the module, the size of what it outputs, the input preparation its
    weights expect (only ``mean``, ``std`` and ``interpolation`` are used) and the weights' id."""

    module: nn.Module
    feature_dim: int
    preprocess: Preprocess
    weights_id: str


def backbone_network(spec: ClipSpec, *, pretrained: bool = True, weights: str | None = None) -> Network:
    """The 2D registry backbone ``spec.backbone`` (see :func:`vidclass.models.backbones.create_backbone`), pooled."""
    encoder = create_backbone(spec.backbone, pretrained=pretrained, weights=weights, channels_last=False)
    return Network(encoder.model, encoder.spec.dim, encoder.spec.preprocess, encoder.weights_id)


class ClipModel(nn.Module):
    """Base of the clip models: normalisation, the backbone trunk, freezing and parameter groups.

    Subclasses set ``name``, ``description``, ``defaults`` (their own training defaults, where
    the pixel ones do not fit them) and ``stream_unit`` (``"frame"``: a window is one
    frame and the timeline is per frame; ``"clip"``: a window is ``frames`` sampled frames) and
    implement ``encode_frames`` / ``classify_encoded`` (and ``options`` for their own settings).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    stream_unit: ClassVar[Literal["frame", "clip"]] = "clip"
    # what VideoClassifier uses when the user gives no value: any of "frames", "size", "lr"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, spec: ClipSpec, num_classes: int, *, pretrained: bool = True, weights: str | None = None,
        network: Network | None = None,
    ) -> None:
        """``network``: a trunk the subclass built itself (a video network, an inflated or a
        from-scratch one); by default the 2D backbone of ``spec`` (:func:`backbone_network`)."""
        super().__init__()
        if not (isinstance(num_classes, int) and num_classes >= 1):
            raise ConfigError(f"clip model {self.name!r}: num_classes must be an integer >= 1 (1: one output, a "
                              f"regression value), got {num_classes!r}")
        self.spec = spec
        self.num_classes = num_classes
        network = network or backbone_network(spec, pretrained=pretrained, weights=weights)
        self.weights_id = network.weights_id
        self.backbone = network.module
        self.feature_dim = network.feature_dim
        preprocess = network.preprocess
        mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
        std = torch.tensor(preprocess.std).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("shift", -mean / std, persistent=False)
        self.interpolation = preprocess.interpolation
        self._frozen = _freeze(self.backbone, spec.freeze_stages)

    # --- what subclasses provide ---------------------------------------------------------

    def encode_frames(self, frames: Tensor) -> Tensor:
        """uint8 frames ``(N, C, H, W)`` -> what a window is made of, ``(N, ...)``."""
        raise NotImplementedError

    def classify_encoded(self, encoded: Tensor) -> Tensor:
        """Encoded frames ``(B, T, ...)`` of B windows -> logits ``(B, classes)``."""
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The model's own settings beyond :class:`ClipSpec`, JSON-able."""
        return {}

    # --- shared behaviour ---------------------------------------------------------------

    def forward(self, clips: Tensor) -> Tensor:
        """uint8 clips ``(B, T, C, H, W)`` -> logits ``(B, classes)``."""
        b, t = _check_clips(clips, self.name)
        encoded = self.encode_frames(clips.flatten(0, 1))
        return self.classify_encoded(encoded.unflatten(0, (b, t)))

    def training_logits(self, clips: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(logits, targets) the training loss compares; a clip's by default."""
        return self(clips), labels

    def normalize(self, frames: Tensor) -> Tensor:
        """uint8 ``(N, C, H, W)`` -> float, scaled and shifted per channel."""
        return torch.addcmul(self.shift, frames.to(self.scale.device, non_blocking=True), self.scale)

    def backbone_features(self, frames: Tensor) -> Tensor:
        """uint8 ``(N, C, H, W)`` -> pooled backbone features ``(N, feature_dim)``."""
        return self.backbone(self.normalize(frames))

    def hparams(self) -> dict[str, Any]:
        """JSON-able description that :func:`clip_model_from_config` rebuilds this model from."""
        return {"name": self.name, "num_classes": self.num_classes, **asdict(self.spec), **self.options()}

    def parameter_groups(self, lr: float, backbone_lr: float) -> list[dict[str, Any]]:
        """Optimizer groups: the trainable backbone parameters at ``backbone_lr``, the rest at ``lr``."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        ids = {id(p) for p in self.backbone.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        groups = [{"params": rest, "lr": lr, "name": "head"}]
        if backbone and backbone_lr > 0:
            groups.append({"params": backbone, "lr": backbone_lr, "name": "backbone"})
        return groups

    def train(self, mode: bool = True) -> ClipModel:
        """Train mode, except frozen stages (and, with ``bn="frozen"``, every backbone BatchNorm)."""
        super().train(mode)
        if mode:
            for module in self._frozen:
                module.eval()
            if self.spec.bn == "frozen":
                for module in self.backbone.modules():
                    if isinstance(module, _BATCH_NORMS):
                        module.eval()
        return self

    def extra_repr(self) -> str:
        return f"name={self.name!r}, backbone={self.spec.backbone!r}, num_classes={self.num_classes}"


def _check_clips(clips: Tensor, name: str) -> tuple[int, int]:
    if clips.ndim != 5 or clips.shape[2] != 3:
        raise ValueError(f"clip model {name!r}: clips must be (B, T, 3, H, W), got {tuple(clips.shape)}")
    return clips.shape[0], clips.shape[1]


def backbone_stages(backbone: nn.Module) -> list[list[nn.Module]]:
    """The backbone's stages from input to output, each the modules holding its parameters.

    timm models say their own stages (``group_matcher``: stem, then each block); for others
    (torchvision) every top-level child with parameters is a stage.
    """
    if hasattr(backbone, "group_matcher"):
        from timm.models import group_modules

        grouped = group_modules(backbone, backbone.group_matcher(coarse=True))
        modules = dict(backbone.named_modules())
        return [[modules[name] for name in names if name in modules] for _, names in sorted(grouped.items())]
    return [[child] for child in backbone.children() if any(True for _ in child.parameters())]


def _freeze(backbone: nn.Module, stages: int) -> list[nn.Module]:
    """Stop gradients in the first ``stages`` stages (-1: all); the modules frozen."""
    if stages == 0:
        return []
    found = backbone_stages(backbone)
    if stages != FREEZE_ALL and stages > len(found):
        raise ConfigError(f"freeze_stages={stages}: this backbone has only {len(found)} stages")
    frozen = [module for stage in (found if stages == FREEZE_ALL else found[:stages]) for module in stage]
    if stages == FREEZE_ALL:
        frozen = [backbone]
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return frozen


# --- registry ----------------------------------------------------------------------------

_REGISTRY: dict[str, type[ClipModel]] = {}


def register(cls: type[ClipModel]) -> type[ClipModel]:
    """Class decorator: make ``cls`` buildable by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def list_clip_models() -> list[str]:
    """Names :func:`create_clip_model` accepts, sorted."""
    return sorted(_REGISTRY)


def get_clip_model_class(name: str) -> type[ClipModel]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown clip model {name!r}; allowed: {', '.join(list_clip_models())}")
    return _REGISTRY[name]


def create_clip_model(
    name: str,
    spec: ClipSpec,
    num_classes: int,
    *,
    pretrained: bool = True,
    weights: str | None = None,
    **options: Any,
) -> ClipModel:
    """Build clip model ``name``; ConfigError for unknown names or options."""
    cls = get_clip_model_class(name)
    get_backbone_spec(spec.backbone)  # an unknown backbone fails here, naming the known ones
    try:
        return cls(spec, num_classes, pretrained=pretrained, weights=weights, **options)
    except TypeError as error:
        raise ConfigError(f"clip model {name!r}: {error}") from None


def clip_model_from_config(config: dict[str, Any]) -> ClipModel:
    """Rebuild a clip model (random weights, to be loaded next) from its ``hparams()``."""
    config = dict(config)
    name = config.pop("name", None)
    num_classes = config.pop("num_classes", None)
    spec_fields = {f.name for f in fields(ClipSpec)}
    spec = ClipSpec(**{"motion_rule": UNRECORDED_RULE,  # older bundles: the rule they had
                       **{k: v for k, v in config.items() if k in spec_fields}})
    options = {k: v for k, v in config.items() if k not in spec_fields}
    if not isinstance(name, str):
        raise ConfigError(f"clip model config needs a name, got {name!r}")
    return create_clip_model(name, spec, num_classes, pretrained=False, **options)
