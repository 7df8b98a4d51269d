"""Every task x seam combination on whole files goes through the one estimator core: it trains into a run
folder, predicts, saves and loads to the same outputs, streams a timeline, evaluates and answers as a
prediction record, with a tiny backbone so that each combination takes seconds. (The recordings shape joins
these when regression on clips of recordings lands.)"""

from __future__ import annotations

import numpy as np
import pytest

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.data.synthetic_recordings import make_speed_dataset
from vidclass.estimator.classifier import VideoClassifier
from vidclass.estimator.factory import load_model
from vidclass.estimator.regressor import VideoRegressor
from vidclass.use.predict import run_timeline
from vidclass.use.records import prediction_records

ESTIMATORS = {"classification": VideoClassifier, "regression": VideoRegressor}
SEAMS = {"features": {"model": "features", "head": "mean", "inputs": "rgbdiff"}, "pixels": {"model": "frame"}}
TINY = dict(backbone="timm:test_resnet", pretrained=False, size=32, frames=2, epochs=1, val=0.25, test=0.25,
            workers=0)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("combinations")
    return {"classification": make_direction_dataset(root / "direction", SyntheticSpec(
                clips_per_class=4, seconds=1.0, fps=8, size=32, seed=0)),
            "regression": make_speed_dataset(root / "speeds", clips=8, seconds=1.0, fps=8, size=32, seed=0)}


def _outputs(model, clips) -> np.ndarray:
    return model.predict_proba(clips) if model.task.name == "classification" else model.predict(clips)


@pytest.mark.parametrize("seam", SEAMS)
@pytest.mark.parametrize("task", ESTIMATORS)
def test_every_task_and_seam_trains_predicts_loads_streams_and_evaluates(task, seam, datasets, tmp_path):
    data, cache, run = datasets[task], tmp_path / "cache", tmp_path / "run"
    model = ESTIMATORS[task](**TINY, **SEAMS[seam], cache_dir=cache).fit(data, out_dir=run)
    assert model.task.name == task and model.kind_ == SEAMS[seam]["model"]
    assert (run / "config.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()

    clips = sorted(data.rglob("*.mp4"))[:2]
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

    evaluation = loaded.evaluate(data)
    score = evaluation.accuracy if task == "classification" else evaluation.r2
    assert np.isfinite(score)
