"""Classification or regression: the task strategy of a model.

Each fitted model names its task (``model.task``): :data:`CLASSIFICATION` (outputs are class probabilities;
a prediction ranks the labels) or :data:`REGRESSION` (one value per video). The task makes the prediction
record that ``vidclass predict`` prints and ``vidclass serve`` answers, and its text line, in one place.

A bundle records its task (``training.task``: ``regression``, or none for a classifier);
:func:`vidclass.estimator.factory.load_model` reads it and returns the matching model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from vidclass.errors import ConfigError
from vidclass.models import outputs as raw


class Task(Protocol):
    """What a task decides: whether outputs are values, the head a frozen-features model trains when none is
    named, and the record of one predicted video."""

    name: str
    values: bool  # one value per video (regression), not class probabilities
    default_head: str  # the head a frozen-features model of this task trains when none is named
    outputs: raw.Outputs  # a network's raw outputs -> what prediction averages over views and reports
    losses: tuple[str, ...]  # the training losses it takes, its default first
    head_options: dict[str, Any]  # what a frozen-features head of this task is built with unless told


    def record(self, path: str, output: np.ndarray, labels: Sequence[str], top_k: int | None) -> dict[str, Any]:
        """The prediction record of the video at ``path`` from the model's ``output`` for it."""
        ...

    def line(self, record: dict[str, Any]) -> str:
        """The text line of a record (``vidclass predict`` without ``--json``)."""
        ...


class Classification:
    """Outputs are class probabilities: a record has the top label and the ranked ``top`` labels."""

    name = "classification"
    values = False
    # with flow inputs (vidclass.inputs.views.DEFAULT_INPUTS) the attention head had the best worst case over
    # fight_surv and egogestar's grouped folds: 0.798 and 0.850, against 0.814 and 0.759 for the logistic regression,
    # which averages the frames and so cannot see the order that tells one gesture from another (README "Defaults")
    default_head = "attention"
    outputs = staticmethod(raw.probabilities)
    losses = ("cross_entropy",)
    head_options: dict[str, Any] = {}

    def record(self, path: str, output: np.ndarray, labels: Sequence[str], top_k: int | None) -> dict[str, Any]:
        top = ranked(output, labels, top_k)
        return {"path": path, "label": top[0][0], "top": [{"label": label, "probability": p} for label, p in top]}

    def line(self, record: dict[str, Any]) -> str:
        return f"{record['path']}: " + "  ".join(f"{t['label']} {t['probability']:.3f}" for t in record["top"])


class Regression:
    """Outputs are values: a record has the video's ``value``."""

    name = "regression"
    values = True
    default_head = "gru"  # the linear head is a logistic regression: it has no regression form
    outputs = staticmethod(raw.values)  # standardised; the model scales them back to the target's units
    losses = ("mse", "huber")
    # inputs standardised per feature from the training set instead of LayerNorm per frame: the norm of a frame's
    # features (how much moved) is what a number like a speed is read from, and LayerNorm divides it out
    head_options: dict[str, Any] = {"standardize": True, "input_norm": False}

    def record(self, path: str, output: np.ndarray, labels: Sequence[str], top_k: int | None) -> dict[str, Any]:
        return {"path": path, "value": float(output)}

    def line(self, record: dict[str, Any]) -> str:
        return f"{record['path']}: value {record['value']:.4g}"


CLASSIFICATION: Task = Classification()
REGRESSION: Task = Regression()
TASKS = tuple(task.name for task in (CLASSIFICATION, REGRESSION))  # what --task takes
def ranked(probabilities: np.ndarray, labels: Sequence[str], k: int | None = None) -> list[tuple[str, float]]:
    """(label, probability) pairs sorted from most to least probable, the first ``k`` of them (all when None)."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise ConfigError(f"top-k must be a whole number of classes of at least 1, got {k!r}")
    order = np.argsort(-probabilities, kind="stable")[: k or len(labels)]
    return [(labels[i], float(probabilities[i])) for i in order]
