"""`--task regression` through the command line: train's report, predict's value, a timeline of values."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.data.synthetic_recordings import make_speed_dataset

runner = CliRunner()


@pytest.mark.slow
def test_train_predict_and_timeline_of_a_regression_model(tmp_path):
    data = make_speed_dataset(tmp_path / "speeds", clips=14, seconds=1.0, fps=8, size=32, seed=0)
    long = make_speed_dataset(tmp_path / "long", clips=1, seconds=6.0, fps=8, size=32, seed=2) / "clip_000.mp4"
    run, cache = tmp_path / "run", tmp_path / "cache"
    result = runner.invoke(app, [
        "train", str(data), "--task", "regression", "--loss", "huber", "--out", str(run), "--cache", str(cache),
        "--backbone", "timm:test_resnet", "--pretrained", "none", "--size", "64", "--head", "mean", "--frames", "2",
        "--inputs", "rgbdiff", "--epochs", "3", "--val", "0.2", "--test", "0.2"])
    assert result.exit_code == 0, result.output
    assert "MAE" in result.stdout and "RMSE" in result.stdout and "R²" in result.stdout
    assert (run / "evaluation" / "scatter.png").stat().st_size > 2000
    assert set(json.loads((run / "evaluation" / "metrics.json").read_text())) >= {"mae", "rmse", "r2"}
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["training"]["task"] == "regression" and config["training"]["loss"] == "huber"
    assert config["backbone"]["preprocess"]["crop"] == 64  # --size: the frames the backbone sees

    clip = sorted(data.glob("*.mp4"))[0]
    shown = runner.invoke(app, ["predict", str(run / "model"), str(clip), "--cache", str(cache)])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"{clip}: value ")
    as_json = runner.invoke(app, ["predict", str(run / "model"), str(clip), "--cache", str(cache), "--json"])
    value = json.loads(as_json.stdout)[0]["value"]
    assert float(shown.stdout.split()[-1]) == pytest.approx(value, rel=1e-3)

    out = {name: tmp_path / name for name in ("values.csv", "values.png", "annotated.mp4")}
    timed = runner.invoke(app, ["timeline", str(run / "model"), str(long), "--json", "--csv", str(out["values.csv"]),
                                "--plot", str(out["values.png"]), "--out", str(out["annotated.mp4"])])
    assert timed.exit_code == 0, timed.output
    windows = json.loads(timed.stdout)
    assert windows["values"] is True and windows["segments"] == [] and len(windows["windows"]) >= 5
    rows = list(csv.DictReader(open(out["values.csv"])))
    assert len(rows) == len(windows["windows"]) and float(rows[0]["smooth_value"]) == pytest.approx(
        windows["windows"][0]["smoothed"][0])
    assert out["values.png"].stat().st_size > 2000 and out["annotated.mp4"].stat().st_size > 1000


def test_an_unknown_model_kind_is_refused_for_regression_by_name(tmp_path):
    data = make_speed_dataset(tmp_path / "speeds", clips=4, seconds=0.5, fps=8, size=32, seed=0)
    result = runner.invoke(app, ["train", str(data), "--task", "regression", "--model", "lrcm", "--out",
                                 str(tmp_path / "run")])
    assert result.exit_code != 0 and "unknown model 'lrcm'" in result.output


def test_regression_refuses_background_instead_of_ignoring_it(tmp_path):
    data = make_speed_dataset(tmp_path / "speeds", clips=2, seconds=0.5, fps=8, size=32, seed=0)
    result = runner.invoke(app, ["train", str(data), "--task", "regression", "--background", "idle",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "--task regression takes no --background" in result.output
    assert not (tmp_path / "run").exists()


def test_an_unknown_task_is_refused(tmp_path):
    data = make_speed_dataset(tmp_path / "speeds", clips=2, seconds=0.5, fps=8, size=32, seed=0)
    result = runner.invoke(app, ["train", str(data), "--task", "ranking", "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "--task must be one of classification, regression" in result.output


def test_evaluate_scores_a_regression_model(regression_run, tmp_path):
    from vidclass.estimator.regressor import VideoRegressor

    model_dir, data, cache = regression_run
    model = VideoRegressor.load(model_dir, cache_dir=cache)
    expected = model.evaluate(data)
    # the training dataset scores exactly its held-back part, as a classifier's evaluation does
    held_back = model.training_["videos"]["test"]
    assert 0 < expected.videos == held_back < 14
    assert expected.notes == [f"{14 - held_back} videos seen in training left out"]
    shown = runner.invoke(app, ["evaluate", str(model_dir), str(data), "--cache", str(cache), "--out",
                                str(tmp_path / "text")])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"{held_back} videos: MAE {expected.mae:.4g}  RMSE {expected.rmse:.4g}  "
                                   f"R² {expected.r2:.3f}\n{expected.notes[0]}")
    as_json = runner.invoke(app, ["evaluate", str(model_dir), str(data), "--cache", str(cache), "--json"])
    assert as_json.exit_code == 0, as_json.output
    scores = json.loads(as_json.stdout)  # stdout holds the JSON alone
    assert scores["videos"] == held_back and scores["r2"] == pytest.approx(expected.r2) and scores["mae"] == pytest.approx(
        expected.mae)
    written = model_dir.parent / "evaluation" / data.name  # the default --out
    assert json.loads((written / "metrics.json").read_text()) == scores
    assert (written / "scatter.png").stat().st_size > 2000 and (tmp_path / "text" / "scatter.png").is_file()
    rows = list(csv.DictReader(open(written / "predictions.csv")))
    assert len(rows) == held_back and set(rows[0]) == {"path", "true", "predicted"}
