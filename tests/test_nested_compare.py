"""``vidclass compare --nested``: the selection procedure scored on outer folds it never chose on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.compare import CompareSettings, best_recipe, compare
from vidclass.compare import run as compare_run
from vidclass.compare.recipes import Recipe
from vidclass.data import catalog as catalog_
from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.errors import ConfigError, VidclassError

STEADY = Recipe("steady", "features", "the same everywhere", {"model": "features", "head": "mean"})
LUCKY = Recipe("lucky", "features", "best inside, poor outside", {"model": "features", "head": "linear"})
PLAIN = Recipe("plain", "features", "never best", {"model": "features", "head": "gru"})


@pytest.fixture(scope="module")
def direction(tmp_path_factory):
    root = tmp_path_factory.mktemp("direction-nested")
    make_direction_dataset(root, SyntheticSpec(clips_per_class=8, seconds=0.5, fps=8, size=32, seed=3))
    return catalog_.load_catalog(root / "labels.csv")


def scripted(full: int, outer_scores: dict[str, list[float]], inner_scores: dict[str, float], calls: list):
    """A ``_run_fold`` that trains nothing: on the whole dataset's folds (outer) a recipe scores
    ``outer_scores[name][fold]``, on an outer training part (inner) ``inner_scores[name]``."""

    def run_fold(catalog, recipe, folds, fold, settings, log):
        outer = len(catalog.items) == full
        calls.append((recipe.name, "outer" if outer else "inner", fold, settings.speed_clips))
        accuracy = outer_scores[recipe.name][fold] if outer else inner_scores[recipe.name]
        test = folds[fold][1]
        truth = [0 if i % 2 else 1 for i in range(len(test))]
        probabilities = [[0.9, 0.1] if t == 0 else [0.1, 0.9] for t in truth]
        return compare_run.FoldResult(recipe.name, fold, compare_run._settings_of(recipe), accuracy, accuracy, 1.0,
                                      [str(catalog.items[i].path) for i in test], truth, probabilities)

    return run_fold


def test_the_nested_estimate_scores_the_inner_winner_on_each_outer_fold(direction, tmp_path, monkeypatch):
    outer = {"steady": [0.80, 0.80, 0.80], "lucky": [0.95, 0.50, 0.50], "plain": [0.60, 0.60, 0.60]}
    # the plain table ranks steady first (0.80 against lucky's 0.65); the inner rankings all pick lucky
    inner = {"steady": 0.70, "lucky": 0.90, "plain": 0.60}
    calls: list = []
    monkeypatch.setattr(compare_run, "_run_fold", scripted(len(direction.items), outer, inner, calls))
    settings = CompareSettings(folds=3, seed=0, speed_clips=3)
    found = compare(direction, [STEADY, LUCKY, PLAIN], tmp_path / "out", settings, inner_folds=2)
    nested = found.nested
    assert found.rows[0].name == "steady" and nested.best == "steady" and nested.best_accuracy == pytest.approx(0.80)
    assert nested.winners == ("lucky", "lucky", "lucky") and nested.wins == {"lucky": 3}
    assert nested.fold_scores == (0.95, 0.50, 0.50) and nested.score == pytest.approx(0.65)
    assert nested.optimism == pytest.approx(0.15)
    low, high = nested.optimism_ci95  # paired differences -0.15, 0.30, 0.30 over three folds
    assert low < 0.15 < high and high - low == pytest.approx(2 * 4.303 * np.std([-0.15, 0.3, 0.3], ddof=1) / 3 ** 0.5,
                                                             rel=1e-3)
    # every recipe: three outer fits and two inner fits in each of the three outer training parts, inner untimed
    assert sorted(c[:2] for c in calls if c[0] == "lucky") == [("lucky", "inner")] * 6 + [("lucky", "outer")] * 3
    assert {c[3] for c in calls if c[1] == "inner"} == {0}
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["nested"]["score"] == pytest.approx(0.65) and results["nested"]["wins"] == {"lucky": 3}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Selection-aware estimate" in report and "selection-aware accuracy" in report and "lucky 3" in report
    recipe, estimate = best_recipe(tmp_path / "out")  # train --recipe best names the nested estimate
    assert recipe.name == "steady" and estimate.startswith("0.650, the selection-aware estimate")
    calls.clear()  # a rerun reuses every stored result, outer and inner
    again = compare(direction, [STEADY, LUCKY, PLAIN], tmp_path / "out", settings, inner_folds=2)
    assert calls == [] and again.nested == nested


def test_nested_needs_enough_groups_in_every_outer_training_part(direction, tmp_path, monkeypatch):
    monkeypatch.setattr(compare_run, "_run_fold", lambda *args: pytest.fail("refused before any work"))
    with pytest.raises(ConfigError, match="too few for 40 inner folds"):
        compare(direction, [STEADY], tmp_path / "out", CompareSettings(folds=3), inner_folds=40)
    with pytest.raises(ConfigError, match="at least 2"):
        compare(direction, [STEADY], tmp_path / "out", CompareSettings(folds=3), inner_folds=1)


def test_the_cli_prints_the_nested_estimate_and_train_names_it(direction, tmp_path, monkeypatch):
    from vidclass.compare import recipes

    outer = {"steady": [0.80, 0.80, 0.80], "lucky": [0.95, 0.50, 0.50]}
    inner = {"steady": 0.70, "lucky": 0.90}
    monkeypatch.setattr(compare_run, "_run_fold", scripted(len(direction.items), outer, inner, []))
    monkeypatch.setattr(recipes, "_REGISTRY", {"steady": STEADY, "lucky": LUCKY})
    out = tmp_path / "out"
    args = ["compare", str(direction.root), "--out", str(out), "--recipes", "steady,lucky", "--folds", "3",
            "--nested", "--inner-folds", "2", "--speed-clips", "0"]
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "selection-aware accuracy" in shown.stdout and "optimism of the best row (steady, 0.800): +0.150" in shown.stdout
    piped = CliRunner().invoke(app, args + ["--json"])
    data = json.loads(piped.stdout)
    assert [r["name"] for r in data["recipes"]] == ["steady", "lucky"] and data["nested"]["winners"] == ["lucky"] * 3

    def stop(self, *args, **kwargs):
        raise VidclassError("stopped before training")

    monkeypatch.setattr("vidclass.estimator.classifier.VideoClassifier.fit", stop)
    trained = CliRunner().invoke(app, ["train", str(direction.root), "--out", str(tmp_path / "m"), "--recipe", "best",
                                       "--compare", str(out)])
    assert trained.exit_code == 1 and "stopped before training" in trained.stderr
    assert "recipe steady" in trained.stderr and "expected accuracy 0.650, the selection-aware estimate" in trained.stderr
