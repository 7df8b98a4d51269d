"""95 % bootstrap intervals for the scores of one split, resampling groups together.

Clips cut from one source video are not independent: resampling them one by one would
pretend a split of 34 clips from 4 sources holds 34 independent observations. So the unit
of resampling is the group where it is known (every clip of a resampled group comes along)
and the video otherwise. Every score is computed from the confusion matrix (and top-k hits)
of the resampled units, so one resample gives all scores at once; ``scipy.stats.bootstrap``
draws the resamples and takes the percentiles. Seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap

LEVEL = 0.95
RESAMPLES = 2000
_BATCH = 100  # resamples per vectorised call: bounds memory at batch x units x classes^2


@dataclass(frozen=True)
class Interval:
    """A confidence interval and what it was computed from."""

    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def resampling_units(groups: Sequence[str | None] | None, videos: int) -> tuple[np.ndarray, str]:
    """The unit id of each video (its group, else itself) and a description of the units."""
    if groups is None or all(g is None for g in groups):
        return np.arange(videos), f"{videos} videos"
    keys = [("g", g) if g is not None else ("v", str(i)) for i, g in enumerate(groups)]
    index = {key: n for n, key in enumerate(dict.fromkeys(keys))}
    units = np.array([index[key] for key in keys])
    named = sum(key[0] == "g" for key in index)
    alone = len(index) - named
    return units, f"{named} groups" + (f" and {alone} videos without a group" if alone else "")


def bootstrap_scores(
    y: np.ndarray,
    predicted: np.ndarray,
    hits: dict[int, np.ndarray],
    labels: Sequence[str],
    groups: Sequence[str | None] | None,
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[dict[str, Interval], str]:
    """Intervals of accuracy, mean class accuracy, top-k accuracy, macro / weighted F1 and
    each class's F1 (keys ``accuracy``, ``mean_class_accuracy``, ``top_<k>_accuracy``,
    ``macro_f1``, ``weighted_f1``, ``f1/<class>``), and what was resampled.

    ``hits[k]`` is a bool per video: true class among the k most probable. Scores follow
    ``vidclass.evaluation.metrics``: mean class accuracy over the classes present in the resample,
    F1 0 where undefined, macro F1 over every class. Fewer than 2 units give no intervals.
    """
    units, described = resampling_units(groups, len(y))
    count = int(units.max()) + 1
    method = f"bootstrap over {described}, {resamples} resamples, seed {seed}"
    if count < 2:
        return {}, f"no interval: {described} cannot be resampled"
    classes = len(labels)
    per_unit = np.zeros((count, classes * classes))
    np.add.at(per_unit, (units, y * classes + predicted), 1.0)
    ks = sorted(k for k in hits if k != 1)
    unit_hits = np.zeros((count, max(len(ks), 1)))
    for column, k in enumerate(ks):
        np.add.at(unit_hits[:, column], units, hits[k].astype(np.float64))
    names = ["accuracy", "mean_class_accuracy", *(f"top_{k}_accuracy" for k in ks), "macro_f1", "weighted_f1"]
    names += [f"f1/{name}" for name in labels]

    def statistic(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        single = np.ndim(drawn) == 1
        drawn = np.atleast_2d(np.asarray(drawn, dtype=np.int64))
        weights = np.zeros((len(drawn), count))
        np.add.at(weights, (np.arange(len(drawn))[:, None], drawn), 1.0)
        scores = _scores(weights @ per_unit, weights @ unit_hits, classes, len(ks))
        return scores[:, 0] if single else scores

    result = bootstrap(
        (np.arange(count),), statistic, vectorized=True, n_resamples=resamples, batch=_BATCH,
        confidence_level=level, method="percentile", rng=np.random.default_rng(seed),
    )
    low, high = np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high)
    return {name: Interval(float(lo), float(hi)) for name, lo, hi in zip(names, low, high)}, method


def _scores(flat_confusion: np.ndarray, top_hits: np.ndarray, classes: int, ks: int) -> np.ndarray:
    """(scores, B) from B confusion matrices (B, C*C) and top-k hit counts (B, K)."""
    confusion = flat_confusion.reshape(-1, classes, classes)
    total = confusion.sum(axis=(1, 2))
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    support = confusion.sum(axis=2)
    predicted = confusion.sum(axis=1)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    mean_class = recall.sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    denominator = support + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    rows = [tp.sum(axis=1) / total, mean_class, *(top_hits[:, j] / total for j in range(ks))]
    rows += [f1.mean(axis=1), (f1 * support).sum(axis=1) / total]
    return np.vstack([np.vstack(rows), f1.T])
