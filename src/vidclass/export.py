"""``vidclass export``: a bundle's model as ONNX graphs, written into the bundle itself.

Every model kind is cut where the streaming protocol (:mod:`vidclass.stream`) cuts it, so a
timeline encodes each sampled frame once whatever the engine:

* ``onnx/frames.onnx``: the per-frame stage. A frozen-feature model's encoder (uint8 frames
  N x H x W x 3 -> features, normalisation inside), or a clip model's ``encode_frames``
  (uint8 N x 3 x H x W -> what a window is made of);
* ``onnx/windows.onnx``: windows of encoded frames -> logits. A temporal head (``x`` B x T x
  D, ``mask`` B x T, both axes dynamic), or a clip model's ``classify_encoded`` (B dynamic; T too
  for ``frame`` and ``lrcn``, the others fixed at the frames per clip they were trained on);
* ``onnx/export.json``: opset, quantisation, the graphs' inputs, and the parity measured at
  export (max |ONNX Runtime - PyTorch| of the probabilities on probe frames).

Together the two graphs are the whole model; the bundle's ``config.json`` stays the model's
description (labels, preprocessing, sampling), so an exported bundle is used like any other,
on ONNX Runtime by default on a CPU (:mod:`vidclass.runtime`).

What does not export: the ``transformer`` head (the TorchScript-based exporter bakes
``nn.MultiheadAttention``'s batch size into its reshapes, and ``torch.export`` stops at the
heads' data-dependent checks); pose inputs (the pose estimator runs on LiteRT, outside the graph).
``--quantize int8`` quantises the frames graph statically (QDQ, per channel) from the frames of
calibration videos.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidclass.bundle import FEATURES, AnyBundle, Bundle, load_bundle
from vidclass.errors import BundleError, ConfigError, VidclassError
from vidclass.runtime import OPSET, OrtClipModel, OrtFrameEncoder, OrtHead, probe_frames, session, torch_export

ONNX_DIR = "onnx"
FRAMES = "frames.onnx"
WINDOWS = "windows.onnx"
MANIFEST = "export.json"
QUANTIZE = ("int8",)
PROBE_WINDOWS = 2
PROBABILITY_TOLERANCE = 1e-4  # fp32: largest |ORT - torch| probability allowed at export
ANY_LENGTH = ("frame", "lrcn")  # clip models whose windows may have any number of frames (the others: as trained)
UNEXPORTABLE_HEADS = {"transformer": "the TorchScript-based exporter bakes nn.MultiheadAttention's batch size "
                                     "into its reshapes, and torch.export stops at the heads' data-dependent checks"}


@dataclass
class ExportResult:
    """What ``export_bundle`` wrote and how close the graphs came to PyTorch."""

    directory: Path
    kind: str
    opset: int
    quantize: str | None
    graphs: dict[str, str]
    parity: dict[str, float] = field(default_factory=dict)  # max abs probability / feature differences

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "directory": str(self.directory)}


def exportable(bundle: AnyBundle) -> str | None:
    """Why ``bundle`` cannot be exported, or None when it can."""
    if isinstance(bundle, Bundle):
        if bundle.head.name in UNEXPORTABLE_HEADS:
            return f"head {bundle.head.name!r}: {UNEXPORTABLE_HEADS[bundle.head.name]}"
        if bundle.view.pose:
            return "pose inputs: the pose estimator runs on LiteRT, outside any ONNX graph"
        return None
    head = bundle.model.options().get("head", {}).get("name")
    if head in UNEXPORTABLE_HEADS:
        return f"lrcn head {head!r}: {UNEXPORTABLE_HEADS[head]}"
    return None


def export_bundle(model_dir: str | Path, *, opset: int = OPSET, quantize: str | None = None,
                  calibration: list[Path] | None = None) -> ExportResult:
    """Write ``MODEL/onnx/`` (see the module docstring), replacing an earlier export atomically."""
    model_dir = Path(model_dir)
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}")
    if quantize and not calibration:
        raise ConfigError("--quantize int8 needs calibration videos (--calibration VIDEO, a few of the kind the "
                          "model will see): static quantisation scales each activation from real frames")
    bundle = load_bundle(model_dir)
    reason = exportable(bundle)
    if reason is not None:
        raise BundleError(f"{model_dir}: cannot export to ONNX: {reason}")
    staging = model_dir / f".{ONNX_DIR}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        result = _write_graphs(bundle, staging, opset)
        if quantize:
            _quantize(staging / FRAMES, bundle, calibration or [])
            result.quantize = quantize
        result.parity = _parity(bundle, staging, quantized=bool(quantize))
        if not quantize and result.parity["probabilities"] > PROBABILITY_TOLERANCE:
            raise VidclassError(f"{model_dir}: the ONNX graphs' probabilities differ from PyTorch's by "
                                f"{result.parity['probabilities']:.1e} (allowed {PROBABILITY_TOLERANCE:.0e})")
        result.directory = model_dir / ONNX_DIR
        (staging / MANIFEST).write_text(json.dumps(result.to_dict(), indent=2))
        final = model_dir / ONNX_DIR
        old = model_dir / f".{ONNX_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _probe_windows(bundle: AnyBundle) -> tuple[np.ndarray, int]:
    """Probe frames for a bundle's export and parity check, and the frames per window."""
    if isinstance(bundle, Bundle):
        frames = bundle.view.frames
        return probe_frames(PROBE_WINDOWS * frames, bundle.encoder.spec.preprocess.crop), frames
    spec = bundle.model.spec
    return probe_frames(PROBE_WINDOWS * spec.frames, spec.size).transpose(0, 3, 1, 2).copy(), spec.frames


