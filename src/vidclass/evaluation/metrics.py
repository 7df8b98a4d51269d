"""Evaluation: true labels + predicted class probabilities -> numbers, a report and files.

Every number is video-level (one row of probabilities per video) and carries the split it
comes from, how many videos and how many distinct groups it rests on, so a score is never
read without its sample size. Conventions, applied everywhere:

* the predicted class is the arg-max of a row; ties go to the lowest class id, and top-k
  ranks ties the same way, so ``top_k[1] == accuracy`` always;
* every class of ``labels`` is reported (``labels=range(C)``), also those absent from
  ``y_true`` (support 0; precision, recall and F1 fall back to 0 where undefined);
* mean class accuracy (balanced accuracy) averages recall over the classes *present* in
  ``y_true``: recall of a class with no videos is undefined, not 0;
* top-k is reported for k = 1 and each requested k smaller than the number of classes
  (top-C is 1 by definition, so it would only flatter the report).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, classification_report, confusion_matrix

from vidclass.errors import ConfigError, VidclassError
from vidclass.evaluation.chance import learnt_nothing
from vidclass.evaluation.intervals import LEVEL, bootstrap_scores
from vidclass.util.atomic import write_atomic

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: scoring and timelines never load it
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_AVERAGES = ("macro avg", "weighted avg")
_SUM_TOLERANCE = 1e-3
_MAX_PANEL_INCHES = 16.0
_MAX_CLASSES_WITH_VALUES = 30
_CURVE_COLUMN = re.compile(r"^(train|val|valid|validation)[_/](loss|acc|accuracy)(_epoch|_step)?$")
_SUFFIX_PREFERENCE = {"_epoch": 0, "": 1, "_step": 2}
SMALL_SPLIT_VIDEOS = 50
SMALL_SPLIT_GROUPS = 5


@dataclass
class Evaluation:
    """Video-level scores of one split; ``to_dict`` / ``from_dict`` round-trip through JSON."""

    labels: list[str]
    split: str
    videos: int
    groups: int | None
    accuracy: float
    top_k: dict[int, float]
    mean_class_accuracy: float
    per_class: dict[str, dict]
    confusion: list[list[int]]
    averages: dict[str, dict] = field(default_factory=dict)
    """``"macro avg"`` and ``"weighted avg"`` of precision, recall and F1 over all classes."""
    notes: list[str] = field(default_factory=list)
    """Where the videos came from, e.g. how many seen in training were left out."""
    intervals: dict[str, list[float]] = field(default_factory=dict)
    """95 % bootstrap interval ``[low, high]`` per score: ``accuracy``, ``mean_class_accuracy``,
    ``top_<k>_accuracy``, ``macro_f1``, ``weighted_f1``, ``f1/<class>`` (see :mod:`vidclass.evaluation.intervals`)."""
    interval_method: str = ""
    """What the intervals resampled (groups or videos), how often, with which seed."""
    warnings: list[str] = field(default_factory=list)
    """E.g. a split too small to tell models apart."""
    calibration: dict[str, float] = field(default_factory=dict)
    """``temperature`` (fitted on the validation split) and the ``ece_before`` / ``ece_after``
    temperature scaling of these videos (see :mod:`vidclass.evaluation.calibration`); empty when not calibrated."""

    @property
    def correct(self) -> int:
        """How many videos were classified correctly (the trace of the confusion matrix)."""
        return int(np.trace(np.asarray(self.confusion)))

    def normalized_confusion(self) -> list[list[float]]:
        """The confusion matrix with each row divided by its total (rows of absent classes stay 0)."""
        counts = np.asarray(self.confusion, dtype=np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0).tolist()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (top-k keys as strings) with the row-normalised confusion matrix added."""
        return {
            "split": self.split,
            "videos": self.videos,
            "groups": self.groups,
            "labels": list(self.labels),
            "accuracy": self.accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "top_k": {str(k): v for k, v in self.top_k.items()},
            "per_class": self.per_class,
            "averages": self.averages,
            "confusion": self.confusion,
            "confusion_normalized": self.normalized_confusion(),
            "notes": list(self.notes),
            "intervals": {name: list(bounds) for name, bounds in self.intervals.items()},
            "interval_method": self.interval_method,
            "warnings": list(self.warnings),
            "calibration": dict(self.calibration),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        """Rebuild an evaluation from :meth:`to_dict` output (e.g. a loaded metrics.json)."""
        try:
            return cls(
                labels=list(data["labels"]),
                split=str(data["split"]),
                videos=int(data["videos"]),
                groups=None if data["groups"] is None else int(data["groups"]),
                accuracy=float(data["accuracy"]),
                top_k={int(k): float(v) for k, v in data["top_k"].items()},
                mean_class_accuracy=float(data["mean_class_accuracy"]),
                per_class={name: dict(row) for name, row in data["per_class"].items()},
                confusion=[[int(c) for c in row] for row in data["confusion"]],
                averages={name: dict(row) for name, row in data.get("averages", {}).items()},
                notes=[str(note) for note in data.get("notes", [])],
                intervals={
                    str(name): [float(bound) for bound in bounds] for name, bounds in data.get("intervals", {}).items()
                },
                interval_method=str(data.get("interval_method", "")),
                warnings=[str(warning) for warning in data.get("warnings", [])],
                calibration={str(name): float(value) for name, value in data.get("calibration", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ConfigError(f"not an evaluation dict (as written by Evaluation.to_dict): {error!r}") from error


def evaluate_predictions(
    y_true: Sequence[int],
    probabilities: np.ndarray,
    labels: Sequence[str],
    *,
    split: str,
    groups: Sequence[str | None] | None = None,
    top_k: Sequence[int] = (1, 3, 5),
    seed: int = 0,
) -> Evaluation:
    """Score class probabilities (N x C, rows sum to 1) against true class ids (N,).

    ``groups`` (one per video, ``None`` where unknown) counts the distinct known groups, so
    a report says how many independent sources its videos come from, and makes the 95 %
    bootstrap intervals (seeded by ``seed``) resample each group's videos together. A split
    below 50 videos or 5 groups gets a warning naming the width of its accuracy interval.
    """
    y, probs = _check_predictions(y_true, probabilities, labels)
    labels = list(labels)
    if not isinstance(split, str) or not split:
        raise ConfigError(f"split must be a non-empty name such as 'test', got {split!r}")
    ks = _check_top_k(top_k)
    predicted = probs.argmax(axis=1)
    classes = list(range(len(labels)))
    counts = confusion_matrix(y, predicted, labels=classes)
    report = classification_report(
        y, predicted, labels=classes, target_names=labels, output_dict=True, zero_division=0
    )
    support = counts.sum(axis=1)
    recall = np.diag(counts)[support > 0] / support[support > 0]
    shown_k = [k for k in ks if k == 1 or k < len(labels)]
    hits = {k: _top_k_hits(y, probs, k) for k in shown_k}
    group_count = _count_groups(groups, len(y))
    intervals, method = bootstrap_scores(y, predicted, hits, labels, groups, seed=seed)
    evaluation = Evaluation(
        labels=labels,
        split=split,
        videos=len(y),
        groups=group_count,
        accuracy=float(np.mean(predicted == y)),
        top_k={k: float(np.mean(hits[k])) for k in shown_k},
        mean_class_accuracy=float(recall.mean()),
        per_class={name: _report_row(report[name]) for name in labels},
        confusion=counts.tolist(),
        averages={name: _report_row(report[name]) for name in _AVERAGES},
        intervals={name: [bounds.low, bounds.high] for name, bounds in intervals.items()},
        interval_method=method,
    )
    nothing = learnt_nothing(y, predicted, labels)
    evaluation.warnings = _small_split_warnings(evaluation) + ([nothing] if nothing else [])
    return evaluation


def _small_split_warnings(evaluation: Evaluation) -> list[str]:
    """A warning when the split is too small to tell models apart (< 50 videos or < 5 groups)."""
    ev = evaluation
    few_groups = ev.groups is not None and ev.groups < SMALL_SPLIT_GROUPS
    if ev.videos >= SMALL_SPLIT_VIDEOS and not few_groups:
        return []
    size = f"{ev.videos} videos" + (f" from {ev.groups} groups" if ev.groups is not None else "")
    bounds = ev.intervals.get("accuracy")
    spread = (
        f"the {LEVEL:.0%} interval of accuracy is {bounds[1] - bounds[0]:.2f} wide ({bounds[0]:.2f}-{bounds[1]:.2f})"
        if bounds
        else "no interval can be computed"
    )
    return [
        f"split {ev.split!r} is too small to tell models apart ({size}; {spread}); "
        "compare approaches by grouped cross-validation with `vidclass compare`"
    ]


def write_evaluation(
    evaluation: Evaluation,
    out_dir: Path,
    *,
    paths: Sequence[str | Path],
    y_true: Sequence[int],
    probabilities: np.ndarray,
    groups: Sequence[str | None] | None = None,
) -> dict[str, Path]:
    """Write metrics.json, confusion_matrix.png and predictions.csv into ``out_dir``, atomically.

    ``y_true`` and ``probabilities`` must be the ones ``evaluation`` was computed from (checked
    against its confusion matrix). predictions.csv has one row per video: path, true and
    predicted class names, correct (1/0), the group when ``groups`` is given, and
    ``p_<class>`` for every class, written with the shortest digits that read back exactly.
    """
    y, probs = _check_predictions(y_true, probabilities, evaluation.labels)
    predicted = probs.argmax(axis=1)
    if len(paths) != len(y):
        raise ConfigError(f"paths has {len(paths)} entries but y_true has {len(y)} videos; give one path per video")
    if groups is not None and len(groups) != len(y):
        raise ConfigError(f"groups has {len(groups)} entries but y_true has {len(y)} videos; give one per video")
    counts = confusion_matrix(y, predicted, labels=list(range(len(evaluation.labels))))
    if counts.tolist() != evaluation.confusion:
        raise ConfigError(
            f"y_true and probabilities do not match the evaluation of split {evaluation.split!r} "
            "(their confusion matrices differ); pass the arrays the evaluation was computed from"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_text = json.dumps(evaluation.to_dict(), indent=2, allow_nan=False) + "\n"
    return {
        "metrics": write_atomic(out_dir / "metrics.json", lambda f: f.write(metrics_text.encode())),
        "confusion": write_atomic(
            out_dir / "confusion_matrix.png", lambda f: _confusion_figure(evaluation).savefig(f, format="png")
        ),
        "predictions": write_atomic(
            out_dir / "predictions.csv",
            lambda f: f.write(_predictions_csv(evaluation.labels, paths, y, predicted, probs, groups).encode()),
        ),
    }


def plot_training_curves(metrics_csv: Path, out_png: Path, *, best_epoch: int | None = None) -> Path:
    """Plot loss and accuracy per epoch, train and validation, from a Lightning CSVLogger file.

    Lightning writes one row per logging call, so train and validation values of an epoch
    sit on separate rows with the other cells empty; see :func:`read_training_curves`.
    ``best_epoch`` draws a marker line at the epoch that was kept.
    """
    from matplotlib.figure import Figure

    metrics_csv, out_png = Path(metrics_csv), Path(out_png)
    series = read_training_curves(metrics_csv)
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, kind, title in zip(fig.subplots(1, 2), ("loss", "acc"), ("Loss", "Accuracy")):
        _plot_curves(ax, {phase: series.get(f"{phase}_{kind}", {}) for phase in ("train", "val")}, title, best_epoch)
        if kind == "acc":
            ax.set_ylim(-0.02, 1.02)  # the whole range, so a small gain does not look like a big one
    fig.suptitle(f"Training curves: {metrics_csv.resolve().parent.name}/{metrics_csv.name}")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out_png, lambda f: fig.savefig(f, format="png"))


def read_training_curves(metrics_csv: Path) -> dict[str, dict[int, float]]:
    """Per-epoch values from a Lightning CSVLogger metrics.csv: ``{"val_loss": {epoch: value}, ...}``.

    Keys are those of ``train_loss``, ``val_loss``, ``train_acc`` and ``val_acc`` that were
    logged, under whichever spelling (``val/accuracy``, ``train_loss_epoch``...). Per metric
    the ``*_epoch`` column is preferred, then the plain name, then ``*_step`` (averaged over
    the epoch's rows); empty cells are skipped.
    """
    metrics_csv = Path(metrics_csv)
    try:
        with open(metrics_csv, newline="") as file:
            reader = csv.DictReader(file)
            columns = reader.fieldnames or []
            rows = list(reader)
    except OSError as error:
        raise VidclassError(f"{metrics_csv}: cannot read the training metrics CSV ({error.strerror})") from error
    if "epoch" not in columns:
        raise VidclassError(f"{metrics_csv}: no 'epoch' column; expected a Lightning CSVLogger metrics.csv")
    chosen: dict[str, tuple[int, str]] = {}
    for column in columns:
        match = _CURVE_COLUMN.match(column)
        if match:
            key = f"{'train' if match[1] == 'train' else 'val'}_{'loss' if match[2] == 'loss' else 'acc'}"
            rank = _SUFFIX_PREFERENCE[match[3] or ""]
            if key not in chosen or rank < chosen[key][0]:
                chosen[key] = (rank, column)
    if not chosen:
        raise VidclassError(
            f"{metrics_csv}: no train/val loss or accuracy columns (found {', '.join(columns) or 'none'}); "
            "expected names like train_loss, val_loss, train_acc, val_acc"
        )
    series: dict[str, dict[int, float]] = {}
    for key, (_, column) in chosen.items():
        values: dict[int, list[float]] = defaultdict(list)
        for line, row in enumerate(rows, start=2):
            epoch, value = row.get("epoch") or "", row.get(column) or ""
            if epoch.strip() and value.strip():
                try:
                    values[int(float(epoch))].append(float(value))
                except ValueError as error:
                    raise VidclassError(f"{metrics_csv}, line {line}: not a number in '{column}' or 'epoch'") from error
        series[key] = {epoch: float(np.mean(v)) for epoch, v in sorted(values.items())}
    return series


def format_evaluation(evaluation: Evaluation) -> str:
    """A short plain-text report: split and sample size, headline scores, per-class table, confusion matrix."""
    ev = evaluation
    groups = "groups unknown" if ev.groups is None else f"{ev.groups} group{'s' if ev.groups != 1 else ''}"
    scores = [("accuracy", f"{ev.accuracy:.4f}", "accuracy", f"  ({ev.correct}/{ev.videos})")]
    scores.append(("mean class accuracy", f"{ev.mean_class_accuracy:.4f}", "mean_class_accuracy", ""))
    scores += [(f"top-{k} accuracy", f"{v:.4f}", f"top_{k}_accuracy", "") for k, v in ev.top_k.items() if k != 1]
    scores += [
        (f"{kind} F1", f"{ev.averages[f'{kind} avg']['f1']:.4f}", f"{kind}_f1", "")
        for kind in ("macro", "weighted")
        if f"{kind} avg" in ev.averages
    ]
    lines = [f"Split {ev.split!r}: {ev.videos} video{'s' if ev.videos != 1 else ''}, {groups}"]
    lines += [f"  ({note})" for note in ev.notes]
    lines += [f"  {name:<20} {value}{extra}{_interval_text(ev, key)}" for name, value, key, extra in scores]
    if ev.interval_method:
        lines.append(f"  ({LEVEL:.0%} intervals: {ev.interval_method})" if ev.intervals else f"  ({ev.interval_method})")
    if ev.calibration:
        c = ev.calibration
        lines.append(
            f"  calibration: temperature {c['temperature']:.3g} (fitted on validation), "
            f"expected calibration error {c['ece_before']:.3f} -> {c['ece_after']:.3f}"
        )
    lines += [f"  warning: {warning}" for warning in ev.warnings]
    absent = [name for name in ev.labels if ev.per_class[name]["support"] == 0]
    if absent:
        lines.append(f"  no videos of {', '.join(absent)}: left out of mean class accuracy, 0 in macro avg")
    width = max(len(name) for name in [*ev.labels, *ev.averages, "class"])
    lines += ["", f"{'class':<{width}}  precision  recall      f1  support  f1 {LEVEL:.0%} interval"]
    for name, row in [*ev.per_class.items(), *ev.averages.items()]:
        p, r, f, n = row["precision"], row["recall"], row["f1"], row["support"]
        key = f"f1/{name}" if name in ev.per_class else f"{name.split()[0]}_f1"
        lines.append(f"{name:<{width}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {n:7d}{_interval_text(ev, key, '  ')}")
    cells = [max(len(name), *(len(str(row[j])) for row in ev.confusion)) for j, name in enumerate(ev.labels)]
    lines += ["", "confusion matrix (rows = true, columns = predicted)"]
    lines.append(" " * width + "  " + "  ".join(f"{name:>{c}}" for name, c in zip(ev.labels, cells)))
    for name, row in zip(ev.labels, ev.confusion):
        lines.append(f"{name:<{width}}  " + "  ".join(f"{count:>{c}d}" for count, c in zip(row, cells)))
    return "\n".join(lines)


def _interval_text(evaluation: Evaluation, key: str, prefix: str = "  95% CI ") -> str:
    """``  95% CI 0.61-0.83`` for a score with an interval, else nothing."""
    bounds = evaluation.intervals.get(key)
    return f"{prefix}{bounds[0]:.2f}-{bounds[1]:.2f}" if bounds else ""


def _check_predictions(
    y_true: Sequence[int], probabilities: np.ndarray, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the shapes and values of one split's inputs; return them as arrays."""
    labels = list(labels)
    if len(labels) < 2:
        raise ConfigError(f"labels must name at least 2 classes, got {labels!r}")
    duplicates = sorted({name for name in labels if labels.count(name) > 1})
    if duplicates:
        raise ConfigError(f"labels must be unique, repeated: {', '.join(map(str, duplicates))}")
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) == 0:
        raise ConfigError(f"y_true must be a non-empty 1-D sequence of class ids, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ConfigError(f"y_true must hold integer class ids, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= len(labels):
        bad = int(y.min() if y.min() < 0 else y.max())
        raise ConfigError(
            f"y_true holds class id {bad}, but there are {len(labels)} labels (ids 0 to {len(labels) - 1})"
        )
    probs = np.asarray(probabilities)
    if probs.ndim != 2 or probs.shape != (len(y), len(labels)):
        raise ConfigError(
            f"probabilities must be videos x classes = {len(y)} x {len(labels)} "
            f"(len(y_true) x len(labels)), got shape {probs.shape}"
        )
    if probs.dtype.kind in "biu":
        probs = probs.astype(np.float64)
    if probs.dtype.kind != "f" or not np.isfinite(probs).all():
        raise ConfigError(f"probabilities must be finite numbers, got dtype {probs.dtype} with NaN/inf or non-numbers")
    sums = probs.sum(axis=1, dtype=np.float64)
    if probs.min() < 0 or not np.allclose(sums, 1.0, atol=_SUM_TOLERANCE):
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ConfigError(
            f"probabilities must be non-negative with rows summing to 1 (row {worst} sums to {sums[worst]:.6g}); "
            "apply a softmax to logits first"
        )
    return y.astype(np.int64), probs


def _check_top_k(top_k: Sequence[int]) -> list[int]:
    """Sorted distinct k values, always with 1; each must be a positive integer."""
    ks = {1}
    for k in top_k:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"top_k values must be positive integers, got {k!r} in {list(top_k)!r}")
        ks.add(int(k))
    return sorted(ks)


def _top_k_hits(y: np.ndarray, probs: np.ndarray, k: int) -> np.ndarray:
    """Per video: is the true class among the k most probable, ties to the lower id.

    Hand-written rather than sklearn's ``top_k_accuracy_score``, which breaks ties towards
    the higher id (so its top-1 could disagree with the arg-max accuracy).
    """
    ranked = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return (ranked == y[:, None]).any(axis=1)


def _count_groups(groups: Sequence[str | None] | None, videos: int) -> int | None:
    """How many distinct known groups; None when no group is known."""
    if groups is None:
        return None
    if len(groups) != videos:
        raise ConfigError(f"groups has {len(groups)} entries but y_true has {videos} videos; give one per video")
    known = {g for g in groups if g is not None}
    return len(known) or None


def _report_row(row: dict[str, float]) -> dict[str, float | int]:
    """One classification_report row with plain Python numbers and the key ``f1``."""
    return {
        "precision": float(row["precision"]),
        "recall": float(row["recall"]),
        "f1": float(row["f1-score"]),
        "support": int(row["support"]),
    }


def _predictions_csv(
    labels: Sequence[str],
    paths: Sequence[str | Path],
    y: np.ndarray,
    predicted: np.ndarray,
    probs: np.ndarray,
    groups: Sequence[str | None] | None,
) -> str:
    """predictions.csv as text; probabilities keep their dtype's shortest exact repr."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    group_column = ["group"] if groups is not None else []
    writer.writerow(["path", "true", "predicted", "correct", *group_column, *(f"p_{name}" for name in labels)])
    for i, path in enumerate(paths):
        group = [groups[i] if groups[i] is not None else ""] if groups is not None else []
        writer.writerow(
            [str(path), labels[y[i]], labels[predicted[i]], int(y[i] == predicted[i]), *group, *map(str, probs[i])]
        )
    return buffer.getvalue()


def _confusion_figure(evaluation: Evaluation) -> Figure:
    """Two panels, counts and % of each true class, sized so 2..~20 class names stay readable.

    Long or many names are written vertically under the matrix; beyond 6 classes zero cells
    are left blank so the errors stand out. Beyond ~30 classes the size stops growing and
    cell values are left out (the JSON has them); the picture then only shows the pattern.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n = len(evaluation.labels)
    longest = max(len(name) for name in evaluation.labels)
    side = float(np.clip(0.45 * n + 0.08 * longest + 1.0, 3.5, _MAX_PANEL_INCHES))
    fig = Figure(figsize=(2 * side + 1.5, side), layout="constrained")
    text_size = float(np.clip(18.0 * side / n, 6.0, 12.0))
    tick_size = float(np.clip(40.0 * side / n, 3.0, 10.0))
    percent = np.asarray(evaluation.normalized_confusion()) * 100.0
    panels = (
        (np.asarray(evaluation.confusion), "d", {}, "Counts"),
        (percent, ".0f", {"vmin": 0.0, "vmax": 100.0}, "% of each true class"),
    )
    for ax, (matrix, fmt, im_kw, title) in zip(fig.subplots(1, 2), panels):
        display = ConfusionMatrixDisplay(matrix, display_labels=evaluation.labels).plot(
            ax=ax,
            include_values=n <= _MAX_CLASSES_WITH_VALUES,
            values_format=fmt,
            colorbar=False,
            xticks_rotation="vertical" if n > 6 or longest > 8 else "horizontal",
            im_kw={"cmap": "Blues", **im_kw},
            text_kw={"fontsize": text_size},
        )
        ax.tick_params(labelsize=tick_size)
        if 6 < n <= _MAX_CLASSES_WITH_VALUES:
            for text, value in zip(display.text_.ravel(), matrix.ravel()):
                text.set_visible(value != 0)
        fig.colorbar(display.im_, ax=ax, shrink=0.8).ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
    groups = "" if evaluation.groups is None else f", {evaluation.groups} groups"
    fig.suptitle(
        f"{evaluation.split}: {evaluation.videos} videos{groups}, accuracy {evaluation.accuracy:.3f}"
        f"{_interval_text(evaluation, 'accuracy', ' (95% CI ')}{')' if 'accuracy' in evaluation.intervals else ''}, "
        f"mean class accuracy {evaluation.mean_class_accuracy:.3f}"
    )
    return fig


def _plot_curves(ax: Axes, curves: dict[str, dict[int, float]], title: str, best_epoch: int | None) -> None:
    """One panel: train and validation values against the epoch."""
    from matplotlib.ticker import MaxNLocator

    for phase, style in (("train", "o-"), ("val", "s--")):
        points = curves[phase]
        if points:
            ax.plot(list(points), list(points.values()), style, label="train" if phase == "train" else "validation")
    if best_epoch is not None and any(curves.values()):
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
    if any(curves.values()):
        ax.legend()
    else:
        ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center", va="center", color="grey")
    ax.set(title=title, xlabel="epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


