"""``vidclass compare``: recipes side by side on the same group-disjoint folds, resumable, reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.compare import CompareSettings, best_recipe, compare, grouped_folds
from vidclass.compare import run as compare_run
from vidclass.compare.recipes import Recipe, get_recipe, list_recipes, select_recipes
from vidclass.compare.report import summarize, table_rows
from vidclass.data import catalog as catalog_
from vidclass.data.items import Catalog, VideoItem
from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.errors import ConfigError

# Small recipes on the direction task (approaching vs receding): the order of the frames is the only cue, so
# mean pooling of appearance features is blind to it and a BiLSTM over appearance + feature changes is not.
SMALL = {"model": "features", "frames": 6, "grid": 12, "epochs": 40, "patience": 40, "lr": 3e-3}
MEAN = Recipe("mean-appearance", "features", "order-blind", {**SMALL, "head": "mean", "inputs": "appearance"})
BILSTM = Recipe("bilstm-motion", "features", "order-aware", {**SMALL, "head": "bilstm", "inputs": "appearance+motion"})


@pytest.fixture(scope="module")
def direction(tmp_path_factory):
    root = tmp_path_factory.mktemp("direction-compare")
    make_direction_dataset(root, SyntheticSpec(clips_per_class=10, seconds=1.5, fps=8, size=96, seed=5))
    return catalog_.load_catalog(root / "labels.csv")


@pytest.fixture(scope="module")
def compared(direction, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    cache = tmp_path_factory.mktemp("cache")
    settings = CompareSettings(folds=3, seed=0, cache_dir=cache, speed_clips=2)
    broken = Recipe("broken-weights", "features", "weights that are not there",
                    {**SMALL, "head": "mean", "inputs": "appearance", "weights": str(cache / "missing.safetensors")})
    found = compare(direction, [MEAN, broken, BILSTM], out, settings)
    rows, paths = found.rows, found.paths
    return rows, paths, out, settings


def test_folds_are_group_disjoint_and_cover_every_clip_once(direction):
    grouped = Catalog(direction.root, [
        VideoItem(item.path, item.label, group=f"g{i // 3}") for i, item in enumerate(direction.items)
    ], direction.labels, direction.source_format)
    folds = grouped_folds(grouped, 3, seed=0)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(grouped.items)))
    for train, test in folds:
        assert not {grouped.items[i].group for i in train} & {grouped.items[i].group for i in test}


@pytest.mark.slow
def test_an_order_aware_recipe_ranks_above_mean_pooling_and_a_failure_is_reported(compared):
    rows, paths, _, _ = compared
    by_name = {row.name: row for row in rows}
    assert [row.name for row in rows][:2] == ["bilstm-motion", "mean-appearance"]
    assert by_name["bilstm-motion"].accuracy >= by_name["mean-appearance"].accuracy + 0.2
    assert by_name["bilstm-motion"].ci95[0] <= by_name["bilstm-motion"].accuracy <= by_name["bilstm-motion"].ci95[1]
    broken = by_name["broken-weights"]
    assert broken.status.startswith("failed:") and "missing.safetensors" in broken.status and broken.accuracy is None
    assert by_name["bilstm-motion"].clips_per_second > 0 and by_name["bilstm-motion"].model_mb > 0
    results = json.loads(paths["json"].read_text())
    assert [r["name"] for r in results["recipes"]] == [row.name for row in rows]
    assert paths["png"].stat().st_size > 1000 and "bilstm-motion" in paths["md"].read_text()
    assert paths["csv"].read_text().splitlines()[0].startswith("name,family")
    winner, estimate = best_recipe(paths["json"].parent)  # what `vidclass train --recipe best --compare DIR` trains
    assert "optimistic" in estimate and "--nested" in estimate  # a plain comparison says its CV is optimistic
    assert winner.name == "bilstm-motion" and dict(winner.params) == dict(BILSTM.params)


@pytest.mark.slow
def test_a_rerun_computes_only_what_is_missing_and_gives_the_same_table(compared, direction, monkeypatch):
    rows, _, out, settings = compared
    (out / "runs" / "mean-appearance" / "fold-1.json").unlink()  # as if killed during that fold
    ran = []
    real = compare_run._run_fold
    monkeypatch.setattr(compare_run, "_run_fold",
                        lambda catalog, recipe, *rest: ran.append((recipe.name, rest[1])) or real(catalog, recipe, *rest))
    ensemble = Recipe("both", "ensemble", "mean of the two", members=("mean-appearance", "bilstm-motion"))
    again = compare(direction, [MEAN, BILSTM, ensemble], out, settings).rows
    assert ran == [("mean-appearance", 1)]  # one fold recomputed, the ensemble fused from stored probabilities
    before = {row.name: row.fold_accuracy for row in rows}
    after = {row.name: row.fold_accuracy for row in again}
    assert after["mean-appearance"] == before["mean-appearance"] and after["bilstm-motion"] == before["bilstm-motion"]
    assert after["both"] and len(after["both"]) == 3
    # the table's training time counts every stored fold, the resumed run's own time only what it added
    results = json.loads((out / "results.json").read_text())
    stored = [json.loads(path.read_text())["fit_seconds"] for name in ("mean-appearance", "bilstm-motion")
              for path in (out / "runs" / name).glob("fold-*.json")]
    assert results["training_seconds"] == pytest.approx(sum(stored)) and results["seconds"] < sum(stored)
    with pytest.raises(ConfigError, match="other folds"):
        compare(direction, [MEAN], out, CompareSettings(folds=3, seed=1, cache_dir=settings.cache_dir))


def test_the_registry_lists_every_approach_and_selects_ensemble_members_first():
    names = list_recipes()
    assert {"frame-rgb", "lrcn-rgbdiff", "early_fusion", "3d-inflated", "convlstm", "pose-lstm",
            "attention-rgbdiff", "tsn-two-stream"} <= set(names)
    chosen = [r.name for r in select_recipes("tsn-two-stream")]
    assert chosen == ["frame-rgb", "frame-rgbdiff", "tsn-two-stream"]
    assert all(get_recipe(name).family == "features" for name in [r.name for r in select_recipes("fast")]
               if get_recipe(name).family != "ensemble")
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        select_recipes("nope")


def test_recipes_cli_is_clean_when_piped():
    result = CliRunner().invoke(app, ["recipes", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [r["name"] for r in listed] == list_recipes()
    assert CliRunner().invoke(app, ["recipes"]).stdout.splitlines()[1].split("\t")[0] == "name"


def test_train_recipe_errors_are_one_clean_line(direction, tmp_path):
    runner = CliRunner()
    root = str(direction.root)
    unknown = runner.invoke(app, ["train", root, "--out", str(tmp_path / "a"), "--recipe", "nope"])
    assert unknown.exit_code == 1 and "unknown recipe 'nope'" in unknown.stderr
    best = runner.invoke(app, ["train", root, "--out", str(tmp_path / "b"), "--recipe", "best"])
    assert best.exit_code == 1 and "needs --compare DIR" in best.stderr
    missing = runner.invoke(app, ["train", root, "--out", str(tmp_path / "c"), "--recipe", "best", "--compare", str(tmp_path)])
    assert missing.exit_code == 1 and "no comparison results here" in missing.stderr
    ensemble = runner.invoke(app, ["train", root, "--out", str(tmp_path / "d"), "--recipe", "tsn-two-stream"])
    assert ensemble.exit_code == 1 and "is an ensemble" in ensemble.stderr


def test_a_recipe_whose_estimate_exceeds_the_budget_is_skipped_and_said(direction, tmp_path, monkeypatch):
    monkeypatch.setattr(compare_run, "_run_fold", lambda *args: pytest.fail("nothing fits: nothing may run"))
    slow = Recipe("slow", "pixels", "too slow for the budget", {"model": "frame"}, cost=1e6)
    found = compare(direction, [slow], tmp_path / "out", CompareSettings(folds=3, budget=60))
    rows, paths = found.rows, found.paths
    assert rows[0].status.startswith("skipped: estimated") and "min left" in rows[0].status
    assert json.loads(paths["json"].read_text())["recipes"][0]["status"] == rows[0].status


def test_a_recipe_over_the_budget_whose_weights_are_missing_says_so_rather_than_skipped(direction, tmp_path,
                                                                                       monkeypatch):
    import vidclass.models.weights

    def offline(url: str, path) -> None:
        raise OSError("offline")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # no Kinetics weights on disk, and none to download
    monkeypatch.setattr(vidclass.models.weights, "download", offline)
    monkeypatch.setattr(compare_run, "_run_fold", lambda *args: pytest.fail("nothing fits: nothing may run"))
    kinetics = get_recipe("3d-r2plus1d_18")
    rows = compare(direction, [kinetics], tmp_path / "out", CompareSettings(folds=3, budget=60)).rows
    assert rows[0].status.startswith("failed: WeightsUnavailableError") and "Kinetics-400" in rows[0].status


def test_a_recipe_stops_between_folds_when_the_budget_runs_out(direction, tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 50))  # every reading of the clock is 50 s later
    monkeypatch.setattr(compare_run.time, "perf_counter", lambda: float(next(clock)))
    fake = compare_run.FoldResult("slow", 0, {}, 1.0, 1.0, 40.0, [], [], [])
    monkeypatch.setattr(compare_run, "_run_fold", lambda catalog, recipe, folds, k, *rest: fake)
    slow = Recipe("slow", "pixels", "a recipe whose folds take 40 s", {"model": "frame"}, cost=0.0)
    outcome, = compare_run.run_comparison(direction, [slow], tmp_path / "out", CompareSettings(folds=3, budget=120))
    assert 1 <= len(outcome.folds) < 3 and outcome.skipped.startswith("the budget ran out after")


def test_a_recipe_with_one_fold_has_no_spread_and_no_interval_while_two_folds_have_both():
    recipe = Recipe("partial", "pixels", "a recipe with few folds", {"model": "frame"}, cost=0.0)

    def fold(k: int, accuracy: float) -> compare_run.FoldResult:
        return compare_run.FoldResult("partial", k, {}, accuracy, accuracy, 1.0, [], [], [])

    one, = summarize([compare_run.RecipeOutcome(recipe, [fold(0, 0.7)])], 5, ["a", "b"])
    assert one.status.startswith("partial: 1 of 5") and one.std is None and one.ci95 is None
    assert table_rows([one])[0][3:5] == ["-", "-"]
    two, = summarize([compare_run.RecipeOutcome(recipe, [fold(0, 0.6), fold(1, 0.8)])], 5, ["a", "b"])
    assert two.std is not None and abs(two.std - 0.1414) < 1e-3
    assert two.ci95[0] < 0.6 and two.ci95[1] > 0.8  # Student's t with one degree of freedom: wide
