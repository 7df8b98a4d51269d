"""Action-segmentation metrics of a predicted timeline against labeled segments.

The usual ones (as in MS-TCN's ``eval.py``, Farha & Gall 2019, after Lea et al. 2017), on
label sequences sampled at a fixed rate:

- frame-level accuracy: the share of scored samples whose predicted label is the true one;
- per-class recall: the same within the samples of each true class;
- segment F1 at IoU tau (0.1, 0.25, 0.5): each predicted segment is a true positive when its
  IoU with a true segment of its class that no earlier prediction matched reaches tau; precision
  and recall over segments give F1;
- edit score: 100 x (1 - Levenshtein distance of the two segment label sequences / the longer).

Samples whose truth is unknown (``IGNORE``: unlabeled time when there is no background class,
or time the model trained on) are left out of all of them; they also split segments, as the
background class does in MS-TCN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

IGNORE = -1
IOU_THRESHOLDS = (0.1, 0.25, 0.5)


def runs(labels: np.ndarray, ignore: int = IGNORE) -> list[tuple[int, int, int]]:
    """``(label, first, end)`` of each run of equal labels (end exclusive), runs of ``ignore`` left out."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    return [(int(labels[s]), int(s), int(e)) for s, e in zip(starts, ends) if labels[s] != ignore]


def segment_f1(predicted: np.ndarray, truth: np.ndarray, iou: float) -> float:
    """Segment F1 (0-1) at IoU threshold ``iou``: greedy matching in predicted order, as MS-TCN."""
    p, t = runs(predicted), runs(truth)
    used = [False] * len(t)
    tp = 0
    for label, start, end in p:
        best, index = 0.0, -1
        for j, (true_label, s, e) in enumerate(t):
            if true_label != label:
                continue
            inter = min(end, e) - max(start, s)
            union = max(end, e) - min(start, s)
            score = inter / union if inter > 0 else 0.0
            if score > best:
                best, index = score, j
        if best >= iou and not used[index]:
            tp += 1
            used[index] = True
    fp, fn = len(p) - tp, len(t) - tp
    precision = tp / (tp + fp) if p else 0.0
    recall = tp / (tp + fn) if t else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def edit_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    """100 x (1 - normalised Levenshtein distance) of the segment label sequences."""
    a = [label for label, _, _ in runs(predicted)]
    b = [label for label, _, _ in runs(truth)]
    if not a and not b:
        return 100.0
    d = np.zeros((len(a) + 1, len(b) + 1))
    d[:, 0] = np.arange(len(a) + 1)
    d[0, :] = np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    return float((1 - d[-1, -1] / max(len(a), len(b))) * 100)


@dataclass
class SegmentEvaluation:
    """Segment metrics over one or more recordings (samples pooled; segments counted per recording)."""

    labels: list[str]
    recordings: int
    scored_seconds: float
    rate: float  # samples per second
    frame_accuracy: float
    per_class_recall: dict[str, float | None]
    f1: dict[str, float]  # "0.1" -> F1 x 100
    edit: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        f1 = "  ".join(f"F1@{k} {v:.1f}" for k, v in self.f1.items())
        lines = [f"timeline vs ground truth: {self.recordings} recordings, {self.scored_seconds / 60:.1f} min scored "
                 f"({self.rate:g} samples/s)",
                 f"frame accuracy {self.frame_accuracy:.3f}  edit {self.edit:.1f}  {f1}"]
        lines += [f"  recall {label}: " + (f"{r:.3f}" if r is not None else "-")
                  for label, r in self.per_class_recall.items()]
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def evaluate_sequences(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], labels: Sequence[str], *, rate: float
) -> SegmentEvaluation:
    """Metrics of ``(predicted, truth)`` class-id sequences, one pair per recording (``IGNORE`` where
    the truth is unknown). F1 and edit are averaged over recordings, weighted by scored samples."""
    predicted = np.concatenate([p for p, _ in pairs]) if pairs else np.zeros(0, int)
    truth = np.concatenate([t for _, t in pairs]) if pairs else np.zeros(0, int)
    scored = truth != IGNORE
    weights = np.array([(t != IGNORE).sum() for _, t in pairs], dtype=float)
    weights = weights / weights.sum() if weights.sum() else weights

    def averaged(score) -> float:
        return float(sum(w * score(p, t) for w, (p, t) in zip(weights, pairs)))

    recall = {}
    for i, label in enumerate(labels):
        mask = truth == i
        recall[label] = float((predicted[mask] == i).mean()) if mask.any() else None
    return SegmentEvaluation(
        labels=list(labels), recordings=len(pairs), scored_seconds=float(scored.sum() / rate), rate=rate,
        frame_accuracy=float((predicted[scored] == truth[scored]).mean()) if scored.any() else 0.0,
        per_class_recall=recall,
        f1={f"{iou:g}": 100 * averaged(lambda p, t, iou=iou: segment_f1(_masked(p, t), t, iou))
            for iou in IOU_THRESHOLDS},
        edit=averaged(lambda p, t: edit_score(_masked(p, t), t)),
    )


def _masked(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Predictions with the samples of unknown truth ignored too, so both sides split there."""
    return np.where(truth == IGNORE, IGNORE, predicted)


def plot_segments(
    rows: Sequence[tuple[str, np.ndarray, np.ndarray]], labels: Sequence[str], rate: float, out_png
) -> None:
    """A PNG of true and predicted segments over time, two bands per recording (``(name, predicted, truth)``)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colormap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    fig = Figure(figsize=(10, 0.9 + 0.9 * len(rows)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (name, predicted, truth) in zip(axes, rows):
        for y, sequence in ((1, truth), (0, predicted)):
            bars = [((start / rate, (end - start) / rate), colormap(label % colormap.N)) for label, start, end in runs(sequence)]
            if bars:
                ax.broken_barh([b for b, _ in bars], (y + 0.1, 0.8), facecolors=[c for _, c in bars])
        ax.set_yticks([0.5, 1.5], ["predicted", "true"])
        ax.set_ylim(0, 2)
        ax.set_title(name, fontsize="small", loc="left")
    axes[-1].set_xlabel("time (s)")
    fig.legend(handles=[Patch(color=colormap(i % colormap.N), label=label) for i, label in enumerate(labels)],
               loc="outside right upper", fontsize="small", frameon=False)
    from pathlib import Path

    from vidclass.util.atomic import write_atomic

    write_atomic(Path(out_png), lambda f: fig.savefig(f, format="png"))
