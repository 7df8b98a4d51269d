"""Labels over time for a long video: rolling averaging, segments, JSON/CSV and a plot.

Model-independent: everything here works on window times and class probabilities, so
offline sliding-window prediction and a live stream share the same smoothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidclass.errors import ConfigError
from vidclass.util.atomic import write_atomic


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"smooth_k must be an integer >= 1 (1 = no smoothing), got {k!r}")
    return int(k)


def _as_probabilities(probabilities: Any, name: str = "probabilities") -> np.ndarray:
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (windows, classes), got shape {array.shape}")
    return array


def rolling_average(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Row ``i`` of the result is the mean of rows ``max(0, i-k+1) .. i``.

    This is "rolling prediction averaging": each window's prediction is averaged with
    the ``k - 1`` before it, which removes label flicker between neighbouring windows.
    It is causal (uses no future windows), so a live stream can apply it too; see
    :class:`RollingAverage`. ``k=1`` returns the input unchanged (as float64).
    """
    k = _check_k(k)
    p = _as_probabilities(probabilities)
    if k == 1 or len(p) == 0:
        return p.copy()
    cumulative = np.cumsum(np.vstack([np.zeros((1, p.shape[1])), p]), axis=0)
    index = np.arange(1, len(p) + 1)
    lower = np.maximum(index - k, 0)
    return (cumulative[index] - cumulative[lower]) / (index - lower)[:, None]


class RollingAverage:
    """Streaming :func:`rolling_average`: feed one prediction at a time, O(k * C) memory."""

    def __init__(self, k: int) -> None:
        self.k = _check_k(k)
        self._buffer: np.ndarray | None = None
        self._count = 0

    def update(self, probabilities: np.ndarray) -> np.ndarray:
        """Add one (C,) prediction; return the mean of the last ``k`` (C,) predictions."""
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 1:
            raise ValueError(f"RollingAverage.update expects one (classes,) vector, got shape {p.shape}")
        if self._buffer is None:
            self._buffer = np.zeros((self.k, p.shape[0]))
        elif p.shape[0] != self._buffer.shape[1]:
            raise ValueError(f"RollingAverage got {p.shape[0]} classes after {self._buffer.shape[1]}")
        self._buffer[self._count % self.k] = p
        self._count += 1
        return self._buffer[: min(self._count, self.k)].mean(axis=0)

    def reset(self) -> None:
        """Forget all past predictions (e.g. at a scene cut or a new stream)."""
        self._buffer = None
        self._count = 0


@dataclass(frozen=True)
class Segment:
    """A run of consecutive windows with the same top label."""

    start: float
    end: float
    label: str
    mean_probability: float  # mean probability of ``label`` over the run's windows
    windows: int


def _check_windows(starts: Any, ends: Any, probabilities: Any, labels: Sequence[str]):
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    p = _as_probabilities(probabilities)
    n, c = p.shape
    if starts.shape != (n,) or ends.shape != (n,):
        raise ValueError(
            f"starts {starts.shape} and ends {ends.shape} must be ({n},), one per row of probabilities"
        )
    if len(labels) != c:
        raise ValueError(f"{len(labels)} labels for {c} probability columns")
    if np.any(ends < starts) or np.any(np.diff(starts) < 0):
        raise ValueError("windows must have end >= start and be sorted by start time")
    return starts, ends, p


def segments(
    starts: np.ndarray, ends: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]
) -> list[Segment]:
    """Merge consecutive windows with the same argmax label into segments.

    Segments tile ``[starts[0], ends[-1]]`` without gaps or overlap: the boundary
    between two windows of different labels lies halfway between their centres, so
    overlapping sliding windows still give contiguous segments (and back-to-back
    windows put it exactly where one ends and the next starts).
    """
    starts, ends, p = _check_windows(starts, ends, probabilities, labels)
    if len(p) == 0:
        return []
    top = p.argmax(axis=1)
    centres = (starts + ends) / 2
    change = np.flatnonzero(top[1:] != top[:-1]) + 1  # first window of each new run
    firsts = np.concatenate([[0], change])
    lasts = np.concatenate([change - 1, [len(p) - 1]])
    result = []
    for first, last in zip(firsts, lasts):
        start = starts[0] if first == 0 else (centres[first - 1] + centres[first]) / 2
        end = ends[-1] if last == len(p) - 1 else (centres[last] + centres[last + 1]) / 2
        cls = top[first]
        result.append(
            Segment(
                start=float(start),
                end=float(end),
                label=labels[cls],
                mean_probability=float(p[first : last + 1, cls].mean()),
                windows=int(last - first + 1),
            )
        )
    return result


