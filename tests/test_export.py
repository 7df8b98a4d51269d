"""ONNX export and ONNX Runtime inference: parity with PyTorch on real clips for every model kind
that exports, refusals that say why, and feature caches shared by both engines."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from vidclass.cli import app  # noqa: E402
from vidclass.errors import BundleError  # noqa: E402
from vidclass.estimator.bundle import Bundle, ClipBundle, save_bundle  # noqa: E402
from vidclass.estimator.classifier import VideoClassifier  # noqa: E402
from vidclass.estimator.engine import exported, runtime_part  # noqa: E402
from vidclass.inputs.extraction import extract_features  # noqa: E402
from vidclass.inputs.features import FeatureCache, FeatureSpec, fingerprint  # noqa: E402
from vidclass.inputs.views import ViewSpec  # noqa: E402
from vidclass.models.backbones import create_backbone  # noqa: E402
from vidclass.models.clip_models import ClipSpec, create_clip_model  # noqa: E402
from vidclass.models.heads import create_head  # noqa: E402
from vidclass.models.runtime import DeferredEncoder, OrtFrameEncoder, OrtHead, frame_encoder, torch_export  # noqa: E402
from vidclass.use.export import export_bundle  # noqa: E402
from vidclass.use.predict import TimelineSettings, run_timeline  # noqa: E402

TOLERANCE = 1e-4  # fp32 probabilities, ONNX Runtime against PyTorch
LABELS = ["a", "b", "c"]


def _clips(shared_data):
    return [shared_data / "clips" / name for name in ("test.mp4", "short32.mp4")]


@pytest.fixture(scope="module")
def encoder():
    return create_backbone()  # the default, offline ImageNet weights


def _features_bundle(tmp_path, encoder, head: str, inputs: str = "appearance+motion"):
    torch.manual_seed(0)
    view = ViewSpec(frames=4, grid=8, inputs=inputs)
    head_module = create_head(head, in_dim=view.input_dim(encoder.spec.dim), num_classes=len(LABELS))
    bundle = Bundle(encoder=encoder, head=head_module, view=view, labels=LABELS, clip_seconds=2.0)
    return save_bundle(bundle, tmp_path / f"features-{head}-{inputs}")


@pytest.mark.parametrize("name", ["lstm", "bilstm", "gru", "attention", "mean"])
def test_head_graphs_match_pytorch_with_any_batch_length_and_mask(tmp_path, name):
    torch.manual_seed(0)
    head = create_head(name, in_dim=24, num_classes=3).eval()
    x, mask = torch.randn(2, 6, 24), torch.ones(2, 6, dtype=torch.bool)
    torch_export(head, (x, mask), tmp_path / "head.onnx", ["x", "mask"], ["logits"],
                 {"x": {0: "b", 1: "t"}, "mask": {0: "b", 1: "t"}, "logits": {0: "b"}}, opset=17)
    graph = OrtHead(tmp_path / "head.onnx", name, 3)
    for batch, steps in ((1, 4), (3, 11)):
        x, mask = torch.randn(batch, steps, 24), torch.ones(batch, steps, dtype=torch.bool)
        mask[0, steps // 2 :] = False
        mask[-1, ::3] = False
        with torch.inference_mode():
            expected = head(x, mask)
        np.testing.assert_allclose(graph(x, mask).numpy(), expected.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def exported_features(tmp_path_factory, encoder):
    """A frozen-feature bundle (default encoder, attention head) exported by ``vidclass export --json``."""
    model_dir = _features_bundle(tmp_path_factory.mktemp("export"), encoder, "attention")
    done = CliRunner().invoke(app, ["export", str(model_dir), "--json"])
    assert done.exit_code == 0, done.output
    return model_dir, json.loads(done.stdout[done.stdout.index("{"):])


def test_features_bundle_exports_and_onnxruntime_matches_pytorch_on_real_clips(tmp_path, shared_data,
                                                                               exported_features):
    model_dir, written = exported_features
    assert exported(model_dir) == model_dir / "onnx"
    assert sorted(written["graphs"]) == ["frames", "windows"] and written["parity"]["probabilities"] < TOLERANCE
    manifest = json.loads((model_dir / "onnx" / "export.json").read_text())
    assert manifest["kind"] == "features" and manifest["opset"] == 17
    clips = _clips(shared_data)
    torch_model = VideoClassifier.load(model_dir, cache_dir=tmp_path / "cache-torch", workers=0, runtime="torch")
    ort_model = VideoClassifier.load(model_dir, cache_dir=tmp_path / "cache-ort", workers=0)  # auto: the export
    assert isinstance(runtime_part(ort_model, "encoder"), OrtFrameEncoder)
    assert isinstance(runtime_part(ort_model, "head"), OrtHead)
    assert isinstance(ort_model.encoder_, DeferredEncoder)  # the PyTorch encoder is not built...
    expected = torch_model.predict_proba(clips)
    got = ort_model.predict_proba(clips)
    assert np.abs(got - expected).max() < TOLERANCE
    assert not np.allclose(expected[0], expected[1], atol=1e-3)  # the clips differ: the comparison means something
    # timelines: the streaming protocol runs both graphs
    clip = str(shared_data / "clips" / "test.avi")
    reference = run_timeline(torch_model, clip, TimelineSettings(stride=1.0))
    timeline = run_timeline(ort_model, clip, TimelineSettings(stride=1.0))
    assert len(timeline.starts) == len(reference.starts) > 1
    assert np.abs(np.asarray(timeline.raw) - np.asarray(reference.raw)).max() < TOLERANCE
    assert ort_model.encoder_._encoder is None  # ...by predictions or timelines on the exported graphs


def test_a_flow_bundle_exports_and_onnxruntime_matches_pytorch_on_clips_and_a_timeline(tmp_path, shared_data, encoder):
    """Optical-flow images are drawn before the CNN, so both engines see the same pair images."""
    model_dir = _features_bundle(tmp_path, encoder, "attention", inputs="appearance+flow")
    export_bundle(model_dir)
    torch_model = VideoClassifier.load(model_dir, cache_dir=tmp_path / "cache-torch", workers=0, runtime="torch")
    ort_model = VideoClassifier.load(model_dir, cache_dir=tmp_path / "cache-ort", workers=0)
    assert isinstance(runtime_part(ort_model, "encoder"), OrtFrameEncoder)
    clips = _clips(shared_data)
    assert np.abs(ort_model.predict_proba(clips) - torch_model.predict_proba(clips)).max() < TOLERANCE
    clip = str(shared_data / "clips" / "test.avi")
    reference = run_timeline(torch_model, clip, TimelineSettings(stride=1.0))
    timeline = run_timeline(ort_model, clip, TimelineSettings(stride=1.0))
    assert len(timeline.starts) == len(reference.starts) > 1
    assert np.abs(np.asarray(timeline.raw) - np.asarray(reference.raw)).max() < TOLERANCE


def test_features_cached_by_either_engine_serve_both(tmp_path, shared_data, encoder, exported_features):
    """The cache key leaves the engine out: ORT's features are PyTorch's within ~1e-5."""
    clip = _clips(shared_data)[1]
    ort_encoder = runtime_part(VideoClassifier.load(exported_features[0]), "encoder")
    cache = FeatureCache(tmp_path / "cache")
    assert extract_features([clip], ort_encoder, 8, cache=cache, workers=0).computed == 1
    again = extract_features([clip], encoder, 8, cache=cache, workers=0)
    assert again.cached == 1 and again.computed == 0
    cached = cache.load(FeatureSpec.for_encoder(encoder, 8), fingerprint(clip))
    assert extract_features([clip], encoder, 8, cache=FeatureCache(tmp_path / "torch"), workers=0).computed == 1
    expected = FeatureCache(tmp_path / "torch").load(FeatureSpec.for_encoder(encoder, 8), fingerprint(clip))
    scale = np.abs(expected.features).max()
    assert np.abs(cached.features - expected.features).max() / scale < 1e-5


def test_a_swapped_graph_and_a_stale_export_are_refused_with_the_command_that_re_exports(
        tmp_path, shared_data, encoder, exported_features):
    """The graphs are bound to the bundle by sha256 (export.json): one copied in from another model with the
    same classes, or an export whose bundle was retrained since, is refused; the intact export runs."""
    clip = str(_clips(shared_data)[0])
    intact = shutil.copytree(exported_features[0], tmp_path / "intact")
    assert isinstance(runtime_part(VideoClassifier.load(intact, runtime="onnxruntime"), "head"), OrtHead)

    swapped = shutil.copytree(exported_features[0], tmp_path / "swapped")
    torch.manual_seed(1)  # another model's head, with the same inputs and classes
    other = create_head("attention", in_dim=ViewSpec(frames=4, grid=8, inputs="appearance+motion").input_dim(encoder.spec.dim),
                        num_classes=len(LABELS))
    x, mask = torch.randn(2, 4, other.in_dim), torch.ones(2, 4, dtype=torch.bool)
    torch_export(other, (x, mask), swapped / "onnx" / "windows.onnx", ["x", "mask"], ["logits"],
                 {"x": {0: "b", 1: "t"}, "mask": {0: "b", 1: "t"}, "logits": {0: "b"}}, opset=17)
    result = CliRunner().invoke(app, ["predict", str(swapped), clip, "--runtime", "onnxruntime"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(swapped / "onnx" / "windows.onnx") in lines[0], result.stderr
    assert f"vidclass export {swapped}" in lines[0] and "Traceback" not in result.output

    stale = shutil.copytree(exported_features[0], tmp_path / "stale")
    weights = load_file(stale / "head.safetensors")
    save_file({name: tensor + 0.01 for name, tensor in weights.items()}, stale / "head.safetensors")  # retrained
    with pytest.raises(BundleError, match="retrained or replaced since the export.*vidclass export"):
        runtime_part(VideoClassifier.load(stale, runtime="onnxruntime"), "head")
    assert runtime_part(VideoClassifier.load(stale, runtime="torch"), "head") is not None  # PyTorch needs no export


def test_a_backbone_is_exported_once_on_demand(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path))
    small = create_backbone("mobilenet_v3_small", pretrained=False)
    first = frame_encoder(small, "onnxruntime")
    assert isinstance(first, OrtFrameEncoder) and first.weights_id == small.weights_id
    graphs = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(graphs) == 1
    stamp = graphs[0].stat().st_mtime_ns
    assert frame_encoder(small, "onnxruntime").graph.path == graphs[0] and graphs[0].stat().st_mtime_ns == stamp
    assert frame_encoder(small, "torch") is small
    frames = torch.randint(0, 256, (3, 224, 224, 3), dtype=torch.uint8)
    with torch.inference_mode():
        expected = small(frames).numpy()
    assert np.abs(first(frames).numpy() - expected).max() < 1e-4 * max(np.abs(expected).max(), 1.0)


def test_transformer_head_and_pose_inputs_are_refused_with_the_reason(tmp_path, encoder):
    with pytest.raises(BundleError, match="transformer.*MultiheadAttention"):
        export_bundle(_features_bundle(tmp_path, encoder, "transformer"))
    with pytest.raises(BundleError, match="pose"):
        export_bundle(_features_bundle(tmp_path, encoder, "mean", inputs="appearance+pose"))
    with pytest.raises(BundleError, match="TorchScript: head 'transformer'.*batch size"):
        export_bundle(tmp_path / "features-transformer-appearance+motion", graph_format="torchscript")


# torch.jit.load in a process where vidclass cannot be imported: frames -> features, head inputs -> logits
_LOAD_WITHOUT_VIDCLASS = """
import sys
sys.modules["vidclass"] = None  # any import of vidclass fails here
import numpy as np, torch
folder, data = sys.argv[1], np.load(sys.argv[2])
frames, windows = torch.jit.load(folder + "/frames.pt"), torch.jit.load(folder + "/windows.pt")
with torch.inference_mode():
    features = frames(torch.from_numpy(data["frames"])).numpy()
    logits = windows(torch.from_numpy(data["x"]), torch.from_numpy(data["mask"])).numpy()
