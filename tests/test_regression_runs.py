"""A regressor's run folder is a classifier's: staged and swapped in whole, refused when full unless overwritten,
resumed from its last checkpoint, for both seams (frozen features and a clip model on pixels)."""

from __future__ import annotations

import json
import shutil

import pytest

from vidclass.data.synthetic_recordings import make_speed_dataset
from vidclass.errors import ConfigError
from vidclass.estimator.regressor import VideoRegressor

SEAMS = {  # train's VideoClassifier settings, as `vidclass train --task regression` passes them
    "features": {"model": "features", "head": "mean", "inputs": "rgbdiff"},
    "pixels": {"model": "frame"},
}


@pytest.mark.parametrize("seam", SEAMS)
def test_a_regressors_run_folder_is_staged_refused_when_full_resumed_and_replaced_whole(seam, tmp_path):
    data = make_speed_dataset(tmp_path / "speeds", clips=8, seconds=0.5, fps=8, size=32, seed=0)
    params = {**SEAMS[seam], "backbone": "timm:test_resnet", "pretrained": False, "size": 32, "frames": 2,
              "epochs": 1, "val": 0.25, "test": 0.25, "cache_dir": tmp_path / "cache", "workers": 0}
    run = tmp_path / "run"
    VideoRegressor(**params).fit(data, out_dir=run)
    assert json.loads((run / "config.json").read_text())["task"] == "regression"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert (run / "evaluation" / "metrics.json").is_file() and (run / "metrics.csv").is_file()
    before = (run / "model" / "config.json").read_text()

    with pytest.raises(ConfigError, match="not empty.*--overwrite"):
        VideoRegressor(**params).fit(data, out_dir=run)
    with pytest.raises(ConfigError, match="no interrupted run"):
        VideoRegressor(**params).fit(data, out_dir=run, resume=True)
    assert (run / "model" / "config.json").read_text() == before

    staging = tmp_path / ".run.partial"  # a run killed before its first checkpoint: nothing to resume from
    staging.mkdir()
    with pytest.raises(ConfigError, match="nothing to resume"):
        VideoRegressor(**params).fit(data, out_dir=run, resume=True)
    shutil.rmtree(staging)
    shutil.copytree(run, staging)  # a run killed after its first epoch's checkpoint
    resumed = VideoRegressor(**{**params, "epochs": 2}).fit(data, out_dir=run, resume=True)
    assert resumed.training_["epochs_run"] == 2 and not staging.exists()

    (run / "stale.txt").write_text("from an older run")
    VideoRegressor(**params).fit(data, out_dir=run, overwrite=True)
    assert not (run / "stale.txt").exists() and (run / "model" / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
