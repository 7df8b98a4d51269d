"""Numeric targets for regression: one number per video, read from a numeric CSV column (``target`` by
default, else a numeric ``label``) or from numeric folder names (``ROOT/2.5/clip.mp4``); a value that is
not a number is an error naming the file and line (or folder). ``split_targets`` splits them group-aware,
stratified by target quartile. Clips of long recordings and labeled segments read their numbers as a catalog
(:func:`target_catalog`), so the recording splits and clip plans of :mod:`vidclass.data.recordings` serve
regression too."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidclass.data import catalog as catalog_
from vidclass.data import segments
from vidclass.data.items import Catalog, VideoItem
from vidclass.data.splits import split_catalog
from vidclass.errors import DatasetError


@dataclass(frozen=True)
class Target:
    """One video and its number."""

    path: Path
    value: float
    group: str | None = None


def read_targets(source: str | Path, *, column: str = "target") -> list[Target]:
    """The numeric targets of a CSV (``path`` and ``column``, else a numeric ``label``; a folder with
    one CSV: that one) or of a folder of numeric class folders; DatasetError naming the line (or folder) of a value that is no number."""
    source = Path(source).expanduser().resolve()
    path = the_csv(source)
    if path is not None and segments.is_segment_csv(path):
        raise DatasetError(f"{path}: a segment CSV (start and end columns) holds numbers per segment, not per video; "
                           "a regressor trains on its segments (vidclass train --task regression), and evaluates "
                           "whole videos of a CSV with one number per video")
    if path is not None:
        return _csv_targets(path, column)
    found = catalog_.load_catalog(source, format="folders")
    targets = []
    for item in found.items:
        value = number(item.label)
        if value is None:
            raise DatasetError(f"{item.path.parent}: folder name {item.label!r} is not a number (regression "
                               "targets come from numeric folder names or a numeric CSV column)")
        targets.append(Target(item.path, value, item.group))
    return targets


def the_csv(source: Path) -> Path | None:
    """The CSV a dataset names: the file itself, or the one CSV in its folder (None: a folder of folders)."""
    csvs = sorted(source.glob("*.csv")) if source.is_dir() else []
    return source if source.is_file() else (csvs[0] if len(csvs) == 1 else None)


def is_segments(source: str | Path) -> bool:
    """Whether the dataset at ``source`` is a segment CSV (numbers per segment of a recording)."""
    path = the_csv(Path(source).expanduser().resolve())
    return path is not None and segments.is_segment_csv(path)


def target_catalog(source: str | Path, *, column: str = "target") -> Catalog:
    """A regression dataset read as a catalog whose labels are its numbers, for clips of long recordings and
    segments: a segment CSV (numbers in its ``label`` column), a CSV of recordings (``column``, else ``label``)
    or numeric folder names. DatasetError naming a label that is not a number."""
    source = Path(source).expanduser().resolve()
    path = the_csv(source)
    columns = None
    if path is not None and not segments.is_segment_csv(path):
        with open(path, encoding="utf-8-sig", newline="") as file:
            names = {name.strip().casefold(): name for name in next(csv.reader(file), [])}
        if column.casefold() in names:
            columns = {"label": names[column.casefold()]}
    found = catalog_.load_catalog(source, columns=columns)
    for label in found.labels:
        if number(label) is None:
            raise DatasetError(f"{found.root}: label {label!r} is not a number (a regressor's recordings and segments "
                               "are labeled with numbers)")
    return found


def _csv_targets(path: Path, column: str) -> list[Target]:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    names = {name.strip().casefold(): name for name in reader.fieldnames or []}
    wanted = column.casefold() if column.casefold() in names else "label"
    if "path" not in names or wanted not in names:
        raise DatasetError(f"{path}: a regression CSV needs a path column and a numeric {column!r} (or label) column; "
                           f"the columns are {', '.join(reader.fieldnames or [])}")
    targets = []
    for row in reader:
        value = number(row[names[wanted]])
        if value is None:
            raise DatasetError(f"{path} line {reader.line_num}: target {row[names[wanted]]!r} is not a number")
        group = row.get(names["group"]) if "group" in names else None
        video = Path(os.path.abspath(path.parent / row[names["path"]].strip()))
        if not video.is_file():
            raise DatasetError(f"{path} line {reader.line_num}: no video {video}")
        targets.append(Target(video, value, group or None))
    if not targets:
        raise DatasetError(f"{path}: no rows")
    return targets


def number(text: str) -> float | None:
    """``text`` as a finite number, or None."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def split_targets(targets: list[Target], val: float, test: float, seed: int) -> tuple[dict[str, list[Target]], str]:
    """A group-aware split stratified by target quartile (the catalog's splitter on binned targets), and how it
    split (the catalog splitter's method)."""
    values = np.array([t.value for t in targets])
    edges = np.quantile(values, [0.25, 0.5, 0.75])
    items = [VideoItem(t.path, f"q{int(np.searchsorted(edges, t.value))}", t.group) for t in targets]
    found = Catalog(Path("."), items, sorted({i.label for i in items}), "regression")
    splits = split_catalog(found, val=val, test=test, seed=seed)
    by_path = {t.path: t for t in targets}
    return {name: [by_path[i.path] for i in part] for name, part in splits.parts().items()}, splits.method