np.savez(sys.argv[3], features=features, logits=logits)
"""


def test_torchscript_export_loads_without_vidclass_and_matches_pytorch_on_real_frames(tmp_path, shared_data, encoder):
    import subprocess
    import sys

    from vidclass.inputs.views import head_steps, model_inputs
    from vidclass.media import sampling, video

    model_dir = _features_bundle(tmp_path, encoder, "attention")
    done = CliRunner().invoke(app, ["export", str(model_dir), "--format", "torchscript", "--json"])
    assert done.exit_code == 0, done.output
    written = json.loads(done.stdout[done.stdout.index("{"):])
    assert sorted(written["graphs"]) == ["frames", "windows"] and written["parity"]["probabilities"] < TOLERANCE
    assert (model_dir / "torchscript" / "export.json").is_file() and exported(model_dir) is None  # not ONNX
    pre, view = encoder.spec.preprocess, ViewSpec(frames=4, grid=8, inputs="appearance+motion")
    frames = np.concatenate([
        video.read_frames(clip, sampling.uniform(video.probe(clip).num_frames, 6).indices, size=pre.resize,
                          crop=pre.crop, interpolation=pre.interpolation) for clip in _clips(shared_data)])
    bundle_head = VideoClassifier.load(model_dir, runtime="torch").head_
    with torch.inference_mode():
        features = encoder(torch.from_numpy(frames)).numpy()
    windows = features.reshape(3, 4, -1)  # 3 windows of 4 frames: another batch than the traced 2
    masks = np.stack([head_steps(view, np.ones(4, bool), None) for _ in windows])
    x = np.stack([model_inputs(w, m, view, None, None) for w, m in zip(windows, masks)]).astype(np.float32)
    with torch.inference_mode():
        expected = torch.softmax(bundle_head(torch.from_numpy(x), torch.from_numpy(masks)), dim=1).numpy()
    np.savez(tmp_path / "inputs.npz", frames=frames, x=x, mask=masks)
    run = subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_VIDCLASS, str(model_dir / "torchscript"),
                          str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.load(tmp_path / "outputs.npz")
    assert np.abs(got["features"] - features).max() < 1e-4 * np.abs(features).max()
    assert np.abs(torch.softmax(torch.from_numpy(got["logits"]), dim=1).numpy() - expected).max() < TOLERANCE
    assert np.abs(expected - expected.mean(0)).max() > 1e-3  # the windows differ: the comparison means something


CLIP_KINDS = [("frame", {}), ("lrcn", {}), ("early_fusion", {}), ("3d", {}),
              ("convlstm", {})]


def _torchscript_probabilities(folder, clip, spec, interpolation) -> tuple[np.ndarray, torch.Tensor]:
    """A clip model's TorchScript modules on the frames of one real clip: probabilities (1, C), and the frames."""
    from vidclass.inputs.pixels import store_size
    from vidclass.media import sampling, video

    frames = video.read_frames(clip, sampling.uniform(video.probe(clip).num_frames, spec.frames).indices,
                               size=store_size(spec.size), crop=spec.size, interpolation=interpolation)
    frames = torch.from_numpy(frames.transpose(0, 3, 1, 2).copy())
    encode, classify = torch.jit.load(str(folder / "frames.pt")), torch.jit.load(str(folder / "windows.pt"))
    with torch.inference_mode():
        return torch.softmax(classify(encode(frames)[None]), dim=1).numpy(), frames


