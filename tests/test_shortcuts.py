"""Shortcut warnings: classes that differ only in resolution warn; classes balanced in metadata do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidclass.data.catalog import load_catalog
from vidclass.data.synthetic import write_video
from vidclass.evaluation.shortcuts import MARGIN, black_bars, check_shortcuts

CLIPS = 8  # per class


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    coarse = rng.integers(40, 220, size=(6, 8, 3), dtype=np.uint8)
    return np.kron(coarse, np.ones((height // 6 + 1, width // 8 + 1, 1), dtype=np.uint8))[:height, :width]


def _dataset(root: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """CLIPS clips per class of 6 frames at 8 fps, same content generator, class size (h, w)."""
    rng = np.random.default_rng(11)
    for label, (height, width) in sizes.items():
        for i in range(CLIPS):
            base = _texture(rng, height, width)
            frames = [np.roll(base, shift, axis=1) for shift in range(0, 12, 2)]
            write_video(root / label / f"clip_{i}.mp4", frames, 8.0)
    return root


def test_classes_that_differ_only_in_resolution_warn(tmp_path):
    root = _dataset(tmp_path, {"left": (48, 64), "right": (72, 96)})
    report = check_shortcuts(load_catalog(root))
    assert report.per_class["left"]["resolution"] == "64x48"
    assert report.per_class["right"]["resolution"] == "96x72"
    assert report.combined is not None and report.combined.score > 0.9
    assert len(report.warnings) == 1
    assert "resolution" in report.warnings[0] and "resizes every frame" in report.warnings[0]
    assert report.single["resolution"].clear(report.chance)
    assert not report.single["fps"].clear(report.chance)


def test_classes_balanced_in_metadata_do_not_warn(tmp_path):
    root = _dataset(tmp_path, {"left": (48, 64), "right": (48, 64)})
    report = check_shortcuts(load_catalog(root))
    assert report.combined is not None
    assert report.warnings == []
    assert report.to_dict()["metadata_classifier"]["score"] < report.chance + MARGIN


def test_too_few_groups_are_said_not_scored(tmp_path):
    root = _dataset(tmp_path, {"left": (48, 64), "right": (72, 96)})
    found = load_catalog(root, group_regex=r"^(\w+?)_")  # one group ("clip") for everything
    report = check_shortcuts(found)
    assert report.combined is None and "too few groups" in report.warnings[0]


def test_black_bars_letterbox_and_pillarbox():
    rng = np.random.default_rng(0)
    frames = rng.integers(60, 200, size=(3, 90, 160, 3)).astype(np.uint8)
    assert black_bars(frames) == 0.0
    boxed = frames.copy()
    boxed[:, :10] = 0
    boxed[:, -10:] = 0
    boxed[:, -6:-3, 20:40] = 255  # a caption inside the bottom bar
    assert black_bars(boxed) == (10 + 10) / 90
    pillar = frames.copy()
    pillar[:, :, :20] = 5
    pillar[:, :, -20:] = 5
    assert black_bars(pillar) == 40 / 160
    one_side = frames.copy()
    one_side[:, :10] = 0  # a dark top edge alone is not letterboxing
    assert black_bars(one_side) == 0.0