@dataclass(eq=False)  # numpy fields: compare the arrays yourself
class TimelineResult:
    """The labels of a long video over time, as written to JSON and CSV.

    ``raw`` holds one probability row per window, ``smoothed`` the same after rolling
    averaging over ``smooth_k`` windows; ``segments`` come from ``smoothed``.
    ``skipped_frames`` counts frames that could not be decoded and were left out. With ``values``
    (a regression model) the columns are values, one per output in ``labels``, and there are no segments.
    """

    labels: list[str]
    starts: np.ndarray
    ends: np.ndarray
    raw: np.ndarray
    smoothed: np.ndarray
    segments: list[Segment]
    smooth_k: int
    skipped_frames: int = 0
    values: bool = False

    def __post_init__(self) -> None:
        self.labels = [str(label) for label in self.labels]
        self.starts, self.ends, self.raw = _check_windows(self.starts, self.ends, self.raw, self.labels)
        self.smoothed = _as_probabilities(self.smoothed, "smoothed")
        if self.smoothed.shape != self.raw.shape:
            raise ValueError(f"smoothed {self.smoothed.shape} and raw {self.raw.shape} must have the same shape")
        self.smooth_k = _check_k(self.smooth_k)

    @classmethod
    def from_probabilities(
        cls,
        labels: Sequence[str],
        starts: np.ndarray,
        ends: np.ndarray,
        raw: np.ndarray,
        smooth_k: int,
        skipped_frames: int = 0,
        values: bool = False,
    ) -> TimelineResult:
        """Smooth ``raw`` over ``smooth_k`` windows and cut the result into segments (values: none)."""
        smoothed = rolling_average(raw, smooth_k)
        return cls(
            labels=list(labels),
            starts=np.asarray(starts, dtype=np.float64),
            ends=np.asarray(ends, dtype=np.float64),
            raw=np.asarray(raw, dtype=np.float64),
            smoothed=smoothed,
            segments=[] if values else segments(starts, ends, smoothed, labels),
            smooth_k=smooth_k,
            skipped_frames=skipped_frames,
            values=values,
        )

    @property
    def window_labels(self) -> list[str]:
        """The smoothed top label of each window (values: the first output's smoothed value)."""
        if self.values:
            return [f"{row[0]:.4g}" for row in self.smoothed]
        return [self.labels[i] for i in self.smoothed.argmax(axis=1)] if len(self.smoothed) else []

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows of a text summary: the segments, or with values each window's smoothed values."""
        if self.values:
            return (["start", "end", *self.labels],
                    [[f"{s:.2f}", f"{e:.2f}", *(f"{v:.4g}" for v in m)]
                     for s, e, m in zip(self.starts, self.ends, self.smoothed)])
        return (["start", "end", "label", "mean p"],
                [[f"{seg.start:.2f}", f"{seg.end:.2f}", seg.label, f"{seg.mean_probability:.3f}"]
                 for seg in self.segments])

    def to_dict(self) -> dict:
        """Plain JSON-able data: settings, one record per window, and the segments."""
        return {
            "labels": list(self.labels),
            "smooth_k": self.smooth_k,
            "skipped_frames": self.skipped_frames,
            **({"values": True} if self.values else {}),
            "windows": [
                {
                    "start": float(s),
                    "end": float(e),
                    "label": label,
                    "raw": [float(x) for x in r],
                    "smoothed": [float(x) for x in m],
                }
                for s, e, label, r, m in zip(self.starts, self.ends, self.window_labels, self.raw, self.smoothed)
            ],
            "segments": [asdict(segment) for segment in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict) -> TimelineResult:
        """Inverse of :meth:`to_dict`."""
        windows = data["windows"]
        n_classes = len(data["labels"])
        return cls(
            labels=data["labels"],
            starts=np.array([w["start"] for w in windows], dtype=np.float64),
            ends=np.array([w["end"] for w in windows], dtype=np.float64),
            raw=np.array([w["raw"] for w in windows], dtype=np.float64).reshape(-1, n_classes),
            smoothed=np.array([w["smoothed"] for w in windows], dtype=np.float64).reshape(-1, n_classes),
            segments=[Segment(**s) for s in data["segments"]],
            smooth_k=data["smooth_k"],
            skipped_frames=data.get("skipped_frames", 0),
            values=bool(data.get("values", False)),
        )

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as indented JSON, atomically."""
        return write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read_json(cls, path: str | Path) -> TimelineResult:
        """Read a file written by :meth:`write_json`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a vidclass timeline JSON file ({error!r})") from error

    def write_csv(self, path: str | Path) -> Path:
        """One row per window: ``start,end,label,raw_<class>...,smooth_<class>...``, atomically.

        Numbers are written at full precision, so reading them back gives the same floats.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["start", "end", "label"] + [f"raw_{c}" for c in self.labels] + [f"smooth_{c}" for c in self.labels]
        )
        for s, e, label, r, m in zip(self.starts, self.ends, self.window_labels, self.raw, self.smoothed):
            writer.writerow([float(s), float(e), label, *r.tolist(), *m.tolist()])  # csv writes repr(float)
        return write_atomic(path, buffer.getvalue())


def plot_timeline(result: TimelineResult, out_png: str | Path, *, max_classes: int = 10) -> Path:
    """Plot class probabilities over time and a band of coloured segments to a PNG.

    Smoothed probabilities are solid lines, raw ones faint lines of the same colour.
    With many classes only the ``max_classes`` with the highest smoothed peak are drawn
    (every segment label is always drawn). Uses matplotlib's Agg canvas directly, so it
    needs no display and leaves pyplot's global state alone. A timeline of values (a regression
    model) is drawn as its values over time instead (:func:`_plot_values`).
    """
    if result.values:
        return _plot_values(result, out_png)
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    times = (result.starts + result.ends) / 2
    n_classes = len(result.labels)
    peak = result.smoothed.max(axis=0) if len(times) else np.zeros(n_classes)
    in_segments = {result.labels.index(s.label) for s in result.segments}
    ranked = [int(i) for i in np.argsort(-peak, kind="stable")]
    shown = sorted(set(ranked[:max_classes]) | in_segments)
    colormap = colormaps["tab10" if n_classes <= 10 else "tab20"]
    colors = [colormap(i % colormap.N) for i in range(n_classes)]

    fig = Figure(figsize=(10, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes, band = fig.subplots(2, 1, sharex=True, height_ratios=[5, 1])
    for i in shown:
        axes.plot(times, result.raw[:, i], color=colors[i], alpha=0.25, linewidth=1)
        axes.plot(times, result.smoothed[:, i], color=colors[i], linewidth=2, label=result.labels[i])
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("probability")
    axes.set_title(f"class probabilities over time (solid: rolling mean of {result.smooth_k}, faint: raw)")
    if shown:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    duration = result.ends[-1] - result.starts[0] if len(times) else 0.0
    for segment in result.segments:
        i = result.labels.index(segment.label)
        width = segment.end - segment.start
        band.broken_barh([(segment.start, width)], (0, 1), facecolors=colors[i])
        if width > 0.06 * duration:  # name only the segments wide enough to hold it
            band.text(segment.start + width / 2, 0.5, segment.label, ha="center", va="center", fontsize="small")
    band.set_yticks([])
    band.set_ylabel("label", rotation=0, ha="right", va="center")
    band.set_xlabel("time (s)")
    if len(times):
        band.set_xlim(result.starts[0], result.ends[-1])

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(out_png, buffer.getvalue())


def _plot_values(result: TimelineResult, out_png: str | Path) -> Path:
    """Each output's value over time: smoothed solid, raw faint."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    times = (result.starts + result.ends) / 2
    fig = Figure(figsize=(10, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots()
    for i, name in enumerate(result.labels):
        line = axes.plot(times, result.smoothed[:, i], linewidth=2, label=name)[0]
        axes.plot(times, result.raw[:, i], color=line.get_color(), alpha=0.3, linewidth=1)
    axes.set_xlabel("time (s)")
    axes.set_ylabel(result.labels[0] if len(result.labels) == 1 else "value")
    axes.set_title(f"estimated value over time (solid: rolling mean of {result.smooth_k}, faint: raw)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return write_atomic(out_png, buffer.getvalue())
