"""ONNX Runtime in place of PyTorch for inference on a CPU: the engine choice and its stand-ins.

``runtime`` is ``torch``, ``onnxruntime`` or ``auto``: ONNX Runtime where the work runs on a
CPU (``onnxruntime`` is a core dependency; where it is missing, PyTorch), PyTorch elsewhere.
The stand-ins below take and return what the PyTorch modules do (torch tensors), so feature
extraction, ``predict`` and the streaming protocol run either engine unchanged:

* :class:`OrtFrameEncoder` for a :class:`~vidclass.models.backbones.FrameEncoder` (the slow stage of
  every frozen-feature model), run on ``chunk`` frames at a time: on a CPU this network is
  fastest one frame per call, in PyTorch and in ONNX Runtime alike (benchmarks/runtime.py);
* :class:`OrtHead` for a temporal head and :class:`OrtClipModel` for a clip model, from the
  graphs ``vidclass export`` writes into a bundle (:mod:`vidclass.use.export`).

A frame encoder without an exported bundle is exported once per weights and kept in
``<cache>/onnx`` (:func:`encoder_graph`), after a parity check against PyTorch.

Cached features do not record the engine: ONNX Runtime's fp32 features differ from PyTorch's
by about 1e-5 (relative 1e-6), the size of the differences PyTorch itself shows across thread
counts and CPU instruction sets, which no cache key names either; the features mean the same
thing and a cache filled by either engine serves both. An int8 graph computes different
features, so it has a weights id of its own (``...+onnx-int8:<hash>``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import platformdirs
import torch

from vidclass.errors import ConfigError, VidclassError
from vidclass.models.backbones import BackboneSpec, FrameEncoder
from vidclass.util.atomic import write_atomic

Runtime = Literal["auto", "torch", "onnxruntime"]
RUNTIMES = ("auto", "torch", "onnxruntime")
DEFAULT_CHUNK = 1  # frames per ONNX Runtime call (benchmarks/runtime.py: batch 1 is fastest on CPUs)
PARITY_TOLERANCE = 1e-3  # largest |ORT - torch| feature difference, relative to the largest |feature|
OPSET = 17
_INSTALL = "pip install onnxruntime (a dependency of vidclass, missing here)"


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    return runtime


def import_onnxruntime():
    """The ``onnxruntime`` module, imported with its telemetry off unless the user's environment says otherwise:
    ONNX Runtime 1.29+ starts a telemetry session at import that leaves a ``.ses`` file in the temporary
    folder (the working directory on some systems), which no vidclass command should leave behind."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def onnxruntime_available() -> bool:
    try:
        import_onnxruntime()
    except ImportError:
        return False
    return True


def use_onnxruntime(runtime: str, *, on_gpu: bool | None = None) -> bool:
    """Whether ``runtime`` means ONNX Runtime here: ``auto`` picks it on a CPU when it is installed."""
    check_runtime(runtime)
    if runtime == "onnxruntime":
        if not onnxruntime_available():
            raise VidclassError(f"--runtime onnxruntime needs onnxruntime: {_INSTALL}")
        return True
    if runtime == "torch":
        return False
    on_gpu = torch.cuda.is_available() if on_gpu is None else on_gpu
    return not on_gpu and onnxruntime_available()


def session(path: str | Path, *, threads: int | None = None, spinning: bool = False):
    """An ONNX Runtime CPU session on ``threads`` threads (default: PyTorch's count, which follows
    ``OMP_NUM_THREADS``), with all graph optimisations.

    Its threads do not spin while they wait for work unless ``spinning``: ONNX Runtime's default spinning
    keeps the cores busy between the one-frame runs vidclass makes, taking them from the decoding worker
    and the rest of the process (``benchmarks/ort_spinning.py`` measures both ways, paired)."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no notes about initializers the optimiser drops
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise VidclassError(f"{path}: ONNX Runtime cannot load this graph ({error})") from None


class _Graph:
    """One ONNX Runtime session called with numpy arrays by input name."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = session(path, threads=threads)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        return self.session.run(None, dict(zip(self.inputs, arrays)))[0]


