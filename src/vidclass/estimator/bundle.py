"""A trained model as a directory that needs nothing else to predict.

``config.json`` holds the labels, the model kind and everything that kind needs, the clip
length the model was trained on, package versions, a summary of the training data and the
metrics:

* ``features`` (frozen frame encoder + temporal head): the backbone (name, weights id,
  preprocessing), the views (frames, grid, inputs) and the head; weights in
  ``backbone.safetensors`` and ``head.safetensors``;
* a clip model trained on pixels (``frame``, ``lrcn``, ...: :mod:`vidclass.models.clip_models`): its
  ``hparams()``; weights in ``model.safetensors``.

``training_videos.txt`` holds the content fingerprints of the videos the model was fitted
or early-stopped on, so an evaluation can leave them out.

Loading validates the config against a schema (each wrong field is named with the type it
needs and the value found) and reads weights with safetensors only: a model directory from a
stranger cannot run code. Format 1 (features only, no ``model`` entry) still loads.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vidclass.errors import BundleError, ConfigError
from vidclass.inputs.views import ViewSpec
from vidclass.media.motion import UNRECORDED_RULE
from vidclass.models.backbones import BackboneSpec, FrameEncoder, Preprocess, create_backbone
from vidclass.models.clip_models import ClipModel, clip_model_from_config
from vidclass.models.heads import TemporalHead, head_from_config
from vidclass.models.runtime import DeferredEncoder, saved_state
from vidclass.util.atomic import replace_directory

FORMAT = "vidclass-model"
FORMAT_VERSION = 2
FEATURES = "features"
CONFIG = "config.json"
BACKBONE_WEIGHTS = "backbone.safetensors"
HEAD_WEIGHTS = "head.safetensors"
MODEL_WEIGHTS = "model.safetensors"
TRAINING_VIDEOS = "training_videos.txt"


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on, for the record."""
    versions = {"python": platform.python_version()}
    for name in ("vidclass", "torch", "torchvision", "timm", "av", "numpy", "lightning", "scikit-learn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class _Trained:
    """What every bundle records besides its model: labels, calibration, how training went and on what."""

    labels: list[str]
    training: dict[str, Any] = field(default_factory=dict, kw_only=True)
    metrics: dict[str, Any] = field(default_factory=dict, kw_only=True)
    training_videos: list[str] = field(default_factory=list, kw_only=True)
    versions: dict[str, str] = field(default_factory=package_versions, kw_only=True)
    temperature: float = field(default=1.0, kw_only=True)  # temperature scaling (vidclass.evaluation.calibration)


@dataclass
class Bundle(_Trained):
    """A frozen-feature model: what it sees (encoder, views), how it decides (head), how it did."""

    encoder: FrameEncoder
    head: TemporalHead
    view: ViewSpec
    clip_seconds: float

    kind = FEATURES

    def config(self) -> dict[str, Any]:
        spec = self.encoder.spec
        return {
            **_header(self.kind, self.labels, self.clip_seconds),
            "backbone": {
                "name": spec.name,
                "weights_id": self.encoder.weights_id,
                "dim": spec.dim,
                "preprocess": asdict(spec.preprocess),
            },
            "view": asdict(self.view),
            "head": self.head.hparams(),
            "temperature": self.temperature,
            "training": self.training,
            "metrics": self.metrics,
            "versions": self.versions,
        }

    def weight_files(self) -> dict[str, torch.nn.Module]:
        return {BACKBONE_WEIGHTS: self.encoder, HEAD_WEIGHTS: self.head}


@dataclass
class ClipBundle(_Trained):
    """A model trained on pixels (:class:`vidclass.models.clip_models.ClipModel`) and how it did."""

    model: ClipModel
    clip_seconds: float

    @property
    def kind(self) -> str:
        return self.model.name

    def config(self) -> dict[str, Any]:
        header = _header(self.kind, self.labels, self.clip_seconds)
        header["model"].update(config=self.model.hparams(), weights_id=self.model.weights_id)
        return {**header, "temperature": self.temperature, "training": self.training, "metrics": self.metrics,
                "versions": self.versions}

    def weight_files(self) -> dict[str, torch.nn.Module]:
        return {MODEL_WEIGHTS: self.model}


AnyBundle = Bundle | ClipBundle


def _header(kind: str, labels: list[str], clip_seconds: float) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": {"kind": kind}, "labels": list(labels),
            "clip_seconds": clip_seconds}


