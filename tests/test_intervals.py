"""Bootstrap intervals: nominal coverage on simulated predictions, groups resampled together."""

from __future__ import annotations

import json

import numpy as np

from vidclass.evaluation.intervals import bootstrap_scores, resampling_units
from vidclass.evaluation.metrics import Evaluation, evaluate_predictions, format_evaluation

LABELS = ["neg", "pos"]


def _simulate(rng: np.random.Generator, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True labels and predictions that are right exactly where ``correct`` says."""
    y = rng.integers(0, 2, len(correct))
    return y, np.where(correct, y, 1 - y)


def _accuracy_interval(y, predicted, groups, seed):
    hits = {1: predicted == y}
    intervals, _ = bootstrap_scores(y, predicted, hits, LABELS, groups, seed=seed, resamples=400)
    return intervals["accuracy"]


def test_interval_covers_true_accuracy_at_about_the_nominal_rate():
    true_accuracy, covered, trials = 0.8, 0, 300
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        y, predicted = _simulate(rng, rng.random(80) < true_accuracy)
        bounds = _accuracy_interval(y, predicted, None, seed)
        covered += bounds.low <= true_accuracy <= bounds.high
    assert 0.89 <= covered / trials <= 0.99


def test_groups_are_resampled_together():
    """Clips of a group are right or wrong together: only a group bootstrap keeps its coverage."""
    true_accuracy, trials = 0.7, 300
    groups = [f"g{i // 5}" for i in range(100)]  # 20 groups of 5 clips
    by_group = by_video = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        right = np.repeat(rng.random(20) < true_accuracy, 5)
        y, predicted = _simulate(rng, right)
        grouped = _accuracy_interval(y, predicted, groups, seed)
        by_group += grouped.low <= true_accuracy <= grouped.high
        alone = _accuracy_interval(y, predicted, None, seed)
        by_video += alone.low <= true_accuracy <= alone.high
    assert by_group / trials >= 0.86
    assert by_video / trials <= 0.75  # resampling clips one by one pretends 100 independent clips


def test_units_are_groups_and_ungrouped_videos():
    units, described = resampling_units(["a", "a", None, "b", None], 5)
    assert units.tolist() == [0, 0, 1, 2, 3]
    assert described == "2 groups and 2 videos without a group"


def test_same_seed_same_interval_and_every_score_has_one():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 60)
    probs = rng.dirichlet(np.ones(3), 60)
    one = evaluate_predictions(y, probs, ["a", "b", "c"], split="test", top_k=(2,), seed=5)
    two = evaluate_predictions(y, probs, ["a", "b", "c"], split="test", top_k=(2,), seed=5)
    assert one.intervals == two.intervals
    expected = {"accuracy", "mean_class_accuracy", "top_2_accuracy", "macro_f1", "weighted_f1", "f1/a", "f1/b", "f1/c"}
    assert set(one.intervals) == expected
    assert one.intervals["accuracy"][0] <= one.accuracy <= one.intervals["accuracy"][1]
    assert one.intervals["f1/a"][0] <= one.per_class["a"]["f1"] <= one.intervals["f1/a"][1]
    assert Evaluation.from_dict(json.loads(json.dumps(one.to_dict()))) == one


def _mostly_right(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Probabilities of two classes whose argmax is the true class for about 85 % of the videos (a model that
    learnt something: no learnt-nothing warning)."""
    picked = np.where(rng.random(len(y)) < 0.85, y, 1 - y)
    return np.eye(2)[picked] * 0.6 + 0.2


def test_small_split_warns_with_the_interval_width():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 30)
    small = evaluate_predictions(y, _mostly_right(y, rng), LABELS, split="test",
                                 groups=[str(i % 10) for i in range(30)])
    low, high = small.intervals["accuracy"]
    assert len(small.warnings) == 1 and f"{high - low:.2f} wide" in small.warnings[0]
    assert "vidclass compare" in format_evaluation(small)
    y = rng.integers(0, 2, 120)
    large = evaluate_predictions(y, _mostly_right(y, rng), LABELS, split="test")
    assert large.warnings == []
    three = [str(i % 3) for i in range(120)]
    few_groups = evaluate_predictions(y, _mostly_right(y, rng), LABELS, split="test", groups=three)
    assert "3 groups" in few_groups.warnings[0]