class OrtFrameEncoder:
    """A frame encoder graph standing in for :class:`FrameEncoder`: uint8 (N, H, W, 3) -> (N, D)."""

    engine = "onnxruntime"

    def __init__(self, path: str | Path, spec: BackboneSpec, weights_id: str, *, chunk: int = DEFAULT_CHUNK,
                 threads: int | None = None) -> None:
        if chunk < 1:
            raise ConfigError(f"chunk must be >= 1 frame, got {chunk}")
        self.graph = _Graph(path, threads=threads)
        self.spec = spec
        self.weights_id = weights_id
        self.chunk = chunk

    def eval(self) -> OrtFrameEncoder:
        return self

    def encode(self, frames: np.ndarray) -> np.ndarray:
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        parts = [self.graph(frames[i : i + self.chunk]) for i in range(0, len(frames), self.chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, self.spec.dim), np.float32)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.encode(frames.numpy()))


class OrtHead:
    """A temporal head graph standing in for :class:`~vidclass.models.heads.TemporalHead`: (x, mask) -> logits.

    A regression bundle's graph gives the value itself (``vidclass export`` bakes the target scale in);
    with ``scale`` ``(mean, std)`` this stand-in gives back the head's standardised output, as PyTorch's does."""

    def __init__(self, path: str | Path, name: str, num_classes: int, *, threads: int | None = None,
                 scale: tuple[float, float] | None = None) -> None:
        self.graph = _Graph(path, threads=threads)
        self.name, self.num_classes, self.scale_ = name, num_classes, scale

    def eval(self) -> OrtHead:
        return self

    def __call__(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = torch.from_numpy(self.graph(x.numpy().astype(np.float32), mask.numpy().astype(bool)))
        return out if self.scale_ is None else (out - self.scale_[0]) / self.scale_[1]


class OrtClipModel:
    """A clip model's two graphs standing in for :class:`~vidclass.models.clip_models.ClipModel`:
    ``encode_frames`` (uint8 (N, C, H, W) -> encoded) and ``classify_encoded`` ((B, T, ...) -> logits).

    A regression model's windows graph gives the value (``vidclass export`` bakes the target scale in); with
    ``scale`` ``(mean, std)`` this stand-in gives back the standardised output, as PyTorch's does."""

    def __init__(self, frames: str | Path, windows: str | Path, model: Any, *, threads: int | None = None,
                 scale: tuple[float, float] | None = None) -> None:
        self.frames_graph = _Graph(frames, threads=threads)
        self.windows_graph = _Graph(windows, threads=threads)
        self.scale_ = scale
        for name in ("spec", "name", "num_classes", "stream_unit", "interpolation", "weights_id"):
            setattr(self, name, getattr(model, name))
        self.scale = torch.zeros(1)  # callers read .scale.device: the CPU

    def eval(self) -> OrtClipModel:
        return self

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.frames_graph(np.ascontiguousarray(frames.numpy(), dtype=np.uint8)))

    def classify_encoded(self, encoded: torch.Tensor) -> torch.Tensor:
        out = torch.from_numpy(self.windows_graph(np.ascontiguousarray(encoded.numpy())))
        return out if self.scale_ is None else (out - self.scale_[0]) / self.scale_[1]

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        b, t = clips.shape[:2]
        encoded = self.encode_frames(clips.flatten(0, 1))
        return self.classify_encoded(encoded.unflatten(0, (b, t)))


# --- frame encoders exported on demand ---------------------------------------------------------


def graph_cache_dir() -> Path:
    """Where exported frame encoders are kept (``VIDCLASS_CACHE`` moves it with the feature cache)."""
    return Path(os.environ.get("VIDCLASS_CACHE") or platformdirs.user_cache_dir("vidclass")) / "onnx"


def export_encoder(encoder: FrameEncoder, path: Path, *, opset: int = OPSET, check: bool = True) -> float:
    """Write ``encoder`` (uint8 NHWC frames -> features, normalisation included) as an ONNX graph
    with a dynamic frame count, atomically; returns the relative parity error against PyTorch
    (0.0 unchecked, for a caller that checks the whole model).

    The TorchScript-based exporter (``dynamo=False``) is used for every graph vidclass writes: the
    heads' data-dependent checks and packed sequences stop ``torch.export``, and one exporter for
    all keeps the graphs alike."""
    crop = encoder.spec.preprocess.crop
    probe = probe_frames(2, crop)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch_export(encoder.eval(), (torch.from_numpy(probe),), tmp, ["frames"], ["features"],
                     {"frames": {0: "frames"}, "features": {0: "frames"}}, opset=opset)
        error = encoder_parity(encoder, tmp, probe_frames(3, crop, seed=1)) if check else 0.0
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return error


