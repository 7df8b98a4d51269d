"""``vidclass export``: a bundle's model as ONNX graphs, written into the bundle itself.

Every model kind is cut where the streaming protocol (:mod:`vidclass.estimator.stream`) cuts it, so a
timeline encodes each sampled frame once whatever the engine:

* ``onnx/frames.onnx``: the per-frame stage. A frozen-feature model's encoder (uint8 frames
  N x H x W x 3 -> features, normalisation inside), or a clip model's ``encode_frames``
  (uint8 N x 3 x H x W -> what a window is made of);
* ``onnx/windows.onnx``: windows of encoded frames -> logits. A temporal head (``x`` B x T x
  D, ``mask`` B x T, both axes dynamic), or a clip model's ``classify_encoded`` (B dynamic; T too
  for ``frame`` and ``lrcn``, the others fixed at the frames per clip they were trained on);
* ``onnx/export.json``: opset, quantisation, the graphs' inputs, the parity measured at
  export (max |ONNX Runtime - PyTorch| of the probabilities on probe frames), and what binds the
  graphs to the bundle: the sha256 of each graph and of each of the bundle's weights files. The
  graphs are used only while all of them match (:func:`vidclass.estimator.engine.check_export`): a graph copied in from
  another model, or an export left behind by a retrain, is refused with the command that re-exports.

A regression bundle (``training.task: regression``, :mod:`vidclass.estimator.regressor`), of either seam,
exports the same two graphs; its windows graph gives the value itself (``value``, B x 1: the head's or clip
model's standardised output times the target's std plus its mean, baked in), and parity is measured on
values (``parity.values``: the difference in units of the target's std, relative to the standardised value
where that is above 1; allowed 1e-4).

Together the two graphs are the whole model; the bundle's ``config.json`` stays the model's
description (labels, preprocessing, sampling), so an exported bundle is used like any other,
on ONNX Runtime by default on a CPU (:mod:`vidclass.models.runtime`).

What does not export: the ``transformer`` head (the TorchScript-based exporter bakes
``nn.MultiheadAttention``'s batch size into its reshapes, and ``torch.export`` stops at the
heads' data-dependent checks); pose inputs (the pose estimator runs on LiteRT, outside the graph).
``--quantize int8`` quantises the frames graph statically (QDQ, per channel) from the frames of
calibration videos.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidclass.errors import BundleError, ConfigError, VidclassError
from vidclass.estimator.bundle import FEATURES, AnyBundle, Bundle, load_bundle
from vidclass.estimator.engine import FRAMES, MANIFEST, ONNX_DIR, WINDOWS, target_scale, unchecked_ort_parts
from vidclass.models.runtime import OPSET, import_onnxruntime, probe_frames, session, torch_export
from vidclass.util.atomic import replace_directory
from vidclass.util.digests import sha256_file

FORMATS = ("onnx", "torchscript")
TORCHSCRIPT_DIR = "torchscript"
TS_FRAMES = "frames.pt"
TS_WINDOWS = "windows.pt"
QUANTIZE = ("int8",)
PROBE_WINDOWS = 2
PARITY_TOLERANCE = 1e-4  # fp32: largest |ORT - torch| probability (or relative value, _difference) allowed
HEAD_INPUTS = "x (B, T, D_in) float32, mask (B, T) bool"  # what a temporal head's windows graph takes
ANY_LENGTH = ("frame", "lrcn")  # clip models whose windows may have any number of frames (the others: as trained)
UNEXPORTABLE_HEADS = {"transformer": "the TorchScript-based exporter bakes nn.MultiheadAttention's batch size "
                                     "into its reshapes, and torch.export stops at the heads' data-dependent checks"}
UNTRACEABLE_HEADS = {"transformer": "torch.jit.trace bakes nn.MultiheadAttention's batch size into the trace (other "
                                    "batches fail or differ by 0.3), and torch.export stops at the heads' "
                                    "data-dependent checks"}


@dataclass
class ExportResult:
    """What ``export_bundle`` wrote and how close the graphs came to PyTorch."""

    directory: Path
    kind: str
    opset: int
    quantize: str | None
    graphs: dict[str, str]
    parity: dict[str, float] = field(default_factory=dict)  # max abs probability / feature differences
    sha256: dict[str, str] = field(default_factory=dict)  # each graph file's, by name
    weights_sha256: dict[str, str] = field(default_factory=dict)  # each of the bundle's weights files', by name

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "directory": str(self.directory)}


def exportable(bundle: AnyBundle, graph_format: str = "onnx") -> str | None:
    """Why ``bundle`` cannot be exported to ``graph_format``, or None when it can."""
    reasons = UNEXPORTABLE_HEADS if graph_format == "onnx" else UNTRACEABLE_HEADS
    if isinstance(bundle, Bundle):
        if bundle.head.name in reasons:
            return f"head {bundle.head.name!r}: {reasons[bundle.head.name]}"
        if bundle.view.pose:
            return "pose inputs: the pose estimator runs on LiteRT, outside any graph"
        return None
    head = bundle.model.options().get("head", {}).get("name")
    if head in reasons:
        return f"lrcn head {head!r}: {reasons[head]}"
    return None


def export_bundle(model_dir: str | Path, *, graph_format: str = "onnx", opset: int = OPSET, quantize: str | None = None,
                  calibration: list[Path] | None = None) -> ExportResult:
    """Write ``MODEL/onnx/`` (see the module docstring), or ``MODEL/torchscript/`` with ``graph_format``
    ``torchscript`` (:func:`export_torchscript`), replacing an earlier export atomically."""
    model_dir = Path(model_dir)
    if graph_format not in FORMATS:
        raise ConfigError(f"--format must be onnx or torchscript, got {graph_format!r}")
    if graph_format == "torchscript":
        if quantize is not None:
            raise ConfigError("--quantize applies to ONNX graphs; leave it out with --format torchscript")
        return export_torchscript(model_dir)
    if quantize is not None and quantize not in QUANTIZE:
        raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}")
    if quantize and not calibration:
        raise ConfigError("--quantize int8 needs calibration videos (--calibration VIDEO, a few of the kind the "
                          "model will see): static quantisation scales each activation from real frames")
    bundle = load_bundle(model_dir)
    reason = exportable(bundle)
    if reason is not None:
        raise BundleError(f"{model_dir}: cannot export to ONNX: {reason}")
    with _staging(model_dir, ONNX_DIR) as staging:
        result = _write_graphs(bundle, staging, opset)
        if quantize:
            _quantize(staging / FRAMES, bundle, calibration or [])
            result.quantize = quantize
        result.parity = _parity(bundle, staging, quantized=bool(quantize))
        what = _compared(bundle)
        if not quantize and result.parity[what] > PARITY_TOLERANCE:
            raise VidclassError(f"{model_dir}: the ONNX graphs' {what} differ from PyTorch's by "
                                f"{result.parity[what]:.1e} (allowed {PARITY_TOLERANCE:.1e})")
        _publish(result, staging, model_dir / ONNX_DIR, bundle)
    return result


@contextlib.contextmanager
def _staging(model_dir: Path, name: str) -> Iterator[Path]:
    """A fresh ``MODEL/.NAME.PID.partial`` directory to build an export in, removed whatever happens
    (:func:`_publish` moves a finished one into place first)."""
    staging = model_dir / f".{name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(result: ExportResult, staging: Path, final: Path, bundle: AnyBundle) -> None:
    """Write the manifest, with the checksums that bind the graphs to the bundle, into ``staging`` and
    put it in place of ``final`` (an earlier export) atomically."""
    result.directory = final
    result.sha256 = {path.name: sha256_file(path) for path in sorted(staging.iterdir()) if path.is_file()}
    result.weights_sha256 = {name: sha256_file(final.parent / name) for name in sorted(bundle.weight_files())}
    (staging / MANIFEST).write_text(json.dumps(result.to_dict(), indent=2))
    replace_directory(staging, final)


def export_torchscript(model_dir: str | Path) -> ExportResult:
    """Write ``MODEL/torchscript/{frames,windows}.pt`` + ``export.json``: the same two stages as the ONNX
    graphs, traced with ``torch.jit.trace``. ``torch.jit.load`` runs them without vidclass installed (an
    archive holds TorchScript code and tensors, no Python pickles). Fails unless their probabilities match
    PyTorch's within 1e-4 on probe windows of another batch size (and, where the model allows, length) than
    the traced ones, so a trace that baked a shape in is refused.

    ``torch.export`` (``.pt2``) is not used: it stops at the heads' data-dependent checks, like the ONNX
    dynamo exporter. Refused: the transformer head (the trace bakes ``nn.MultiheadAttention``'s batch size
    in) and pose inputs (the pose estimator runs outside any graph)."""
    model_dir = Path(model_dir)
    bundle = load_bundle(model_dir)
    reason = exportable(bundle, "torchscript")
    if reason is not None:
        raise BundleError(f"{model_dir}: cannot export to TorchScript: {reason}")
    with _staging(model_dir, TORCHSCRIPT_DIR) as staging:
        frames, windows, graphs = _stages(bundle)
        probe, per_window = _probe_windows(bundle)
        for module, inputs, name in ((frames, (torch.from_numpy(probe),), TS_FRAMES),
                                     (windows, _window_inputs(bundle, probe, per_window), TS_WINDOWS)):
            _trace(module, inputs, staging / name)
        result = ExportResult(staging, bundle.kind, 0, None, graphs, _torchscript_parity(bundle, staging))
        what = _compared(bundle)
        if result.parity[what] > PARITY_TOLERANCE:
            raise VidclassError(f"{model_dir}: the TorchScript modules' {what} differ from PyTorch's by "
                                f"{result.parity[what]:.1e} (allowed {PARITY_TOLERANCE:.1e}) on "
                                f"windows of other sizes than the traced ones: the trace fixed a shape")
        _publish(result, staging, model_dir / TORCHSCRIPT_DIR, bundle)
    return result


def _stages(bundle: AnyBundle) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, str]]:
    """The per-frame and per-window modules of ``bundle`` and what each takes and gives."""
    if isinstance(bundle, Bundle):
        return bundle.encoder.eval(), _window_module(bundle), {
            "frames": "uint8 frames (N, H, W, 3) -> features (N, D)", "windows": _windows_text(bundle, HEAD_INPUTS)}
    model = bundle.model.eval()
    steps = "T" if bundle.kind in ANY_LENGTH else str(model.spec.frames)
    return _Method(model, "encode_frames"), _window_module(bundle), {
        "frames": "uint8 frames (N, 3, H, W) -> encoded (N, ...)",
        "windows": _windows_text(bundle, f"encoded (B, {steps}, ...)")}


def _window_inputs(bundle: AnyBundle, probe: np.ndarray, per_window: int,
                   windows: int = PROBE_WINDOWS) -> tuple[torch.Tensor, ...]:
    """What the per-window stage takes for ``probe`` cut into ``windows`` windows of ``per_window`` frames."""
    if isinstance(bundle, Bundle):
        return _head_inputs(bundle, probe, per_window, windows)
    with torch.inference_mode():
        encoded = bundle.model.encode_frames(torch.from_numpy(probe))
    return (encoded.unflatten(0, (windows, per_window)).clone(),)


def _trace(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> None:
    """``torch.jit.trace`` of ``module`` (eval mode, tracer warnings silenced), saved to ``path``."""
    module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(module, inputs, check_trace=False)
        except Exception as error:  # the tracer raises many types; each means "this module cannot be traced"
            raise VidclassError(f"{path.name}: TorchScript trace failed ({type(error).__name__}: "
                                f"{str(error).splitlines()[0][:300]})") from None
        traced.save(str(path))


def _torchscript_parity(bundle: AnyBundle, folder: Path) -> dict[str, float]:
    """Max |TorchScript - PyTorch| of the features and probabilities (values) on probe windows of one more window
    than traced, and for the models that take any length, one more frame per window."""
    _, per_window = _probe_windows(bundle)
    if isinstance(bundle, Bundle) or bundle.kind in ANY_LENGTH:
        per_window += 1
    windows = PROBE_WINDOWS + 1
    size = bundle.encoder.spec.preprocess.crop if isinstance(bundle, Bundle) else bundle.model.spec.size
    probe = probe_frames(windows * per_window, size, seed=1)
    if not isinstance(bundle, Bundle):
        probe = probe.transpose(0, 3, 1, 2).copy()
    frames_module, windows_module, _ = _stages(bundle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.9 calls TorchScript deprecated
        traced_frames = torch.jit.load(str(folder / TS_FRAMES))
        traced_windows = torch.jit.load(str(folder / TS_WINDOWS))
    inputs = _window_inputs(bundle, probe, per_window, windows)
    with torch.inference_mode():
        frames = torch.from_numpy(probe)
        features = (traced_frames(frames).float() - frames_module(frames).float()).abs().max()
        got, ref = traced_windows(*inputs).float(), windows_module(*inputs).float()
    return {"features": float(features), _compared(bundle): _difference(bundle, got, ref), "quantized": 0.0}


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
        from vidclass.models.runtime import export_encoder

        export_encoder(bundle.encoder, folder / FRAMES, opset=opset, check=False)  # _parity checks the model
        x, mask = _head_inputs(bundle, probe, per_window)
        output = "logits" if target_scale(bundle) is None else "value"
        torch_export(_window_module(bundle), (x, mask), folder / WINDOWS, ["x", "mask"], [output],
                     {"x": {0: "windows", 1: "steps"}, "mask": {0: "windows", 1: "steps"}, output: {0: "windows"}},
                     opset=opset)
        return ExportResult(folder, FEATURES, opset, None, _stages(bundle)[2])
    model = bundle.model.eval()
    frames = torch.from_numpy(probe)
    torch_export(_Method(model, "encode_frames"), (frames,), folder / FRAMES, ["frames"], ["encoded"],
                 {"frames": {0: "frames"}, "encoded": {0: "frames"}}, opset=opset)
    with torch.inference_mode():
        encoded = model.encode_frames(frames)
    windows = encoded.unflatten(0, (PROBE_WINDOWS, per_window)).clone()
    steps = bundle.kind in ANY_LENGTH
    output = "logits" if target_scale(bundle) is None else "value"
    torch_export(_window_module(bundle), (windows,), folder / WINDOWS, ["encoded"], [output],
                 {"encoded": {0: "windows", **({1: "steps"} if steps else {})}, output: {0: "windows"}}, opset=opset)
    return ExportResult(folder, bundle.kind, opset, None, _stages(bundle)[2])


def _compared(bundle: AnyBundle) -> str:
    """What an export's parity is judged on: ``probabilities``, or a regression model's ``values``."""
    return "probabilities" if target_scale(bundle) is None else "values"


def _difference(bundle: AnyBundle, got: torch.Tensor, ref: torch.Tensor) -> float:
    """The largest difference of two windows outputs, judged against PARITY_TOLERANCE: of the probabilities
    (softmax of logits), or of a regression model's values in units of the target's std, relative to the
    standardised value where it is above 1 (fp32 keeps about 7 digits: a random probe frame can give a
    standardised value in the thousands, whose rounding is no broken graph)."""
    scale = target_scale(bundle)
    if scale is None:
        return float((torch.softmax(got, dim=1) - torch.softmax(ref, dim=1)).abs().max())
    mean, std = scale
    standardised = ((ref - mean) / std).abs().clamp(min=1.0)
    return float(((got - ref).abs() / (std * standardised)).max())


class _Valued(torch.nn.Module):
    """A regression model's windows stage whose output is the value: ``stage(*inputs) * std + mean``."""

    def __init__(self, stage: torch.nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.stage, self.mean, self.std = stage, mean, std

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.stage(*inputs) * self.std + self.mean


def _window_module(bundle: AnyBundle) -> torch.nn.Module:
    """What a bundle's windows graph computes: the head's (clip model's) logits, or a regression model's value."""
    scale = target_scale(bundle)
    stage = bundle.head.eval() if isinstance(bundle, Bundle) else _Method(bundle.model.eval(), "classify_encoded")
    return stage if scale is None else _Valued(stage, *scale).eval()



def _windows_text(bundle: AnyBundle, inputs: str) -> str:
    if target_scale(bundle) is None:
        return f"{inputs} -> logits (B, C)"
    return (f"{inputs} -> value (B, 1): the model's standardised output times the target's std plus its mean "
            "(config.json training.target_std, target_mean)")


class _Method(torch.nn.Module):
    """One method of a module as its ``forward``, for the exporter."""

    def __init__(self, module: torch.nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.module, self.method)(x)


def _head_inputs(bundle: Bundle, probe: np.ndarray, per_window: int,
                 count: int = PROBE_WINDOWS) -> tuple[torch.Tensor, torch.Tensor]:
    """A frozen-feature model's head inputs for the probe windows, as the streaming protocol builds them."""
    from vidclass.inputs.views import head_steps, model_inputs

    with torch.inference_mode():
        features = bundle.encoder(torch.from_numpy(probe)).float().numpy()
    view = bundle.view
    if view.pair_image:  # the protocol's per-frame vector: appearance ++ pair-image features
        features = np.concatenate([features, features[::-1]], axis=1)
    dim = bundle.encoder.spec.dim
    windows = features.reshape(count, per_window, -1)
    masks = np.stack([head_steps(view, np.ones(per_window, bool), None) for _ in windows])
    x = np.stack([model_inputs(w[:, :dim], m, view, w[:, dim:] if view.pair_image else None, None)
                  for w, m in zip(windows, masks)])
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(masks)


def _parity(bundle: AnyBundle, folder: Path, *, quantized: bool) -> dict[str, float]:
    """Max |ORT - torch| of the features (or encoded frames) and of the probabilities (a regression bundle:
    the values the windows graph gives) on probe windows."""
    probe, per_window = _probe_windows(bundle)
    ort_model = unchecked_ort_parts(bundle, folder)
    frames_module, windows_module, _ = _stages(bundle)
    with torch.inference_mode():
        frames = torch.from_numpy(probe)
        ref_features = frames_module(frames).float()
        if isinstance(bundle, Bundle):
            got_features = ort_model["encoder"](frames)
            ref_inputs = got_inputs = _head_inputs(bundle, probe, per_window)  # same inputs: the head graph alone
            graph = ort_model["head"].graph
        else:  # the whole clip model through ONNX Runtime
            got_features = ort_model["model"].encode_frames(frames)
            ref_inputs, got_inputs = ((f.unflatten(0, (PROBE_WINDOWS, per_window)),)
                                      for f in (ref_features, got_features))
            graph = ort_model["model"].windows_graph
        ref = windows_module(*ref_inputs).float()
        got = torch.from_numpy(graph(*(np.ascontiguousarray(t.numpy()) for t in got_inputs)))
    return {"features": float((got_features - ref_features).abs().max()),
            _compared(bundle): _difference(bundle, got, ref), "quantized": float(quantized)}


def _quantize(path: Path, bundle: AnyBundle, videos: list[Path]) -> None:
    """Quantise the frames graph in place: int8 weights per channel, uint8 activations, QDQ, calibrated
    on frames sampled from ``videos`` with the model's own preprocessing."""
    import_onnxruntime()  # telemetry off before the quantization tools import it
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from vidclass.media import sampling, video

    if isinstance(bundle, Bundle):
        pre = bundle.encoder.spec.preprocess
        resize, crop, interpolation, nchw = pre.resize, pre.crop, pre.interpolation, False
    else:
        from vidclass.inputs.pixels import store_size

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
