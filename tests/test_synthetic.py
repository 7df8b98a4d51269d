"""The synthetic direction task: real mp4 files whose classes differ only in motion order."""

from __future__ import annotations

import csv

import av
import numpy as np

from vidclass.synthetic import DIRECTIONS, SyntheticSpec, make_direction_dataset, make_direction_timeline


def _decode_all(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _square_left_edges(frames: np.ndarray) -> np.ndarray:
    """Column of the square's bright fill per frame (the square is the only near-white area)."""
    bright = frames.min(axis=3) > 190
    return np.array([np.flatnonzero(b.any(axis=0)).min() if b.any() else -1 for b in bright])


def _mean_step(edges: np.ndarray, width: int) -> float:
    steps = np.diff(edges)
    steps = (steps + width // 2) % width - width // 2  # the square wraps around the edges
    return float(np.median(steps))


def test_dataset_layout_and_labels(tmp_path):
    spec = SyntheticSpec(clips_per_class=2, seconds=1.0, fps=10, size=96, seed=3)
    root = make_direction_dataset(tmp_path / "ds", spec)
    rows = list(csv.DictReader(open(root / "labels.csv")))
    assert sorted({r["label"] for r in rows}) == sorted(DIRECTIONS)
    assert len(rows) == 4 and len({r["group"] for r in rows}) == 4
    for row in rows:
        frames = _decode_all(root / row["path"])
        assert frames.shape == (10, 96, 96, 3)
        step = _mean_step(_square_left_edges(frames), 96)
        assert (step > 0) == (row["label"] == "left_to_right"), row


def test_no_temporary_files_left(tmp_path):
    make_direction_dataset(tmp_path, SyntheticSpec(clips_per_class=1, seconds=0.5, size=64))
    assert not [p for p in tmp_path.rglob("*") if "partial" in p.name]


def test_timeline_segments_change_direction(tmp_path):
    path = make_direction_timeline(
        tmp_path / "long.mp4", [("left_to_right", 2.0), ("right_to_left", 2.0)], fps=10, size=96
    )
    frames = _decode_all(path)
    assert len(frames) == 40
    edges = _square_left_edges(frames)
    assert _mean_step(edges[:20], 96) > 0
    assert _mean_step(edges[20:], 96) < 0
    # the same scene throughout: the background far from the square's row never changes
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() < 20