def torch_export(module: torch.nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
                 dynamic: dict[str, dict[int, str]], *, opset: int) -> None:
    """``torch.onnx.export`` of ``module`` in eval mode with the TorchScript-based exporter, its tracing
    warnings silenced. The exporter restores the mode the top module had, recursively, so it is set first."""
    module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset, input_names=inputs,
                              output_names=outputs, dynamic_axes=dynamic, do_constant_folding=True)
        except Exception as error:  # the exporter raises many types; each means "this graph cannot be written"
            raise VidclassError(f"{path.name}: ONNX export failed ({type(error).__name__}: "
                                f"{str(error).splitlines()[0][:300]})") from None


def probe_frames(count: int, size: int, *, seed: int = 0) -> np.ndarray:
    """Smooth random uint8 images (count, size, size, 3): like photographs, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (count, 8, 8, 3)).astype(np.float32)
    coarse = torch.nn.functional.interpolate(torch.from_numpy(small).permute(0, 3, 1, 2), size=(size, size),
                                             mode="bilinear", align_corners=False)
    noise = rng.normal(0, 8, (count, 3, size, size)).astype(np.float32)
    return np.ascontiguousarray((coarse.numpy() + noise).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1))


def encoder_parity(encoder: FrameEncoder, path: Path, frames: np.ndarray) -> float:
    """max |ORT - torch| / max |torch| over the features of ``frames``."""
    with torch.inference_mode():
        reference = encoder(torch.from_numpy(frames)).float().numpy()
    got = _Graph(path)(frames)
    return float(np.abs(got - reference).max() / max(np.abs(reference).max(), 1e-12))


def weights_digest(module: torch.nn.Module) -> str:
    """A hash of a module's parameters and buffers (names, shapes, dtypes, values)."""
    return _state_digest(module.state_dict())


def _state_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        array = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(array.shape)}:{array.dtype}".encode())
        digest.update(array.numpy().tobytes() if array.dtype != torch.bfloat16 else array.float().numpy().tobytes())
    return digest.hexdigest()[:24]


def encoder_graph(encoder: FrameEncoder, *, root: Path | None = None, opset: int = OPSET) -> Path:
    """The ONNX graph of ``encoder``, exported once per weights, preprocessing and opset and kept in
    ``root`` (default :func:`graph_cache_dir`); an export that fails its parity check is refused. The graph
    is also indexed by the encoder's weights id (:func:`indexed_graph`), so the next process finds it without
    building the PyTorch encoder."""
    root = root or graph_cache_dir()
    path = _graph_path(root, encoder.spec, weights_digest(encoder), opset)
    if not path.is_file():
        error = export_encoder(encoder, path, opset=opset)
        if error > PARITY_TOLERANCE:
            path.unlink(missing_ok=True)
            raise VidclassError(f"{encoder.spec.name}: the ONNX graph differs from PyTorch by {error:.1e} "
                                f"(relative; allowed {PARITY_TOLERANCE:.0e}); use --runtime torch")
    index = _index_path(root, encoder.spec, encoder.weights_id, opset)
    if index is None:
        return path
    state = graph_weights_file(path)
    if not state.is_file():  # what a bundle of this encoder saves, so a fit need not build it to save one
        from safetensors.torch import save

        write_atomic(state, lambda f: f.write(save(saved_state(encoder))))
    if not index.is_file():
        write_atomic(index, json.dumps({"graph": path.name}))
    return path


def graph_weights_file(graph: Path) -> Path:
    """Where :func:`encoder_graph` keeps the state dict of the encoder it exported ``graph`` from, as a bundle's
    backbone file holds it (safetensors)."""
    return graph.with_suffix(".safetensors")