@pytest.mark.slow
def test_clip_models_export_and_match_pytorch_on_real_clips(tmp_path, shared_data):
    clips = _clips(shared_data)
    for kind, options in CLIP_KINDS:
        torch.manual_seed(0)
        spec = ClipSpec(backbone="mobilenet_v3_small", frames=4, size=64)
        model = create_clip_model(kind, spec, len(LABELS), pretrained=False, **options).eval()
        model_dir = save_bundle(ClipBundle(model=model, labels=LABELS, clip_seconds=2.0),
                                tmp_path / f"{kind}-{options.get('arch', 'default')}")
        result = export_bundle(model_dir)
        assert result.parity["probabilities"] < TOLERANCE, kind
        cache = tmp_path / "cache"
        expected = VideoClassifier.load(model_dir, cache_dir=cache, workers=0, runtime="torch").predict_proba(clips)
        got = VideoClassifier.load(model_dir, cache_dir=cache, workers=0, runtime="onnxruntime").predict_proba(clips)
        assert np.abs(got - expected).max() < TOLERANCE, kind
        # the second format: TorchScript modules of the same two stages
        assert export_bundle(model_dir, graph_format="torchscript").parity["probabilities"] < TOLERANCE, kind
        got, frames = _torchscript_probabilities(model_dir / "torchscript", clips[0], spec, model.interpolation)
        with torch.inference_mode():
            reference = torch.softmax(model(frames[None]), dim=1).numpy()
        assert np.abs(got - reference).max() < TOLERANCE, kind


