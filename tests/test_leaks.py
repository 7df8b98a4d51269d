"""The leak finder pairs every clip with its re-encoded, cropped copy; ``--groups auto`` groups each pair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.data.catalog import load_catalog
from vidclass.data.splits import Splits
from vidclass.data.synthetic import random_scene, render_frames, write_video
from vidclass.evaluation import leaks
from vidclass.inputs.features import FeatureCache

SOURCES = 4  # per class
SIZE = 96
FPS = 8.0


def _write_pairs(root: Path, copy_folder: str | None) -> dict[str, str]:
    """Per class, SOURCES clips and a lossy, cropped copy of each; returns copy path -> source path.

    ``copy_folder`` puts the sources under ``train/`` and the copies under it (a split
    layout); without it both sit in the class folder.
    """
    rng = np.random.default_rng(7)
    times = np.arange(int(FPS)) / FPS
    copies = {}
    for label in ("approaching", "receding"):
        for i in range(SOURCES):
            frames = list(render_frames(random_scene(rng, SIZE, period=1.0), label, times))
            source = Path("train" if copy_folder else "", label, f"src_{i}.mp4")
            copy = Path(copy_folder or "", label, f"copy_{i}.mp4")
            write_video(root / source, frames, FPS)
            cropped = [frame[4:-4, 6:-2] for frame in frames]  # a few pixels off, another size
            write_video(root / copy, cropped, FPS, lossless=False)
            copies[str(root / copy)] = str(root / source)
    return copies


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("paired")
    return root, _write_pairs(root, copy_folder="test")


def test_every_clip_is_paired_with_its_copy_across_splits(paired, tmp_path):
    root, copies = paired
    found = load_catalog(root)
    assert found.source_format == "split_folders"
    prints = leaks.fingerprint_videos([item.path for item in found.items], cache=FeatureCache(tmp_path / "cache"))
    assert not prints.failed and len(prints.paths) == 4 * SOURCES
    splits = Splits(
        [item for item in found.items if item.split == "train"], [],
        [item for item in found.items if item.split == "test"], "given", 0,
    )
    report = leaks.check_leaks(prints, splits, tmp_path / "check")
    found_pairs = {frozenset((str(p.a), str(p.b))) for p in report.pairs}
    expected = {frozenset(pair) for pair in copies.items()}
    assert expected <= found_pairs
    assert all({p.part_a, p.part_b} == {"train", "test"} for p in report.pairs)
    strongest = {frozenset((str(p.a), str(p.b))) for p in report.pairs[: len(expected)]}
    assert strongest == expected  # each copy is closer to its source than to anything else
    assert report.thumbnails.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_groups_auto_puts_each_pair_in_one_group(tmp_path, monkeypatch):
    root = tmp_path / "flat"
    copies = _write_pairs(root, copy_folder=None)
    monkeypatch.setenv("VIDCLASS_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    args = ["data", str(root), "--groups", "auto", "--check", "--out", str(tmp_path / "check"), "--json"]
    result = runner.invoke(app, [*args, "--no-shortcuts"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["proposed_groups"]["clusters"] == 2 * SOURCES
    assert summary["proposed_groups"]["sizes"] == [2] * (2 * SOURCES)
    with open(root / "groups.csv", newline="") as f:
        group_of = {str(root / row["path"]): row["group"] for row in csv.DictReader(f)}
    assert len(group_of) == 4 * SOURCES
    for copy, source in copies.items():
        assert group_of[copy] == group_of[source]
    across = {frozenset((pair["a"], pair["b"])) for pair in summary["leaks"]["pairs"]}
    assert not across & {frozenset(pair) for pair in copies.items()}  # the split keeps each pair on one side
    assert "group split" in summary["split_method"]
    # the written groups.csv is now the dataset's catalog, and --groups auto refuses to overwrite it
    assert load_catalog(root).grouped
    again = runner.invoke(app, [*args, "--format", "folders", "--no-shortcuts"])
    assert again.exit_code == 1 and "groups.csv: exists" in again.stderr


def test_groups_auto_refuses_a_grouped_dataset(paired, tmp_path):
    root, _ = paired
    found = load_catalog(root, group_regex=r"_(\d+)\.mp4")
    prints = leaks.Fingerprints([], np.zeros((0, 4, 8), np.float32), np.zeros((0, 4, 64), bool), [])
    with pytest.raises(leaks.ConfigError, match="already has 4 groups"):
        leaks.auto_group(found, prints, tmp_path / "groups.csv")
