"""Every task x seam x shape combination goes through the one estimator core: classification or regression,
frozen features or pixels, whole files or clips cut from long recordings. Each trains into a run folder,
scores its test part, predicts, saves and loads to the same outputs, streams a timeline, answers as a
prediction record and over HTTP, and exports to ONNX graphs that predict the same, with a tiny backbone so that
each combination takes seconds."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.data.synthetic_recordings import BOB_PERIODS, make_recordings, make_speed_dataset
from vidclass.estimator.classifier import VideoClassifier
from vidclass.estimator.factory import load_model
from vidclass.estimator.regressor import VideoRegressor
from vidclass.serve import ServeSettings, create_app
from vidclass.use.export import export_bundle
from vidclass.use.predict import run_timeline
from vidclass.use.records import prediction_records

ESTIMATORS = {"classification": VideoClassifier, "regression": VideoRegressor}
SEAMS = {"features": {"model": "features", "head": "mean", "inputs": "rgbdiff"}, "pixels": {"model": "frame"}}
TINY = dict(backbone="timm:test_resnet", pretrained=False, size=32, frames=2, epochs=1, val=0.25, test=0.25,
            workers=0)


SHAPES = {"files": {}, "recordings": {"clips": "fixed:1s"}}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """(task, shape) -> dataset: whole files (directions of motion; speeds), long recordings (two bobbing rates,
    as classes, or as numbers: the bobbing period in seconds, a CSV of path,target)."""
    root = tmp_path_factory.mktemp("combinations")
    recordings = make_recordings(root / "recordings", seconds=12.0, fps=8, size=32)
    periods = root / "periods.csv"
    periods.write_text("path,target\n" + "".join(f"{path},{BOB_PERIODS[path.parent.name]}\n"
                                                 for path in sorted(recordings.rglob("*.mp4"))))
    return {("classification", "files"): make_direction_dataset(root / "direction", SyntheticSpec(
                clips_per_class=4, seconds=1.0, fps=8, size=32, seed=0)),
            ("regression", "files"): make_speed_dataset(root / "speeds", clips=8, seconds=1.0, fps=8, size=32, seed=0),
            ("classification", "recordings"): recordings, ("regression", "recordings"): periods}


def _outputs(model, clips) -> np.ndarray:
    return model.predict_proba(clips) if model.task.name == "classification" else model.predict(clips)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seam", SEAMS)
@pytest.mark.parametrize("task", ESTIMATORS)
def test_every_task_seam_and_shape_trains_predicts_loads_streams_and_scores(task, seam, shape, datasets, tmp_path):
    data, cache, run = datasets[task, shape], tmp_path / "cache", tmp_path / "run"
    model = ESTIMATORS[task](**TINY, **SEAMS[seam], **SHAPES[shape], cache_dir=cache).fit(data, out_dir=run)
    assert model.task.name == task and model.kind_ == SEAMS[seam]["model"]
    assert (run / "config.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert ("clips" in model.training_) == (shape == "recordings")
    assert (run / "evaluation" / "metrics.json").is_file() and model.evaluation_ is not None
    score = model.evaluation_.accuracy if task == "classification" else model.evaluation_.mae
    assert np.isfinite(score)

    videos = data.parent / "recordings" if data.suffix == ".csv" else data
    clips = sorted(videos.rglob("*.mp4"))[:2]
    outputs = _outputs(model, clips)
    assert outputs.shape[0] == 2 and np.isfinite(outputs).all()
    loaded = load_model(run / "model", cache_dir=cache)
    assert type(loaded) is ESTIMATORS[task] and loaded.kind_ == model.kind_
    np.testing.assert_allclose(_outputs(loaded, clips), outputs, rtol=1e-5, atol=1e-6)

    timeline = run_timeline(loaded, clips[0])
    assert timeline.values == (task == "regression") and len(timeline.starts) >= 1
    assert timeline.labels == list(loaded.labels_) and np.isfinite(timeline.raw).all()

    records, failed = prediction_records(loaded, clips, top_k=1)
    assert not failed and [r["path"] for r in records] == [str(c) for c in clips]
    assert all(("value" in r) == (task == "regression") for r in records)

    with TestClient(create_app(run / "model", ServeSettings(allow_dirs=(videos,)))) as client:
        answer = client.post("/v1/predict", json={"path": str(clips[0])})
    assert answer.status_code == 200, answer.text
    served = answer.json()
    assert served["path"] == str(clips[0])
    if task == "regression":
        assert served["value"] == pytest.approx(records[0]["value"], abs=1e-5)
    else:
        assert served["label"] == records[0]["label"]

    written = export_bundle(run / "model")
    assert max(v for k, v in written.parity.items() if k != "quantized") < 1e-3
    exported = load_model(run / "model", cache_dir=tmp_path / "cache-ort", runtime="onnxruntime")
    np.testing.assert_allclose(_outputs(exported, clips), outputs, atol=1e-4)

    if shape == "files":  # whole files score again on what the model never trained on
        evaluation = loaded.evaluate(data)
        assert np.isfinite(evaluation.accuracy if task == "classification" else evaluation.r2)
