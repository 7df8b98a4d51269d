"""The exported-graph engine: whether a bundle runs its own exported graphs, and the ONNX Runtime parts
built from them once they are checked to be the ones `vidclass export` wrote for these weights.

:func:`runtime_part` is what a fitted model asks for each of its parts (encoder, head or clip model)
under its ``runtime``; :mod:`vidclass.use.export` writes the graphs this module reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch

from vidclass.errors import BundleError
from vidclass.estimator.bundle import AnyBundle, Bundle
from vidclass.models.runtime import (
    DEFAULT_CHUNK,
    OrtClipModel,
    OrtFrameEncoder,
    OrtHead,
    frame_encoder,
    use_onnxruntime,
)
from vidclass.util.digests import sha256_file

ONNX_DIR = "onnx"
FRAMES = "frames.onnx"
WINDOWS = "windows.onnx"
MANIFEST = "export.json"


def check_export(folder: Path) -> None:
    """Refuse the graphs in ``folder`` (``MODEL/onnx``) unless each is the one ``vidclass export`` wrote and
    the bundle's weights are still those it was exported from (BundleError naming the file, and how to
    re-export)."""
    model_dir = folder.parent
    again = f"rerun `vidclass export {model_dir}`"
    manifest = read_manifest(folder)
    graphs, weights = manifest.get("sha256"), manifest.get("weights_sha256")
    if not graphs or not weights:
        raise BundleError(f"{folder}: an export without the checksums that bind it to this model's weights "
                          f"(written by an older vidclass); {again}")
    for name, expected in graphs.items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != expected:
            raise BundleError(f"{path}: not the graph `vidclass export` wrote for this model (its sha256 differs "
                              f"from the one in {MANIFEST}: replaced or changed since); {again}")
    for name, expected in weights.items():
        path = model_dir / name
        if not path.is_file() or sha256_file(path) != expected:
            raise BundleError(f"{folder}: exported from other weights than {path} holds now (the model was "
                              f"retrained or replaced since the export); {again}")


def target_scale(bundle: AnyBundle) -> tuple[float, float] | None:
    """A regression bundle's target ``(mean, std)`` (value = standardised output * std + mean), else None."""
    training = bundle.training or {}
    if training.get("task") != "regression":
        return None
    return float(training["target_mean"]), float(training["target_std"])


def ort_parts(bundle: AnyBundle, folder: Path, *, chunk: int | None = None) -> dict[str, Any]:
    """ONNX Runtime stand-ins for the parts of ``bundle`` (``encoder`` and ``head``, or ``model``)
    from the graphs in ``folder``, once :func:`check_export` has found them bound to the bundle."""
    check_export(folder)
    return unchecked_ort_parts(bundle, folder, chunk=chunk)


def unchecked_ort_parts(bundle: AnyBundle, folder: Path, *, chunk: int | None = None) -> dict[str, Any]:
    """:func:`ort_parts` without the check: the graphs of an export being written (parity)."""
    if isinstance(bundle, Bundle):
        manifest = read_manifest(folder)
        weights_id = bundle.encoder.weights_id
        if manifest.get("quantize"):  # other features: a cache key of their own
            from vidclass.inputs.features import fingerprint

            weights_id = f"{weights_id}+onnx-{manifest['quantize']}:{fingerprint(folder / FRAMES)[:12]}"
        return {"encoder": OrtFrameEncoder(folder / FRAMES, bundle.encoder.spec, weights_id,
                                           chunk=chunk or DEFAULT_CHUNK),
                "head": OrtHead(folder / WINDOWS, bundle.head.name, bundle.head.num_classes, scale=target_scale(bundle))}
    return {"model": OrtClipModel(folder / FRAMES, folder / WINDOWS, bundle.model,
                                  scale=target_scale(bundle))}


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: not valid JSON ({error}); rerun `vidclass export`") from None


def exported(model_dir: str | Path) -> Path | None:
    """The ``onnx/`` folder of an exported bundle, or None."""
    folder = Path(model_dir) / ONNX_DIR
    complete = all((folder / name).is_file() for name in (FRAMES, WINDOWS, MANIFEST))
    return folder if complete else None

def runtime_part(model: Any, part: Literal["encoder", "head", "model"]) -> Any:
    """What runs ``part`` of a fitted :class:`~vidclass.estimator.classifier.VideoClassifier` under its ``runtime``.

    Under ONNX Runtime: the graphs of an exported bundle (``vidclass export``) for every part; without
    them, the frame encoder exported on demand (:func:`encoder_graph`) and PyTorch for the rest (a
    head or a clip model is exported with its bundle only). Otherwise the PyTorch module itself."""
    torch_part = getattr(model, f"{part}_")
    runtime = getattr(model, "runtime", "torch")
    device = torch_part.scale.device if hasattr(torch_part, "scale") else torch.device("cpu")
    if not use_onnxruntime(runtime, on_gpu=device.type != "cpu"):
        return torch_part
    cached = model.__dict__.setdefault("_runtime_parts", {})
    if part not in cached:
        folder = exported(model.bundle_dir_) if getattr(model, "bundle_dir_", None) is not None else None
        if folder is not None:
            cached.update(ort_parts(model.to_bundle(), folder))
        elif part == "encoder":
            cached[part] = frame_encoder(torch_part, runtime)
        if part not in cached:
            cached[part] = torch_part
    return cached[part]


def runs_exported(directory: str | Path, runtime: str) -> bool:
    """Whether a bundle loaded with ``runtime`` runs its own exported graphs (ONNX Runtime here, and an
    ``onnx/`` folder in the bundle), so its PyTorch encoder may wait until something needs it."""
    return exported(directory) is not None and use_onnxruntime(runtime)  # no ORT check without an export
