"""Keypoints brought from another pose tool: one JSON or CSV file per video.

A video ``.../fight/fi001.mp4`` takes its keypoints from ``fi001.json`` or ``fi001.csv`` in
the keypoints folder, or in a sub-folder of it that repeats the video's parent folders
(``fight/fi001.json``, ...); the deepest match wins. Coordinates are pixels of the video as
displayed; frames are 0-based frame indices. Two formats:

JSON::

    {"layout": "coco17",            # or "blazepose33"; optional, inferred from the count
     "normalized": false,            # optional: true when x, y are fractions of width, height
     "frames": [{"frame": 0, "people": [[[x, y, score], ...], ...]}, ...]}

  (a bare list of frames works too; a person may also be a flat ``[x0, y0, s0, x1, ...]``
  list or ``{"keypoints": ...}``, as COCO and MMPose write them);

CSV, one row per keypoint, with a header: ``frame,person,keypoint,x,y,score``, where
``keypoint`` is a joint name (``left_wrist``) or an index in the layout (0-16 COCO-17, 0-32
BlazePose-33, told apart by the largest index).

A frame the file does not list has nobody in it.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from vidclass.errors import ConfigError, DatasetError
from vidclass.inputs.pose.skeleton import BLAZEPOSE33, COCO17, LAYOUTS, layout_of, to_coco

SUFFIXES = (".json", ".csv")
Skeletons = dict[int, list[np.ndarray]]  # frame index -> (17, 3) COCO skeletons, in file order


def find_keypoints(folder: Path, video: Path) -> Path:
    """The keypoint file of ``video`` in ``folder``; DatasetError naming what was looked for."""
    parents = video.parts[:-1]
    for depth in range(len(parents), -1, -1):
        base = folder.joinpath(*parents[len(parents) - depth:]) if depth else folder
        for suffix in SUFFIXES:
            candidate = base / f"{video.stem}{suffix}"
            if candidate.is_file():
                return candidate
    raise DatasetError(f"{video}: no keypoint file {video.stem}.json or {video.stem}.csv in {folder} or its sub-folders")


def read_keypoints(path: Path, width: int, height: int) -> Skeletons:
    """COCO-17 skeletons per frame of a keypoint file (see the module docstring)."""
    try:
        if path.suffix.lower() == ".json":
            return _read_json(path, width, height)
        if path.suffix.lower() == ".csv":
            return _read_csv(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: cannot read keypoints ({error})") from error
    raise DatasetError(f"{path}: keypoint files are .json or .csv")


def _person(raw, path: Path) -> np.ndarray:
    if isinstance(raw, dict):
        raw = raw.get("keypoints")
    try:
        points = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        points = np.empty(0)
    if points.ndim == 1 and points.size % 3 == 0:
        points = points.reshape(-1, 3)
    if points.ndim != 2 or points.shape[1] != 3:
        raise DatasetError(f"{path}: a person must be a list of [x, y, score] keypoints, got {str(raw)[:80]}")
    return points


def _read_json(path: Path, width: int, height: int) -> Skeletons:
    data = json.loads(path.read_text(encoding="utf-8"))
    frames = data.get("frames") if isinstance(data, dict) else data
    layout = data.get("layout") if isinstance(data, dict) else None
    if layout is not None and layout not in LAYOUTS:
        raise DatasetError(f"{path}: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    scale = np.array([width, height, 1.0]) if isinstance(data, dict) and data.get("normalized") else np.ones(3)
    if not isinstance(frames, list):
        raise DatasetError(f"{path}: expected a list of frames (or an object with \"frames\")")
    skeletons: Skeletons = defaultdict(list)
    for entry in frames:
        if not isinstance(entry, dict) or not isinstance(entry.get("frame"), int):
            raise DatasetError(f"{path}: each frame needs an integer \"frame\" and a list \"people\"")
        for raw in entry.get("people", []):
            points = _person(raw, path) * scale
            try:
                found = layout or layout_of(len(points), str(path))
                if len(points) != len(LAYOUTS[found]):
                    raise ConfigError(f"{path}: {len(points)} keypoints per person for layout {found}")
            except ConfigError as error:
                raise DatasetError(str(error)) from None
            skeletons[entry["frame"]].append(to_coco(points, found).astype(np.float32))
    return dict(skeletons)


def _read_csv(path: Path) -> Skeletons:
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    needed = {"frame", "person", "keypoint", "x", "y", "score"}
    if not rows or not needed <= set(rows[0]):
        raise DatasetError(f"{path}: needs a header with columns {', '.join(sorted(needed))}")
    names = [row["keypoint"].strip() for row in rows]
    numeric = all(name.isdigit() for name in names)
    if numeric:
        joints = COCO17 if max(int(name) for name in names) < len(COCO17) else BLAZEPOSE33
        names = [joints[int(name)] if int(name) < len(joints) else name for name in names]
    unknown = sorted(set(names) - set(BLAZEPOSE33))
    if unknown:
        raise DatasetError(f"{path}: unknown keypoints {', '.join(unknown[:5])}; use COCO-17 or BlazePose-33 names or indices")
    people: dict[tuple[int, str], np.ndarray] = {}
    try:
        for row, name in zip(rows, names):
            key = (int(row["frame"]), row["person"].strip())
            skeleton = people.setdefault(key, np.zeros((len(COCO17), 3), np.float32))
            if name in COCO17:
                skeleton[COCO17.index(name)] = (float(row["x"]), float(row["y"]), float(row["score"]))
    except ValueError as error:
        raise DatasetError(f"{path}: frame must be an integer and x, y, score numbers ({error})") from None
    skeletons: Skeletons = defaultdict(list)
    for (frame, _), skeleton in people.items():  # dicts keep the file's order of people
        skeletons[frame].append(skeleton)
    return dict(skeletons)