def saved_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict as safetensors stores it (detached, contiguous tensors)."""
    return {name: tensor.detach().contiguous() for name, tensor in module.state_dict().items()}


def _graph_path(root: Path, spec: BackboneSpec, digest: str, opset: int) -> Path:
    key = hashlib.sha256(json.dumps({"weights": digest, "preprocess": asdict(spec.preprocess), "name": spec.name,
                                     "opset": opset, "torch": torch.__version__}, sort_keys=True).encode()).hexdigest()
    return root / f"{_file_stem(spec)}-{key[:32]}.onnx"


def graph_of_weights_file(spec: BackboneSpec, path: Path, *, root: Path | None = None,
                          opset: int = OPSET) -> Path | None:
    """The graph :func:`encoder_graph` exported for an encoder whose state dict is the safetensors file ``path``
    (a bundle's backbone), found by hashing the file's tensors as :func:`weights_digest` hashes the module's,
    or None: what the graph runs is what the file holds, without building the network."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError):
        return None  # building the encoder from the file says what is wrong with it
    graph = _graph_path(root or graph_cache_dir(), spec, _state_digest(state), opset)
    return graph if graph.is_file() else None


def indexed_graph(spec: BackboneSpec, weights_id: str, *, root: Path | None = None, opset: int = OPSET) -> Path | None:
    """The graph :func:`encoder_graph` exported for backbone ``spec`` with the weights ``weights_id`` names, or
    None. Only weights ids that name fixed weights are indexed (a file's or package's sha256, torchvision's named
    weights): ``none`` (a seeded random init) may change with timm's version."""
    index = _index_path(root or graph_cache_dir(), spec, weights_id, opset)
    if index is None or not index.is_file():
        return None
    try:
        path = index.parent / json.loads(index.read_text())["graph"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged index entry: the graph is found by exporting again
    return path if path.is_file() else None


def _index_path(root: Path, spec: BackboneSpec, weights_id: str, opset: int) -> Path | None:
    if not weights_id or weights_id == "none":
        return None
    key = hashlib.sha256(json.dumps({"weights_id": weights_id, "preprocess": asdict(spec.preprocess), "name": spec.name,
                                     "opset": opset, "torch": torch.__version__}, sort_keys=True).encode()).hexdigest()
    return root / f"{_file_stem(spec)}-{key[:32]}.index.json"


def _file_stem(spec: BackboneSpec) -> str:
    return spec.name.replace(":", "_").replace("/", "_")


def frame_encoder(encoder: FrameEncoder, runtime: str, *, graph: Path | None = None,
                  weights_id: str | None = None, chunk: int = DEFAULT_CHUNK) -> FrameEncoder | OrtFrameEncoder:
    """``encoder`` itself, or under ONNX Runtime its graph (``graph``, else exported on demand).

    ``auto`` falls back to PyTorch, with a warning, when this backbone cannot be exported."""
    if not use_onnxruntime(runtime, on_gpu=encoder.scale.device.type != "cpu"):
        return encoder
    try:
        path = graph or _graph_found(encoder) or encoder_graph(encoder)
    except VidclassError as error:
        if runtime == "onnxruntime":
            raise
        warnings.warn(f"{error}; running PyTorch instead", stacklevel=2)
        return encoder
    return OrtFrameEncoder(path, encoder.spec, weights_id or encoder.weights_id, chunk=chunk)


def _graph_found(encoder: FrameEncoder | DeferredEncoder) -> Path | None:
    """The cached graph of an encoder not built yet: a bundle's, by its weights file's tensors; one named by its
    weights id, through the index. None for a built encoder (:func:`encoder_graph` hashes its weights)."""
    if not isinstance(encoder, DeferredEncoder):
        return None
    if encoder.weights_file is not None:
        return graph_of_weights_file(encoder.spec, encoder.weights_file)
    return indexed_graph(encoder.spec, encoder.weights_id)


def encoder_for(name: str, runtime: str, *, pretrained: bool = True, weights: str | Path | None = None,
                size: int | None = None) -> FrameEncoder | OrtFrameEncoder:
    """The frame encoder of backbone ``name`` under ``runtime`` (:func:`frame_encoder`), built in PyTorch only when
    it must be: under ONNX Runtime, a graph exported before for these weights runs without the PyTorch model
    (nor timm and torchvision, about 200 MB of a process's memory)."""
    from vidclass.models.backbones import create_backbone

    deferred = _deferred(name, pretrained=pretrained, weights=weights, size=size)
    # no weights id: weights to fetch, or settings create_backbone refuses, and it says which
    return frame_encoder(deferred if deferred is not None else create_backbone(
        name, pretrained=pretrained, weights=weights, size=size), runtime)


def prebuilt_encoder(name: str, *, pretrained: bool = True, weights: str | Path | None = None,
                     size: int | None = None) -> DeferredEncoder | None:
    """Backbone ``name`` as a :class:`DeferredEncoder` when an earlier process exported its graph and kept its state
    dict (:func:`encoder_graph`), else None: a fit under ONNX Runtime then runs, and saves, the frozen encoder
    without building it in PyTorch (nor importing timm and torchvision, about 200 MB of the process)."""
    deferred = _deferred(name, pretrained=pretrained, weights=weights, size=size)
    graph = indexed_graph(deferred.spec, deferred.weights_id) if deferred is not None else None
    if graph is None or not graph_weights_file(graph).is_file():
        return None
    deferred.weights_file = graph_weights_file(graph)
    return deferred


def _deferred(name: str, *, pretrained: bool, weights: str | Path | None, size: int | None) -> DeferredEncoder | None:
    """Backbone ``name`` known by its spec and weights id, built when first run; None when the weights id cannot be
    known without building it (weights to fetch, or settings :func:`create_backbone` refuses)."""
    from vidclass.models.backbones import create_backbone, get_backbone_spec, weights_id_on_disk

    weights_id = weights_id_on_disk(name, pretrained=pretrained, weights=weights)
    if weights_id is None:
        return None
    return DeferredEncoder(get_backbone_spec(name).at_size(size), weights_id,
                           lambda: create_backbone(name, pretrained=pretrained, weights=weights, size=size))


class DeferredEncoder:
    """A bundle's frame encoder known by what its config records (spec, weights id) and built, with its
    weights, only when PyTorch must run it. An exported bundle on ONNX Runtime never does, so a timeline
    never imports timm and torchvision for it (about 200 MB of its peak memory, benchmarks/predict.py).
    Anything else asked of it (calling it, ``state_dict``, ``to``) builds the encoder and goes to it."""

    def __init__(self, spec: BackboneSpec, weights_id: str, build: Callable[[], FrameEncoder], *,
                 weights_file: Path | None = None) -> None:
        self.spec, self.weights_id, self._build = spec, weights_id, build
        self.weights_file = weights_file  # a bundle's backbone weights: its graph is found by their tensors
        self._encoder: FrameEncoder | None = None

    @property
    def encoder(self) -> FrameEncoder:
        if self._encoder is None:
            self._encoder = self._build()
            self._encoder.weights_id = self.weights_id
        return self._encoder

    @property
    def built(self) -> bool:
        """Whether PyTorch's encoder exists (until then ``weights_file`` holds its state dict)."""
        return self._encoder is not None

    @property
    def scale(self) -> torch.Tensor:  # callers read .scale.device; unbuilt, it is the CPU
        return self._encoder.scale if self._encoder is not None else torch.zeros(1)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy/pickle probes, and _encoder before __init__ has set it
            raise AttributeError(name)
        return getattr(self.encoder, name)


class DeviceEncoder:
    """A frame encoder on an accelerator: frames sent from pinned memory without blocking, the CNN
    under autocast in bf16 (fp16 where the GPU has no bf16), features returned to the CPU as float32.
    Written from the PyTorch docs (``Tensor.pin_memory``, ``torch.autocast``); untested here (no GPU)."""

    def __init__(self, encoder: FrameEncoder, device: torch.device) -> None:
        self.encoder = encoder.to(device)
        self.spec, self.weights_id, self.device = encoder.spec, encoder.weights_id, device
        self.scale = self.encoder.scale  # on the device: extraction batches 32 frames here, not 1
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.dtype = torch.bfloat16 if bf16 or device.type != "cuda" else torch.float16
        self.engine = f"torch ({device.type}, {'bf16' if self.dtype == torch.bfloat16 else 'fp16'})"

    def eval(self) -> DeviceEncoder:
        return self

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            frames = frames.pin_memory()
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype):
            return self.encoder(frames).float().cpu()


def device_encoder(encoder: FrameEncoder, device: torch.device, runtime: str) -> Any:
    """The encoder for one extraction process: on a CPU ``runtime``'s choice (:func:`frame_encoder`),
    on an accelerator :class:`DeviceEncoder`."""
    if device.type == "cpu":
        return frame_encoder(encoder, runtime)
    return DeviceEncoder(encoder, device)