def _write_graphs(bundle: AnyBundle, folder: Path, opset: int) -> ExportResult:
    probe, per_window = _probe_windows(bundle)
    if isinstance(bundle, Bundle):
        from vidclass.runtime import export_encoder

        export_encoder(bundle.encoder, folder / FRAMES, opset=opset, check=False)  # _parity checks the model
        x, mask = _head_inputs(bundle, probe, per_window)
        torch_export(bundle.head.eval(), (x, mask), folder / WINDOWS, ["x", "mask"], ["logits"],
                     {"x": {0: "windows", 1: "steps"}, "mask": {0: "windows", 1: "steps"}, "logits": {0: "windows"}},
                     opset=opset)
        graphs = {"frames": "uint8 frames (N, H, W, 3) -> features (N, D)",
                  "windows": "x (B, T, D_in) float32, mask (B, T) bool -> logits (B, C)"}
        return ExportResult(folder, FEATURES, opset, None, graphs)
    model = bundle.model.eval()
    frames = torch.from_numpy(probe)
    torch_export(_Method(model, "encode_frames"), (frames,), folder / FRAMES, ["frames"], ["encoded"],
                 {"frames": {0: "frames"}, "encoded": {0: "frames"}}, opset=opset)
    with torch.inference_mode():
        encoded = model.encode_frames(frames)
    windows = encoded.unflatten(0, (PROBE_WINDOWS, per_window)).clone()
    steps = bundle.kind in ANY_LENGTH
    torch_export(_Method(model, "classify_encoded"), (windows,), folder / WINDOWS, ["encoded"], ["logits"],
                 {"encoded": {0: "windows", **({1: "steps"} if steps else {})}, "logits": {0: "windows"}}, opset=opset)
    graphs = {"frames": "uint8 frames (N, 3, H, W) -> encoded (N, ...)",
              "windows": f"encoded (B, {'T' if steps else per_window}, ...) -> logits (B, C)"}
    return ExportResult(folder, bundle.kind, opset, None, graphs)


class _Method(torch.nn.Module):
    """One method of a module as its ``forward``, for the exporter."""

    def __init__(self, module: torch.nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.module, self.method)(x)


