"""The synthetic direction task: real mp4 files whose classes differ only in temporal order."""

from __future__ import annotations

import csv

import av
import numpy as np

from vidclass.data.synthetic import DIRECTIONS, SyntheticSpec, make_direction_dataset, make_direction_timeline


def _decode_all(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _square_areas(frames: np.ndarray) -> np.ndarray:
    """Pixels of the square's near-white fill per frame (nothing else in the frame is that bright)."""
    return (frames.min(axis=3) > 190).sum(axis=(1, 2))


def _growth(areas: np.ndarray) -> float:
    """Median change of the square's area between frames: > 0 approaching, < 0 receding."""
    return float(np.median(np.diff(areas.astype(np.int64))))


def test_dataset_layout_and_labels(tmp_path):
    spec = SyntheticSpec(clips_per_class=2, seconds=1.0, fps=10, size=96, seed=3)
    root = make_direction_dataset(tmp_path / "ds", spec)
    rows = list(csv.DictReader(open(root / "labels.csv")))
    assert sorted({r["label"] for r in rows}) == sorted(DIRECTIONS)
    assert len(rows) == 4 and len({r["group"] for r in rows}) == 4
    for row in rows:
        frames = _decode_all(root / row["path"])
        assert frames.shape == (10, 96, 96, 3)
        assert (_growth(_square_areas(frames)) > 0) == (row["label"] == "approaching"), row


def test_frames_of_both_classes_share_one_range_of_sizes(tmp_path):
    """Any single frame could come from either class: sizes sweep the same range."""
    root = make_direction_dataset(tmp_path, SyntheticSpec(clips_per_class=6, seconds=2.0, fps=10, size=96, seed=0))
    sizes = {label: np.concatenate([_square_areas(_decode_all(p)) for p in (root / label).glob("*.mp4")])
             for label in DIRECTIONS}
    low, high = (np.percentile(sizes[label], [10, 90]) for label in DIRECTIONS)
    assert abs(low[0] - high[0]) < 0.25 * low[1] and abs(low[1] - high[1]) < 0.25 * low[1]


def test_lossless_frames_are_exact(tmp_path):
    from vidclass.data.synthetic import random_scene, render_frames, write_video

    scene = random_scene(np.random.default_rng(0), 96, period=1.0)
    frames = np.stack(list(render_frames(scene, "approaching", np.arange(6) / 6)))
    decoded = _decode_all(write_video(tmp_path / "x.mp4", frames, 6))
    # lossless H.264 keeps 4:2:0 YUV exactly; what is left is colour conversion and chroma at edges
    assert np.median(np.abs(decoded.astype(int) - frames.astype(int))) <= 1


def test_no_temporary_files_left(tmp_path):
    make_direction_dataset(tmp_path, SyntheticSpec(clips_per_class=1, seconds=0.5, size=64))
    assert not [p for p in tmp_path.rglob("*") if "partial" in p.name or p.name.startswith(".")]


def test_timeline_segments_change_direction(tmp_path):
    path = make_direction_timeline(tmp_path / "long.mp4", [("approaching", 2.0), ("receding", 2.0)], fps=10, size=96)
    frames = _decode_all(path)
    assert len(frames) == 40
    areas = _square_areas(frames)
    assert _growth(areas[:20]) > 0
    assert _growth(areas[20:]) < 0