def test_export_refuses_other_formats_and_int8_without_calibration(tmp_path, encoder):
    model_dir = _features_bundle(tmp_path, encoder, "mean")
    runner = CliRunner()
    refused = runner.invoke(app, ["export", str(model_dir), "--format", "tflite"])
    assert refused.exit_code == 1 and "--format must be onnx" in refused.output
    refused = runner.invoke(app, ["export", str(model_dir), "--quantize", "int8"])
    assert refused.exit_code == 1 and "calibration" in refused.output
    assert exported(model_dir) is None


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_a_regression_bundle_exports_graphs_that_give_its_value(tmp_path, regression_run):
    import shutil

    import onnxruntime as ort

    from vidclass.estimator.regressor import VideoRegressor

    trained, data, _ = regression_run
    model_dir = shutil.copytree(trained, tmp_path / "model")  # the export goes into the bundle: a copy of the shared one
    done = CliRunner().invoke(app, ["export", str(model_dir)])
    assert done.exit_code == 0, done.output
    assert "ONNX Runtime vs PyTorch: values within" in done.stdout
    manifest = json.loads((model_dir / "onnx" / "export.json").read_text())
    assert manifest["parity"]["values"] < TOLERANCE and "probabilities" not in manifest["parity"]
    assert "-> value (B, 1)" in manifest["graphs"]["windows"]
    clips = sorted(data.glob("*.mp4"))[:3]
    torch_model = VideoRegressor.load(model_dir, cache_dir=tmp_path / "cache-torch", runtime="torch")
    ort_model = VideoRegressor.load(model_dir, cache_dir=tmp_path / "cache-ort", runtime="onnxruntime")
    assert isinstance(runtime_part(ort_model, "encoder"), OrtFrameEncoder)
    assert isinstance(runtime_part(ort_model, "head"), OrtHead)
    expected, got = torch_model.predict(clips), ort_model.predict(clips)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)
    assert np.ptp(expected) > 1e-3  # the clips' values differ: the comparison means something
    reference = run_timeline(torch_model, str(clips[0]), TimelineSettings(window=0.5, stride=0.25))
    timeline = run_timeline(ort_model, str(clips[0]), TimelineSettings(window=0.5, stride=0.25))
    assert timeline.values and len(timeline.starts) == len(reference.starts) > 1  # the stream's values on the graphs
    np.testing.assert_allclose(timeline.raw, reference.raw, atol=TOLERANCE)
    # the windows graph alone, without vidclass's scaling: its output is the value itself
    grid = torch_model._inputs(clips[:1])[0][clips[0]]
    from vidclass.inputs.views import cut_grid_view

    x, mask = cut_grid_view(grid, torch_model.view_, view=0)
    session = ort.InferenceSession(str(model_dir / "onnx" / "windows.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["value"]
    (value,), = session.run(None, {"x": x[None].astype(np.float32), "mask": mask[None]})
    with torch.inference_mode():
        standardised = torch_model.head_(torch.from_numpy(x[None]), torch.from_numpy(mask[None]))[0, 0].item()
    assert value == pytest.approx(standardised * torch_model.target_std_ + torch_model.target_mean_, abs=TOLERANCE)
    # predict on ONNX Runtime through the command line
    shown = CliRunner().invoke(app, ["predict", str(model_dir), str(clips[0]), "--runtime", "onnxruntime", "--json",
                                     "--cache", str(tmp_path / "cache-cli")])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["value"] == pytest.approx(expected[0], abs=TOLERANCE)
    # TorchScript: the same two stages, the windows module giving the value
    written = export_bundle(model_dir, graph_format="torchscript")
    assert written.parity["values"] < TOLERANCE
    with torch.inference_mode():
        traced = torch.jit.load(str(model_dir / "torchscript" / "windows.pt"))
        assert traced(torch.from_numpy(x[None]), torch.from_numpy(mask[None]))[0, 0].item() == pytest.approx(value,
                                                                                                            abs=TOLERANCE)


def test_a_regression_clip_model_exports_a_windows_graph_that_gives_its_value(tmp_path):
    import onnxruntime as ort

    from vidclass.data.synthetic_recordings import make_speed_dataset
    from vidclass.estimator.regressor import VideoRegressor
    from vidclass.models.runtime import OrtClipModel

    torch.manual_seed(0)
    model = create_clip_model("frame", ClipSpec(backbone="mobilenet_v3_small", frames=2, size=32), 1, pretrained=False)
    mean, std = 0.5, 0.2
    model_dir = save_bundle(ClipBundle(model=model, labels=["value"], clip_seconds=1.0,
                                       training={"task": "regression", "target_mean": mean, "target_std": std}),
                            tmp_path / "pixel-regression")
    written = export_bundle(model_dir)
    assert written.parity["values"] < TOLERANCE and "probabilities" not in written.parity
    assert "-> value (B, 1)" in written.graphs["windows"]
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8))
    with torch.inference_mode():
        encoded = model.eval().encode_frames(frames).unflatten(0, (2, 2))
        standardised = model.classify_encoded(encoded)
    session = ort.InferenceSession(str(model_dir / "onnx" / "windows.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["value"]
    (value,) = session.run(None, {"encoded": encoded.numpy()})
    np.testing.assert_allclose(value, standardised.numpy() * std + mean, atol=TOLERANCE)
    ort_model = VideoRegressor.load(model_dir, cache_dir=tmp_path / "cache-ort", runtime="onnxruntime")
    assert isinstance(runtime_part(ort_model, "model"), OrtClipModel)
    clips = sorted(make_speed_dataset(tmp_path / "speeds", clips=2, seconds=1.0, fps=8, size=32, seed=0).glob("*.mp4"))
    torch_model = VideoRegressor.load(model_dir, cache_dir=tmp_path / "cache-torch", runtime="torch")
    np.testing.assert_allclose(ort_model.predict(clips), torch_model.predict(clips), atol=TOLERANCE * std)


def test_onnx_runtime_leaves_no_telemetry_file_in_the_temporary_folder(tmp_path):
    """ONNX Runtime 1.29+ starts a telemetry session at import that writes ``.ses`` into TMPDIR; vidclass imports it
    with telemetry off unless the environment says otherwise, so a command or a server leaves nothing behind."""
    import os
    import subprocess
    import sys

    code = ("import os; from vidclass.models.runtime import onnxruntime_available; assert onnxruntime_available(); "
            "print(os.environ['ORT_DISABLE_TELEMETRY'])")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    for name, extra, expected in (("vidclass", {}, "1"), ("the-user", {"ORT_DISABLE_TELEMETRY": "0"}, "0")):
        temp = tmp_path / name
        temp.mkdir()
        done = subprocess.run([sys.executable, "-c", code], env={**env, **extra, "TMPDIR": str(temp)}, cwd=temp,
                              check=True, capture_output=True, text=True)
        assert done.stdout.strip() == expected  # the user's own setting is kept
        if name == "vidclass":
            assert list(temp.iterdir()) == []


def test_a_frame_encoder_exported_before_runs_without_building_the_pytorch_model(tmp_path):
    """encoder_for finds the graph a first process exported, by the weights' id, so a second one runs ONNX Runtime
    without the PyTorch network (nor timm: about 200 MB), giving the same features."""
    import os
    import subprocess
    import sys

    code = ("import sys, numpy as np, torch; from vidclass.models.runtime import encoder_for; "
            "e = encoder_for('efficientnet_lite0', 'onnxruntime', size=64); "
            "x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)); "
            "print(type(e).__name__, 'timm' in sys.modules, e.weights_id); np.save(sys.argv[1], e(x).numpy())")
    env = {**os.environ, "VIDCLASS_CACHE": str(tmp_path / "cache")}
    runs = []
    for name in ("first", "second"):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{name}.npy")], env=env, check=True,
                              capture_output=True, text=True)
        runs.append(done.stdout.split())
    assert runs[0][:2] == ["OrtFrameEncoder", "True"]  # built, exported, indexed
    assert runs[1][:2] == ["OrtFrameEncoder", "False"] and runs[1][2] == runs[0][2]  # found by its weights id
    np.testing.assert_allclose(np.load(tmp_path / "second.npy"), np.load(tmp_path / "first.npy"), rtol=1e-6)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.index.json"))) == 1


_LOAD_AND_PREDICT = """
import sys, json
from vidclass.estimator.classifier import VideoClassifier
model = VideoClassifier.load(sys.argv[1], runtime="onnxruntime", cache_dir=sys.argv[2], workers=0)
probabilities = model.predict_proba([sys.argv[3]])
print(json.dumps({"timm": "timm" in sys.modules, "probabilities": probabilities.tolist()}))
"""


@pytest.mark.slow
def test_a_bundle_finds_its_encoders_cached_graph_by_its_weights_and_never_a_graph_of_other_weights(
        tmp_path, shared_data, encoder):
    """A bundle loaded under ONNX Runtime finds the graph exported for its backbone by hashing its weights file,
    so a second process predicts without building the PyTorch encoder (nor importing timm); a bundle whose
    backbone weights were changed finds no graph and exports its own."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file, save_file

    model_dir = _features_bundle(tmp_path, encoder, "mean")
    env = {**os.environ, "VIDCLASS_CACHE": str(tmp_path / "graphs")}
    clip = str(_clips(shared_data)[1])

    def run(name: str) -> dict:
        done = subprocess.run([sys.executable, "-c", _LOAD_AND_PREDICT, str(model_dir), str(tmp_path / name), clip],
                              env=env, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = run("cache-1"), run("cache-2")
    assert first["timm"] and not second["timm"]
    np.testing.assert_allclose(second["probabilities"], first["probabilities"], atol=1e-6)
    weights = model_dir / "backbone.safetensors"
    state = load_file(str(weights))
    name = next(key for key in sorted(state) if state[key].dtype == torch.float32 and state[key].ndim == 4)
    state[name] = state[name] * 1.5  # other weights, the same weights id in config.json
    save_file(state, str(weights))
    changed = run("cache-3")
    assert changed["timm"]  # built from its own file and exported again
    assert len(list((tmp_path / "graphs" / "onnx").glob("*.onnx"))) == 2


_FIT = """
import sys, json
from vidclass.estimator.classifier import VideoClassifier
model = VideoClassifier(size=64, frames=4, grid=8, head="linear", inputs="appearance", cache_dir=sys.argv[2], workers=0)
model.fit(sys.argv[1], out_dir=sys.argv[3])
print(json.dumps({"timm": "timm" in sys.modules, "engine": model.training_["frames_encoded_by"],
                  "probabilities": model.predict_proba([sys.argv[4]]).tolist()}))
"""


def test_a_fit_on_a_graph_exported_before_never_builds_the_pytorch_encoder_and_saves_the_same_bundle(
        tmp_path, direction_dataset):
    """The first fit builds the default encoder, exports its graph and keeps its state dict beside it; the next fit
    (here on a new feature cache, so the encoder runs) runs that graph and copies that state dict into its bundle
    without importing timm (about 200 MB of a training process), and its bundle is the same."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "VIDCLASS_CACHE": str(tmp_path / "cache")}
    video = str(sorted(direction_dataset.rglob("*.mp4"))[0])
    runs = []
    for name in ("first", "cache-of-an-earlier-version", "second"):
        if name == "cache-of-an-earlier-version":  # a graph exported and indexed before the state dict was kept
            for state in (tmp_path / "cache" / "onnx").glob("*.safetensors"):
                state.unlink()
        done = subprocess.run([sys.executable, "-c", _FIT, str(direction_dataset), str(tmp_path / f"features-{name}"),
                               str(tmp_path / name), video], env=env, check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    assert [run["timm"] for run in runs] == [True, True, False]  # built twice: the state dict is kept the 2nd time
    assert {run["engine"] for run in runs} == {"onnxruntime"}
    first, second = (tmp_path / name / "model" / "backbone.safetensors" for name in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()
    np.testing.assert_allclose(runs[2]["probabilities"], runs[0]["probabilities"], atol=1e-6)
