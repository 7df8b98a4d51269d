"""Shortcut warnings: when file metadata alone tells the classes apart.

A model learns whatever separates the classes, and the action is not always the easiest
thing: in fight_surv most noFight clips are 1280x720 and most fight clips 640x360. Frames
are resized to one size before any model sees them and fps is never a feature, but a
resolution leaves traces (sharpness, compression artifacts, black bars, logos) that survive
resizing. So ``vidclass data`` measures, per class, resolution, aspect ratio, fps,
duration, codec, file bitrate and letterboxing, and scores how well a small classifier (a
depth-3 decision tree) predicts the label from that metadata alone, under grouped
cross-validation (clips of one group never on both sides). Its mean class accuracy, with a
95 % bootstrap interval over groups, is compared with chance: a warning when it is above
chance by a clear margin (``MARGIN``) and the interval's low end is above chance too.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from vidclass.data.items import Catalog, VideoItem
from vidclass.errors import VidclassError
from vidclass.evaluation.intervals import bootstrap_scores, resampling_units
from vidclass.media import video

MARGIN = 0.10
"""How far above chance (mean class accuracy) metadata must predict the label to warn."""
FIELDS = ("resolution", "aspect", "fps", "duration", "codec", "bitrate", "letterbox")
_BAR_FRAMES = 3
_BAR_SIZE = 128  # short side the bar check decodes at
_DARK = 24  # 80th-percentile row / column brightness below which it is a black bar
_MIN_BAR = 0.03  # share of the height (width) each bar must cover


@dataclass(frozen=True)
class Metadata:
    """What one video's file says about it, apart from its content."""

    width: int
    height: int
    fps: float
    duration: float
    codec: str
    bitrate_kbps: float  # file size / duration: video and audio together
    bars: float  # share of the frame covered by black bars (letterbox or pillarbox), 0 without

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    @property
    def letterboxed(self) -> bool:
        return self.bars > 0


def black_bars(frames: np.ndarray) -> float:
    """Share of the frame covered by black bars on both opposite sides, in every given frame.

    A row (column) is black when its 80th-percentile brightness is below a threshold, so a
    logo or caption over up to a fifth of a bar does not hide it; bars count only when both opposite sides
    have one of at least 3 % of the height (width), as letterboxing and pillarboxing do.
    """
    gray = frames.astype(np.float32).mean(axis=-1)  # (T, H, W)
    dark_rows = (np.percentile(gray, 80, axis=2) < _DARK).all(axis=0)
    dark_columns = (np.percentile(gray, 80, axis=1) < _DARK).all(axis=0)
    covered = 0.0
    for dark in (dark_rows, dark_columns):
        first, last = _run(dark), _run(dark[::-1])
        if min(first, last) >= _MIN_BAR * len(dark) and first + last < len(dark):
            covered += (first + last) / len(dark)
    return covered


def _run(flags: np.ndarray) -> int:
    """Length of the leading run of True."""
    return int(np.argmin(flags)) if not flags.all() else len(flags)


def read_metadata(path: Path) -> Metadata:
    """Probe ``path`` and decode a few frames (small) for the black-bar check."""
    info = video.probe(path)
    indices = np.linspace(0, info.num_frames - 1, _BAR_FRAMES + 2)[1:-1].round().astype(np.int64)
    frames = video.read_frames(path, np.unique(indices), size=_BAR_SIZE, info=info)
    duration = info.duration or (info.num_frames / info.fps if info.fps else 0.0)
    bitrate = path.stat().st_size * 8 / 1000 / duration if duration else 0.0
    return Metadata(info.width, info.height, float(info.fps), float(duration), info.codec, bitrate, black_bars(frames))


@dataclass
class FieldScore:
    """How well metadata predicts the label: mean class accuracy of out-of-fold predictions."""

    fields: tuple[str, ...]
    score: float
    interval: tuple[float, float] | None

    def clear(self, chance: float) -> bool:
        """Above chance by the margin, and the interval's low end above chance too."""
        return self.score >= chance + MARGIN and (self.interval is None or self.interval[0] > chance)


@dataclass
class ShortcutReport:
    """Per-class metadata, the metadata classifier's scores and the warnings drawn from them."""

    labels: list[str]
    per_class: dict[str, dict[str, Any]]
    chance: float
    folds: int
    units: str  # what the CV keeps together: "32 groups", "221 videos" (no groups known)
    combined: FieldScore | None
    single: dict[str, FieldScore]
    warnings: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def score(s: FieldScore | None) -> dict[str, Any] | None:
            return None if s is None else {"score": round(s.score, 4), "interval": s.interval}

        return {
            "per_class": self.per_class,
            "chance": self.chance,
            "folds": self.folds,
            "units": self.units,
            "metadata_classifier": score(self.combined),
            "per_field": {name: score(s) for name, s in self.single.items()},
            "warnings": list(self.warnings),
        }


def _columns(meta: Metadata, codecs: dict[str, int]) -> dict[str, list[float]]:
    """The classifier's numeric columns of each field."""
    return {
        "resolution": [meta.width, meta.height],
        "aspect": [meta.aspect],
        "fps": [meta.fps],
        "duration": [meta.duration],
        "codec": [codecs[meta.codec]],
        "bitrate": [np.log1p(meta.bitrate_kbps)],
        "letterbox": [meta.bars],
    }