def save_bundle(bundle: AnyBundle, directory: str | Path) -> Path:
    """Write ``bundle`` to ``directory`` atomically: built beside it, then swapped in."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: cannot write a model directory there, it is a file")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        (staging / CONFIG).write_text(json.dumps(bundle.config(), indent=2, default=str))
        for name, module in bundle.weight_files().items():
            if isinstance(module, DeferredEncoder) and not module.built and module.weights_file is not None:
                shutil.copyfile(module.weights_file, staging / name)  # its state dict, as saved: no need to build it
            else:
                save_file(saved_state(module), str(staging / name))
        (staging / TRAINING_VIDEOS).write_text("".join(f"{v}\n" for v in bundle.training_videos))
        _make_readable(staging)
        replace_directory(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _make_readable(directory: Path) -> None:
    """Give the bundle the permissions of a normally created folder (mkdtemp makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


# --- the config schema --------------------------------------------------------------------


class _Strict(BaseModel):
    """JSON types as they are (``"2"`` is not an integer); unknown fields kept for later versions."""

    model_config = ConfigDict(strict=True, extra="allow")


class _Preprocess(_Strict):
    resize: int
    crop: int
    interpolation: str
    mean: list[float]
    std: list[float]


class _Backbone(_Strict):
    name: str
    weights_id: str
    dim: int
    preprocess: _Preprocess


class _View(_Strict):
    frames: int
    grid: int
    inputs: str = "appearance+motion"


class _Head(_Strict):
    name: str
    in_dim: int
    num_classes: int


class _ClipConfig(_Strict):
    name: str
    num_classes: int


class _Model(_Strict):
    kind: str = FEATURES
    config: _ClipConfig | None = None
    weights_id: str | None = None


class _Config(_Strict):
    format: str
    format_version: int
    labels: list[str]
    clip_seconds: float
    model: _Model = _Model()
    backbone: _Backbone | None = None
    view: _View | None = None
    head: _Head | None = None
    temperature: float = 1.0
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    versions: dict[str, str] = {}


def _schema_problem(error: ValidationError) -> str:
    """The first problem of a validation error as ``field.sub: what it must be, got value``."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "config"
    if first["type"] == "missing":
        return f"missing {where}"
    return f"{where}: {first['msg'][0].lower()}{first['msg'][1:]}, got {first['input']!r}"


def read_config(directory: str | Path) -> dict[str, Any]:
    """The validated ``config.json`` of a model directory; BundleError says what is wrong."""
    directory = Path(directory)
    path = directory / CONFIG
    if not directory.is_dir():
        raise BundleError(f"{directory}: not a model directory (train one with `vidclass train`)")
    if not path.is_file():
        raise BundleError(f"{path}: missing; {directory} is not a vidclass model directory")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise BundleError(f"{path}: not a vidclass model config (format is not {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: model format {version} is newer than this vidclass understands ({FORMAT_VERSION}); "
            "upgrade vidclass to load it"
        )
    try:
        checked = _Config.model_validate(config)
    except ValidationError as error:
        raise BundleError(f"{path}: {_schema_problem(error)}") from None
    if not 0 < checked.temperature < float("inf"):
        raise BundleError(f"{path}: temperature must be a positive number, got {checked.temperature!r}")
    labels = checked.labels
    if len(labels) < (1 if checked.training.get("task") == "regression" else 2):  # regression: one output
        raise BundleError(f"{path}: labels must be a list of at least two class names")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{path}: labels contain duplicates")
    kind = checked.model.kind
    if kind == FEATURES:
        missing = [name for name in ("backbone", "view", "head") if getattr(checked, name) is None]
        if missing:
            raise BundleError(f"{path}: missing {', '.join(missing)} (a features model needs them)")
        outputs = checked.head.num_classes  # type: ignore[union-attr]
    else:
        if checked.model.config is None:
            raise BundleError(f"{path}: missing model.config (a {kind!r} model needs it)")
        if checked.model.config.name != kind:
            raise BundleError(f"{path}: model.kind is {kind!r} but model.config.name is {checked.model.config.name!r}")
        outputs = checked.model.config.num_classes
    if outputs != len(labels):
        raise BundleError(f"{path}: the model has {outputs} outputs for {len(labels)} labels")
    return config


def load_bundle(directory: str | Path, *, defer_encoder: bool = False) -> AnyBundle:
    """Load a model directory without unpickling anything. ``defer_encoder``: a frozen-feature model's
    encoder is built from its weights file only when first used (:class:`vidclass.models.runtime.DeferredEncoder`),
    for a bundle that runs ONNX graphs (its exported ones, or its encoder's cached graph)."""
    directory = Path(directory)
    config = read_config(directory)
    kind = config.get("model", {}).get("kind", FEATURES)
    videos_file = directory / TRAINING_VIDEOS
    common = dict(
        labels=config["labels"],
        clip_seconds=float(config["clip_seconds"]),
        training=config.get("training", {}),
        metrics=config.get("metrics", {}),
        training_videos=videos_file.read_text().split() if videos_file.is_file() else [],
        versions=config.get("versions", {}),
        temperature=float(config.get("temperature", 1.0)),  # bundles before calibration: unscaled
    )
    try:
        if kind != FEATURES:
            model = clip_model_from_config(config["model"]["config"])
            _load_weights(model, directory / MODEL_WEIGHTS)
            model.weights_id = config["model"].get("weights_id") or "unknown"
            return ClipBundle(model=model.eval(), **common)
        view = ViewSpec(**{"motion_rule": UNRECORDED_RULE, **config["view"]})  # older bundles: the rule they had
        head = head_from_config(config["head"])
        if defer_encoder:
            encoder = DeferredEncoder(_recorded_spec(config["backbone"]), config["backbone"]["weights_id"],
                                      lambda: _encoder(directory, config), weights_file=directory / BACKBONE_WEIGHTS)
        else:
            encoder = _encoder(directory, config)
    except (ConfigError, TypeError) as error:
        raise BundleError(f"{directory / CONFIG}: {error}") from None
    _load_weights(head, directory / HEAD_WEIGHTS)
    return Bundle(encoder=encoder, head=head.eval(), view=view, **common)


def _encoder(directory: Path, config: dict[str, Any]) -> FrameEncoder:
    """A features bundle's encoder with its weights."""
    encoder = create_backbone(config["backbone"]["name"], pretrained=False,
                              size=int(config["backbone"]["preprocess"]["crop"]))
    _load_weights(encoder, directory / BACKBONE_WEIGHTS)
    encoder.weights_id = config["backbone"]["weights_id"]
    return encoder.eval()


def _recorded_spec(backbone: dict[str, Any]) -> BackboneSpec:
    """The backbone's spec as config.json records it (no timm needed to read it)."""
    return BackboneSpec(name=backbone["name"], dim=int(backbone["dim"]), preprocess=Preprocess(**backbone["preprocess"]),
                        weights_source="as recorded in the bundle", license="see the backbone's own")


def _load_weights(module: torch.nn.Module, path: Path) -> None:
    if not path.is_file():
        raise BundleError(f"{path}: missing weights file")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise BundleError(f"{path}: not a readable safetensors file ({error})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise BundleError(f"{path}: weights do not fit the model in config.json ({first})") from None


def bundle_task(directory: str | Path) -> str:
    """``regression`` or ``classification``, as the bundle in ``directory`` records it."""
    try:
        training = json.loads((Path(directory) / "config.json").read_text()).get("training") or {}
    except (OSError, ValueError, AttributeError):
        return "classification"  # the classifier's loader names what is wrong with the folder
    return "regression" if training.get("task") == "regression" else "classification"


def bundle_kind(directory: str | Path) -> str:
    """The model kind config.json records (``features`` when it records none)."""
    try:
        return json.loads((Path(directory) / "config.json").read_text()).get("model", {}).get("kind", "features")
    except (OSError, ValueError, AttributeError):
        return "features"
