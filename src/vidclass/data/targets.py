"""Numeric targets for regression: one number per video, read from a numeric CSV column (``target`` by
default, else a numeric ``label``) or from numeric folder names (``ROOT/2.5/clip.mp4``); a value that is
not a number is an error naming the file and line (or folder). ``split_targets`` splits them group-aware,
stratified by target quartile."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidclass.data import catalog as catalog_
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
    csvs = sorted(source.glob("*.csv")) if source.is_dir() else []
    if source.is_file() or len(csvs) == 1:  # a folder holding one CSV: that CSV
        return _csv_targets(source if source.is_file() else csvs[0], column)
    found = catalog_.load_catalog(source, format="folders")
    targets = []
    for item in found.items:
        value = _number(item.label)
        if value is None:
            raise DatasetError(f"{item.path.parent}: folder name {item.label!r} is not a number (regression "
                               "targets come from numeric folder names or a numeric CSV column)")
        targets.append(Target(item.path, value, item.group))
    return targets


def _csv_targets(path: Path, column: str) -> list[Target]:
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    names = {name.strip().casefold(): name for name in reader.fieldnames or []}
    wanted = column.casefold() if column.casefold() in names else "label"
    if "path" not in names or wanted not in names:
        raise DatasetError(f"{path}: a regression CSV needs a path column and a numeric {column!r} (or label) column; "
                           f"the columns are {', '.join(reader.fieldnames or [])}")
    targets = []
    for row in reader:
        value = _number(row[names[wanted]])
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


def _number(text: str) -> float | None:
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def split_targets(targets: list[Target], val: float, test: float, seed: int) -> dict[str, list[Target]]:
    """A group-aware split stratified by target quartile (the catalog's splitter on binned targets)."""
    values = np.array([t.value for t in targets])
    edges = np.quantile(values, [0.25, 0.5, 0.75])
    items = [VideoItem(t.path, f"q{int(np.searchsorted(edges, t.value))}", t.group) for t in targets]
    found = Catalog(Path("."), items, sorted({i.label for i in items}), "regression")
    splits = split_catalog(found, val=val, test=test, seed=seed)
    by_path = {t.path: t for t in targets}
    return {name: [by_path[i.path] for i in part] for name, part in splits.parts().items()}
