"""A trained model as a directory that needs nothing else to predict.

``config.json`` holds the labels, the backbone (name, weights id, preprocessing), the
views (frames, grid, inputs), the head and its hyper-parameters, the clip length the model
was trained on, package versions, a summary of the training data and the metrics.
``backbone.safetensors`` and ``head.safetensors`` hold the weights, and
``training_videos.txt`` the content fingerprints of the videos the model was fitted or
early-stopped on, so an evaluation can leave them out.

Loading validates the config and reads weights with safetensors only: a model directory
from a stranger cannot run code.
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
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vidclass.backbones import FrameEncoder, create_backbone
from vidclass.errors import BundleError, ConfigError
from vidclass.heads import TemporalHead, head_from_config
from vidclass.views import ViewSpec

FORMAT = "vidclass-model"
FORMAT_VERSION = 1
CONFIG = "config.json"
BACKBONE_WEIGHTS = "backbone.safetensors"
HEAD_WEIGHTS = "head.safetensors"
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
class Bundle:
    """Everything a trained model is: what it sees, how it decides, and how it did."""

    labels: list[str]
    encoder: FrameEncoder
    head: TemporalHead
    view: ViewSpec
    clip_seconds: float
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training_videos: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=package_versions)

    def config(self) -> dict[str, Any]:
        spec = self.encoder.spec
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "backbone": {
                "name": spec.name,
                "weights_id": self.encoder.weights_id,
                "dim": spec.dim,
                "preprocess": asdict(spec.preprocess),
            },
            "view": asdict(self.view),
            "clip_seconds": self.clip_seconds,
            "head": self.head.hparams(),
            "training": self.training,
            "metrics": self.metrics,
            "versions": self.versions,
        }


def save_bundle(bundle: Bundle, directory: str | Path) -> Path:
    """Write ``bundle`` to ``directory`` atomically: built beside it, then swapped in."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        (staging / CONFIG).write_text(json.dumps(bundle.config(), indent=2, default=str))
        save_file(_contiguous(bundle.encoder.state_dict()), str(staging / BACKBONE_WEIGHTS))
        save_file(_contiguous(bundle.head.state_dict()), str(staging / HEAD_WEIGHTS))
        (staging / TRAINING_VIDEOS).write_text("".join(f"{v}\n" for v in bundle.training_videos))
        _make_readable(staging)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, directory)
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


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in state.items()}


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
    missing = [k for k in ("labels", "backbone", "view", "head", "clip_seconds") if k not in config]
    if missing:
        raise BundleError(f"{path}: missing {', '.join(missing)}")
    labels = config["labels"]
    if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
        raise BundleError(f"{path}: labels must be a list of at least two class names")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{path}: labels contain duplicates")
    if config["head"].get("num_classes") != len(labels):
        raise BundleError(f"{path}: the head has {config['head'].get('num_classes')} outputs for {len(labels)} labels")
    return config


def load_bundle(directory: str | Path) -> Bundle:
    """Load a model directory without unpickling anything."""
    directory = Path(directory)
    config = read_config(directory)
    try:
        view = ViewSpec(**config["view"])
        head = head_from_config(config["head"])
        encoder = create_backbone(config["backbone"]["name"], pretrained=False)
    except (ConfigError, TypeError) as error:
        raise BundleError(f"{directory / CONFIG}: {error}") from None
    _load_weights(head, directory / HEAD_WEIGHTS)
    _load_weights(encoder, directory / BACKBONE_WEIGHTS)
    encoder.weights_id = config["backbone"]["weights_id"]
    head.eval()
    encoder.eval()
    videos_file = directory / TRAINING_VIDEOS
    return Bundle(
        labels=config["labels"],
        encoder=encoder,
        head=head,
        view=view,
        clip_seconds=float(config["clip_seconds"]),
        training=config.get("training", {}),
        metrics=config.get("metrics", {}),
        training_videos=videos_file.read_text().split() if videos_file.is_file() else [],
        versions=config.get("versions", {}),
    )


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
