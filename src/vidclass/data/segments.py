"""Labeled segments of long videos: a segment CSV read into a catalog of time ranges.

A segment CSV has ``path,start,end,label`` columns (names matched case-insensitively) and
optional ``group`` and ``split``; a file may have many rows. Times are seconds (``12.5``) or
``[HH:]MM:SS[.mmm]`` (``00:01:02.500``). Every row becomes a :class:`VideoItem` whose
``start``/``end`` say which part of the file it is. Rows of one file that overlap, end before
they start or run past the end of the video are errors naming the CSV line(s) and the file.

Unlabeled time is ignored, or with ``background="background"`` (any name) becomes items of
that class, so a model also learns "none of the above". Items without a group get their
file as group: segments of one recording share its scene and must stay on one side of a
split (see :mod:`vidclass.data.recordings` for splits of few recordings by time blocks).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from vidclass.data.formats import csv_delimiter, read_text_file
from vidclass.data.items import Catalog, Problem, VideoItem, split_of_name
from vidclass.errors import DatasetError, VideoReadError
from vidclass.media.video import VideoInfo
from vidclass.media.video import probe as probe_video

_REQUIRED = ("path", "start", "end", "label")
_OPTIONAL = ("group", "split")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_TOLERANCE_S = 0.05  # a segment may end this much past the probed duration (rounding in annotations)


def parse_time(text: str) -> float:
    """Seconds from ``12.5``, ``1:02.5`` or ``00:01:02.500``; ValueError when it is neither."""
    text = text.strip()
    match = _CLOCK.match(text)
    if match:
        hours, minutes, seconds = match.groups()
        if int(minutes) >= 60 or float(seconds) >= 60:
            raise ValueError(text)
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def is_segment_csv(path: Path) -> bool:
    """Whether the CSV at ``path`` has the start and end columns of a segment CSV."""
    text = read_text_file(path)
    first = text.splitlines()[0] if text.strip() else ""
    names = {name.strip().casefold() for name in next(csv.reader([first], delimiter=csv_delimiter(path, first)), [])}
    return {"start", "end"} <= names


def load_segments(
    path: str | Path,
    *,
    video_root: str | Path | None = None,
    labels: Sequence[str] | None = None,
    background: str | None = None,
    probe: Callable[[Path], VideoInfo] | None = None,
) -> Catalog:
    """The catalog of the segment CSV at ``path``: one item per row (and per unlabeled gap with
    ``background``), sorted by file and time. Paths are relative to the CSV's folder or
    ``video_root``; ``labels`` fixes the class list (``background`` is added to it)."""
    path = Path(path).expanduser().resolve()
    base = Path(video_root).expanduser().resolve() if video_root is not None else path.parent
    probe = probe or probe_video
    rows = _read_rows(path, base)
    problems: list[Problem] = []
    by_file: dict[Path, list[tuple[int, float, float, str, str | None, str | None]]] = defaultdict(list)
    for row in rows:
        by_file[row[0]].append(row[1:])
    items: list[VideoItem] = []
    infos: dict[Path, VideoInfo] = {}
    for video, entries in by_file.items():
        if not video.is_file():
            lines = ", ".join(str(entry[0]) for entry in entries)
            problems.append(Problem(video, f"missing (listed in {path.name} line {lines}); skipped"))
            continue
        try:
            info = probe(video)
        except VideoReadError as error:
            problems.append(Problem(video, error.problem))
            continue
        infos[video] = info
        items += _file_items(path, video, sorted(entries, key=lambda e: (e[1], e[0])), _duration(info), background)
    if not items:
        raise DatasetError(f"{path}: no row names a readable video (paths are read relative to {base})")
    found = sorted({item.label for item in items})
    if labels is not None:
        fixed = list(labels) + ([background] if background and background not in labels else [])
        unknown = [label for label in found if label not in fixed]
        if unknown:
            raise DatasetError(f"{path}: labels {', '.join(map(repr, unknown))} are not among the given labels")
        found = fixed
    items.sort(key=lambda item: (str(item.path), item.start or 0.0))
    return Catalog(root=path.parent, items=items, labels=found, source_format="segments", problems=problems,
                   annotation=[path], infos=infos)


def _read_rows(path: Path, base: Path) -> list[tuple]:
    """``(video, line, start, end, label, group, split)`` per row; errors name the line."""
    text = read_text_file(path)
    if not text.strip():
        raise DatasetError(f"{path}: empty CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(path, text.splitlines()[0]),
                        skipinitialspace=True)
    header = [name.strip().casefold() for name in next(reader, [])]
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise DatasetError(f"{path}: a segment CSV needs columns {', '.join(_REQUIRED)}; missing {', '.join(missing)}")
    index = {name: header.index(name) for name in _REQUIRED + _OPTIONAL if name in header}
    rows = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path.name} line {line}"
        if len(row) <= max(index.values()):
            raise DatasetError(f"{where}: {len(row)} fields, expected {len(header)}")
        value = {name: row[i].strip() for name, i in index.items()}
        for name in ("path", "label"):
            if not value[name]:
                raise DatasetError(f"{where}: empty {name}")
        times = []
        for name in ("start", "end"):
            try:
                times.append(parse_time(value[name]))
            except ValueError:
                raise DatasetError(
                    f"{where}: {name} {value[name]!r} is not a time (seconds such as 12.5, or HH:MM:SS.mmm)"
                ) from None
        start, end = times
        if end <= start:
            raise DatasetError(f"{where}: the segment ends ({end:g} s) at or before it starts ({start:g} s)")
        split = None
        if value.get("split"):
            split = split_of_name(value["split"])
            if split is None:
                raise DatasetError(f"{where}: split {value['split']!r} is not one of train, val, test")
        video = Path(os.path.abspath(base / value["path"]))
        rows.append((video, line, start, end, value["label"], value.get("group") or None, split))
    return rows


def _file_items(
    csv_path: Path, video: Path, entries: list[tuple], duration: float, background: str | None
) -> list[VideoItem]:
    """The items of one file (its rows sorted by start), checked for overlaps and range."""
    items: list[VideoItem] = []
    previous = None
    for line, start, end, label, group, split in entries:
        if duration and end > duration + _TOLERANCE_S:
            raise DatasetError(
                f"{csv_path.name} line {line}: segment {start:g}-{end:g} s of {video} ends after the video "
                f"({duration:.3f} s)"
            )
        if previous is not None and start < previous[2] - 1e-9:
            raise DatasetError(
                f"{csv_path.name} lines {previous[0]} and {line}: segments of {video} overlap "
                f"({previous[1]:g}-{previous[2]:g} s and {start:g}-{end:g} s)"
            )
        items.append(VideoItem(video, label, group or str(video), split, start, min(end, duration or end)))
        previous = (line, start, end)
    if background is None:
        return items
    return _with_background(items, video, duration, background)


def _with_background(items: list[VideoItem], video: Path, duration: float, background: str) -> list[VideoItem]:
    """``items`` and the unlabeled gaps between them (and before and after) as ``background`` items.

    A gap gets the split of the labeled segments of its file when they all share one."""
    splits = {item.split for item in items}
    split = splits.pop() if len(splits) == 1 else None
    group = items[0].group if len({item.group for item in items}) == 1 else str(video)
    edges = [0.0] + [t for item in items for t in (item.start, item.end)] + [duration]
    gaps = [
        VideoItem(video, background, group, split, a, b)
        for a, b in zip(edges[::2], edges[1::2])
        if b - a > 1e-3
    ]
    return sorted(items + gaps, key=lambda item: item.start)


def _duration(info: VideoInfo) -> float:
    if info.duration and math.isfinite(info.duration):
        return float(info.duration)
    return float(info.num_frames) / float(info.fps) if info.num_frames and info.fps else 0.0
