"""A dataset described: every file probed, per-class counts, durations, frame rates and warnings,
for the `vidclass data` table or its JSON."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidclass.data.catalog import dataset_warnings, probe_all
from vidclass.data.items import SPLITS, Catalog, VideoItem
from vidclass.data.splits import Splits
from vidclass.errors import ConfigError
from vidclass.media.video import VideoInfo
from vidclass.media.video import probe as probe_video

# --- description ------------------------------------------------------------------------------


@dataclass
class ClassSummary:
    """One class: clips per part, groups, readable duration, frame rates and frame sizes seen."""

    label: str
    clips: dict[str, int]  # per part ("train"/"val"/"test"); empty when unsplit
    total: int
    groups: int
    duration_s: float
    fps_range: tuple[float, float] | None
    sizes: dict[str, int]  # "WxH" as the probe reports it -> clips, most common first


@dataclass
class DatasetSummary:
    """What ``describe`` found: enough for a table, and ``to_dict()`` for JSON."""

    root: Path
    source_format: str
    annotation: list[Path]
    labels: list[str]
    classes: list[ClassSummary]
    clips: int
    groups: int
    clips_per_split: dict[str, int]
    groups_per_split: dict[str, int]
    split_method: str | None
    seed: int | None
    total_duration_s: float
    readable: int
    unreadable: list[tuple[Path, str]]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        return {
            "root": str(self.root),
            "format": self.source_format,
            "annotation": [str(path) for path in self.annotation],
            "labels": list(self.labels),
            "clips": self.clips,
            "groups": self.groups,
            "clips_per_class": {c.label: c.total for c in self.classes},
            "clips_per_split": dict(self.clips_per_split),
            "clips_per_class_and_split": {c.label: dict(c.clips) for c in self.classes},
            "groups_per_class": {c.label: c.groups for c in self.classes},
            "groups_per_split": dict(self.groups_per_split),
            "split_method": self.split_method,
            "seed": self.seed,
            "total_duration_s": round(self.total_duration_s, 3),
            "duration_per_class_s": {c.label: round(c.duration_s, 3) for c in self.classes},
            "fps_range_per_class": {c.label: list(c.fps_range) if c.fps_range else None for c in self.classes},
            "sizes_per_class": {c.label: dict(c.sizes) for c in self.classes},
            "readable": self.readable,
            "unreadable": [{"path": str(path), "reason": reason} for path, reason in self.unreadable],
            "warnings": list(self.warnings),
        }


def describe(
    catalog: Catalog,
    splits: Splits | None = None,
    *,
    probe: Callable[[Path], VideoInfo] | None = None,
    workers: int = 4,
) -> DatasetSummary:
    """Probe every clip (``workers`` threads) and summarise classes, parts, groups and duration.

    ``probe`` defaults to ``vidclass.media.video.probe``; files it refuses with ``VideoReadError`` are
    listed as unreadable after ``catalog.problems`` (items :func:`drop_unreadable` probed are not
    probed again). Parts come from ``splits``, else from the dataset's own split, else the
    summary is unsplit.
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers!r}")
    unprobed = [item for item in catalog.items if item.path not in catalog.infos]
    infos, unreadable = probe_all(unprobed, probe or probe_video, workers)
    infos.update({item.path: catalog.infos[item.path] for item in catalog.items if item.path in catalog.infos})
    part_of = _parts_of(catalog, splits)
    names = [name for name in SPLITS if name in set(part_of.values())]
    classes = []
    for label in catalog.labels:
        items = [item for item in catalog.items if item.label == label]
        read = [infos[item.path] for item in items if item.path in infos]
        clips = Counter(part_of[item.path] for item in items if part_of.get(item.path))
        rates = [float(info.fps) for info in read if info.fps]
        classes.append(
            ClassSummary(
                label=label,
                clips={name: clips[name] for name in names},
                total=len(items),
                groups=len(_groups(items)),
                duration_s=sum(_duration(info) for info in read),
                fps_range=(min(rates), max(rates)) if rates else None,
                sizes=dict(Counter(f"{info.width}x{info.height}" for info in read).most_common()),
            )
        )
    return DatasetSummary(
        root=catalog.root,
        source_format=catalog.source_format,
        annotation=list(catalog.annotation),
        labels=list(catalog.labels),
        classes=classes,
        clips=len(catalog.items),
        groups=len(_groups(catalog.items)),
        clips_per_split={name: sum(part == name for part in part_of.values()) for name in names},
        groups_per_split={
            name: len(_groups(item for item in catalog.items if part_of.get(item.path) == name)) for name in names
        },
        split_method=splits.method if splits else ("given" if part_of else None),
        seed=splits.seed if splits else None,
        total_duration_s=sum(c.duration_s for c in classes),
        readable=len(infos),
        unreadable=[(problem.path, problem.reason) for problem in catalog.problems] + unreadable,
        warnings=dataset_warnings(catalog),
    )


def _groups(items: Iterable[VideoItem]) -> set[str]:
    return {item.group for item in items if item.group is not None}


def _parts_of(catalog: Catalog, splits: Splits | None) -> dict[Path, str]:
    if splits is not None:
        return {item.path: name for name, items in splits.parts().items() for item in items}
    return {item.path: item.split for item in catalog.items if item.split is not None}


def _duration(info: VideoInfo) -> float:
    """Seconds of a probed clip: its duration, else frames / fps, else 0."""
    if info.duration and math.isfinite(info.duration):
        return float(info.duration)
    return float(info.num_frames) / float(info.fps) if info.num_frames and info.fps else 0.0