def _class_row(metas: Sequence[Metadata]) -> dict[str, Any]:
    """The per-class summary: most common resolution and codec, medians, letterboxed share."""
    if not metas:
        return {"videos": 0}
    sizes = Counter(f"{m.width}x{m.height}" for m in metas)
    size, count = sizes.most_common(1)[0]
    codec, codec_count = Counter(m.codec for m in metas).most_common(1)[0]
    return {
        "videos": len(metas),
        "resolution": size,
        "resolution_share": round(count / len(metas), 3),
        "resolutions": len(sizes),
        "aspect": round(statistics.median(m.aspect for m in metas), 3),
        "fps": round(statistics.median(m.fps for m in metas), 2),
        "duration_s": round(statistics.median(m.duration for m in metas), 2),
        "codec": codec,
        "codec_share": round(codec_count / len(metas), 3),
        "bitrate_kbps": round(statistics.median(m.bitrate_kbps for m in metas)),
        "letterboxed": round(sum(m.letterboxed for m in metas) / len(metas), 3),
    }


def _score(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, group_list: list[str | None], labels: list[str], folds: int
) -> FieldScore:
    """Out-of-fold predictions of a depth-3 tree under StratifiedGroupKFold, scored with an interval."""
    tree = DecisionTreeClassifier(max_depth=3, class_weight="balanced", random_state=0)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    predicted = cross_val_predict(tree, x, y, groups=groups, cv=splitter)
    present = np.unique(y)
    score = float(np.mean([np.mean(predicted[y == c] == c) for c in present]))
    intervals, _ = bootstrap_scores(y, predicted, {1: predicted == y}, labels, group_list)
    bounds = intervals.get("mean_class_accuracy")
    return FieldScore((), score, (bounds.low, bounds.high) if bounds else None)


def check_shortcuts(
    catalog: Catalog,
    *,
    read: Callable[[Path], Metadata] = read_metadata,
    workers: int = 4,
    folds: int = 5,
) -> ShortcutReport:
    """Per-class metadata of ``catalog`` and whether it alone predicts the label (see the module doc).

    Groups come from the catalog (a video without one is its own group). With fewer than 2
    groups per class no classifier is scored and the report says so.
    """
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda item: _safe_read(read, item), catalog.items))
    unreadable = {str(item.path): error for item, (_, error) in zip(catalog.items, results) if error is not None}
    kept = [(item, meta) for item, (meta, _) in zip(catalog.items, results) if meta is not None]
    labels = list(catalog.labels)
    per_class = {label: _class_row([m for item, m in kept if item.label == label]) for label in labels}
    present = sorted({item.label for item, _ in kept})
    chance = 1.0 / max(len(present), 1)
    group_list = [item.group for item, _ in kept]
    groups = np.array([item.group if item.group is not None else f"video:{item.path}" for item, _ in kept])
    y = np.array([labels.index(item.label) for item, _ in kept], dtype=np.int64)
    units_per_class = min((len(set(groups[y == c])) for c in np.unique(y)), default=0)
    folds = min(folds, units_per_class)
    units = resampling_units(group_list, len(group_list))[1] + ("" if any(g is not None for g in group_list)
                                                                else " (no groups known)")
    report = ShortcutReport(labels, per_class, chance, folds, units, None, {}, unreadable=unreadable)
    if len(present) < 2 or folds < 2:
        report.warnings.append(
            "too few groups per class to score metadata shortcuts (need 2 or more groups of every class)"
        )
        return report
    codecs = {codec: n for n, codec in enumerate(sorted({m.codec for _, m in kept}))}
    columns = [_columns(m, codecs) for _, m in kept]

    def matrix(names: Sequence[str]) -> np.ndarray:
        return np.array([[v for name in names for v in row[name]] for row in columns], dtype=np.float64)

    combined = _score(matrix(FIELDS), y, groups, group_list, labels, folds)
    report.combined = FieldScore(FIELDS, combined.score, combined.interval)
    for name in FIELDS:
        single = _score(matrix([name]), y, groups, group_list, labels, folds)
        report.single[name] = FieldScore((name,), single.score, single.interval)
    if report.combined.clear(chance):
        report.warnings.append(_warning(report))
    return report


def _safe_read(read: Callable[[Path], Metadata], item: VideoItem) -> tuple[Metadata | None, str | None]:
    try:
        return read(item.path), None
    except VidclassError as error:
        return None, str(error)


def _warning(report: ShortcutReport) -> str:
    """The warning: the score, the fields that predict the label, what vidclass does, what to check."""
    combined = report.combined
    assert combined is not None
    ranked = sorted(report.single.values(), key=lambda s: -s.score)
    named = [s for s in ranked if s.clear(report.chance)] or ranked[:2]
    fields = ", ".join(f"{s.fields[0]} ({s.score:.2f})" for s in named)
    low, high = combined.interval or (combined.score, combined.score)
    return (
        f"file metadata alone predicts the class: mean class accuracy {combined.score:.2f} "
        f"(95% CI {low:.2f}-{high:.2f}, chance {report.chance:.2f}) under {report.folds}-fold CV over "
        f"{report.units}, "
        f"mostly from {fields}. vidclass resizes every frame to one size and never feeds fps to a model, "
        "but a resolution, codec or bitrate leaves traces (sharpness, compression artifacts, black bars, logos) "
        "that a model can learn instead of the action: check that every class has videos from the same "
        "cameras and sources, and judge a model on a test set recorded apart"
    )