def _head_inputs(bundle: Bundle, probe: np.ndarray, per_window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A frozen-feature model's head inputs for the probe windows, as the streaming protocol builds them."""
    from vidclass.views import head_steps, model_inputs

    with torch.inference_mode():
        features = bundle.encoder(torch.from_numpy(probe)).float().numpy()
    view = bundle.view
    if view.rgbdiff:  # the protocol's per-frame vector: appearance ++ RGB-difference features
        features = np.concatenate([features, features[::-1]], axis=1)
    dim = bundle.encoder.spec.dim
    windows = features.reshape(PROBE_WINDOWS, per_window, -1)
    masks = np.stack([head_steps(view, np.ones(per_window, bool), None) for _ in windows])
    x = np.stack([model_inputs(w[:, :dim], m, view, w[:, dim:] if view.rgbdiff else None, None)
                  for w, m in zip(windows, masks)])
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(masks)


def _parity(bundle: AnyBundle, folder: Path, *, quantized: bool) -> dict[str, float]:
    """Max |ORT - torch| of the features (or encoded frames) and of the probabilities on probe windows."""
    probe, per_window = _probe_windows(bundle)
    ort_model = ort_parts(bundle, folder)
    with torch.inference_mode():
        if isinstance(bundle, Bundle):
            ref_features = bundle.encoder(torch.from_numpy(probe)).float()
            got_features = ort_model["encoder"](torch.from_numpy(probe))
            x, mask = _head_inputs(bundle, probe, per_window)
            ref = torch.softmax(bundle.head(x, mask), dim=1)
            got = torch.softmax(ort_model["head"](x, mask), dim=1)  # same inputs: the head graph alone
        else:
            clips = torch.from_numpy(probe).unflatten(0, (PROBE_WINDOWS, per_window))
            ref_features = bundle.model.encode_frames(torch.from_numpy(probe)).float()
            got_features = ort_model["model"].encode_frames(torch.from_numpy(probe))
            ref = torch.softmax(bundle.model(clips).float(), dim=1)
            got = torch.softmax(ort_model["model"](clips), dim=1)
    return {"features": float((got_features - ref_features).abs().max()),
            "probabilities": float((got - ref).abs().max()), "quantized": float(quantized)}


def ort_parts(bundle: AnyBundle, folder: Path, *, chunk: int | None = None) -> dict[str, Any]:
    """ONNX Runtime stand-ins for the parts of ``bundle`` (``encoder`` and ``head``, or ``model``)
    from the graphs in ``folder``."""
    from vidclass.runtime import DEFAULT_CHUNK

    if isinstance(bundle, Bundle):
        manifest = _read_manifest(folder)
        weights_id = bundle.encoder.weights_id
        if manifest.get("quantize"):  # other features: a cache key of their own
            from vidclass.features import fingerprint

            weights_id = f"{weights_id}+onnx-{manifest['quantize']}:{fingerprint(folder / FRAMES)[:12]}"
        return {"encoder": OrtFrameEncoder(folder / FRAMES, bundle.encoder.spec, weights_id,
                                           chunk=chunk or DEFAULT_CHUNK),
                "head": OrtHead(folder / WINDOWS, bundle.head.name, bundle.head.num_classes)}
    return {"model": OrtClipModel(folder / FRAMES, folder / WINDOWS, bundle.model)}


def _read_manifest(folder: Path) -> dict[str, Any]:
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


def _quantize(path: Path, bundle: AnyBundle, videos: list[Path]) -> None:
    """Quantise the frames graph in place: int8 weights per channel, uint8 activations, QDQ, calibrated
    on frames sampled from ``videos`` with the model's own preprocessing."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from vidclass import sampling, video

    if isinstance(bundle, Bundle):
        pre = bundle.encoder.spec.preprocess
        resize, crop, interpolation, nchw = pre.resize, pre.crop, pre.interpolation, False
    else:
        from vidclass.pixels import store_size

        spec = bundle.model.spec
        resize, crop, interpolation, nchw = store_size(spec.size), spec.size, bundle.model.interpolation, True
    batches = []
    for path_ in videos:
        info = video.probe(path_)
        frames = video.read_frames(path_, sampling.uniform(info.num_frames, 8).indices, size=resize, crop=crop,
                                   interpolation=interpolation, info=info)
        batches += [f[None].transpose(0, 3, 1, 2).copy() if nchw else f[None] for f in frames]
    name = session(path).get_inputs()[0].name

    class _Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            frame = next(self.items, None)
            return None if frame is None else {name: frame}

    quantized = path.with_name(f"{path.stem}.int8.onnx")
    quantize_static(str(path), str(quantized), _Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    os.replace(quantized, path)
