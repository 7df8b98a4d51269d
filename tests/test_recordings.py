"""Long recordings cut into clips: plans, honest splits (by recording or by time blocks), training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidclass.catalog import Catalog, VideoItem
from vidclass.cli import app
from vidclass.errors import ConfigError
from vidclass.recordings import ClipPlan, describe, draw_clips, overlapping, random_clip, split_recordings
from vidclass.synthetic_recordings import make_recordings


def _catalog(recordings: dict[str, int], seconds: float = 120.0) -> Catalog:
    """Recordings (time ranges 0..seconds, so nothing is probed) per label."""
    items = [VideoItem(Path(f"/data/{label}_{i}.mp4"), label, None, None, 0.0, seconds)
             for label, n in recordings.items() for i in range(n)]
    return Catalog(Path("/data"), items, sorted(recordings), "folders")


@pytest.mark.parametrize("text, plan", [
    ("random:100:2-4s", ClipPlan("random", 2.0, 4.0, 100)),
    ("random:5:3s", ClipPlan("random", 3.0, 3.0, 5)),
    ("fixed:3s", ClipPlan("fixed", 3.0, 3.0)),
    ("fixed:1.5", ClipPlan("fixed", 1.5, 1.5)),
])
def test_clip_plans_parse_and_print_back(text, plan):
    assert ClipPlan.parse(text) == plan
    assert ClipPlan.parse(str(plan)) == plan


@pytest.mark.parametrize("text", ["random:2-4s", "fixed", "random:0:2-4s", "random:3:4-2s", "windows:3s"])
def test_bad_clip_plans_name_the_forms(text):
    with pytest.raises(ConfigError, match="random:N:2-4s|positive"):
        ClipPlan.parse(text)


def _ranges(splits, part):
    return [(splits.path(c), c.start, c.end) for c in splits.clips[part]]


def test_two_recordings_are_split_by_time_blocks_and_no_test_clip_touches_a_training_clip():
    plan = ClipPlan.parse("random:100:2-4s")
    splits = split_recordings(_catalog({"walking": 1, "running": 1}), plan, seed=3)
    assert splits.method.startswith("by time blocks") and "gaps of 4 s" in splits.method
    assert {b.part for b in splits.blocks} == {"train", "val", "test"}
    # every block of another part lies at least one clip away from each training block
    for a in splits.blocks:
        for b in splits.blocks:
            if a.source == b.source and a.part != b.part:
                assert b.start >= a.end + plan.longest - 1e-9 or a.start >= b.end + plan.longest - 1e-9
    # training clips move every epoch: 30 epochs of positions, none overlaps a val or test clip
    rng = np.random.default_rng(0)
    trained = [(splits.path(c), moved.start, moved.end) for c in splits.clips["train"]
               for moved in (random_clip(c.block, plan, rng) for _ in range(30))]
    assert len(trained) == 30 * len(splits.clips["train"])
    assert overlapping(_ranges(splits, "test") + _ranges(splits, "val"), trained) == 0
    assert overlapping(_ranges(splits, "test"), _ranges(splits, "train")) == 0
    # random clips of one recording do overlap within a part: the check above can see overlaps
    assert overlapping(_ranges(splits, "train"), _ranges(splits, "train")) > len(splits.clips["train"])
    counts = {part: len(clips) for part, clips in splits.clips.items()}
    assert sum(counts.values()) == 200 and counts["train"] > counts["val"] > 0 and counts["test"] > 0
    assert describe(_catalog({"walking": 1, "running": 1}), splits).overlaps_across_parts == 0


def test_enough_recordings_are_split_by_recording():
    splits = split_recordings(_catalog({"walking": 5, "running": 5}), ClipPlan.parse("fixed:3s"), seed=0)
    assert splits.method.startswith("by recording")
    parts_of = {}
    for part, clips in splits.clips.items():
        for clip in clips:
            parts_of.setdefault(splits.path(clip), set()).add(part)
    assert len(parts_of) == 10 and all(len(parts) == 1 for parts in parts_of.values())
    assert {part for parts in parts_of.values() for part in parts} == {"train", "val", "test"}


def test_fixed_clips_are_consecutive_windows_inside_their_block():
    catalog = _catalog({"a": 1, "b": 1}, seconds=10.0)
    splits = split_recordings(catalog, ClipPlan.parse("fixed:3s"), val=0.0, test=0.0)
    starts = sorted(c.start for c in splits.clips["train"] if splits.label(c) == "a")
    assert starts == [0.0, 3.0, 6.0] and all(c.end - c.start == 3.0 for c in splits.clips["train"])
    assert draw_clips(splits.blocks, splits.sources, ClipPlan.parse("random:7:1-2s"), 0)["train"].__len__() == 14


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """A walking and a running head-camera recording, 60 s each at 6 fps, 48 px."""
    return make_recordings(tmp_path_factory.mktemp("recordings"), per_class=1, seconds=60, fps=6, size=48, seed=3)


@pytest.mark.slow
def test_data_reports_recordings_clips_hours_and_the_time_block_split(recordings):
    runner = CliRunner()
    result = runner.invoke(app, ["data", str(recordings), "--clips", "random:40:2-4s"])
    assert result.exit_code == 0, result.output
    assert "2 recordings" in result.output and "80 clips" in result.output and "0.03 hours" in result.output
    assert "by time blocks" in result.output and "overlapping across parts: 0" in result.output
    summary = json.loads(runner.invoke(app, ["data", str(recordings), "--clips", "fixed:3s", "--json"]).stdout)
    assert summary["recordings"] == 2 and summary["plan"] == "fixed:3s" and summary["overlaps_across_parts"] == 0


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 11 (open): accuracy 0.67 < 0.85 in a clean-clone CI run with 2 threads "
                   "(random-init test backbone; passed where it was written); the learning setup needs more margin", strict=False)
def test_random_clips_of_two_recordings_train_a_model_that_labels_held_out_time(recordings, tmp_path):
    from vidclass.api import VideoClassifier

    model = VideoClassifier(backbone="timm:test_resnet", pretrained=False, head="mean", frames=4, inputs="appearance+motion", epochs=10, lr=1e-2,
                            batch_size=16, clips="random:80:2-4s", cache_dir=tmp_path / "cache")
    model.fit(recordings, out_dir=tmp_path / "run")
    assert model.training_["split"].startswith("by time blocks")
    assert model.evaluation_.videos >= 20  # test clips from the held-out time blocks
    assert model.evaluation_.accuracy >= 0.85
    record = json.loads((tmp_path / "run" / "model" / "config.json").read_text())["training"]["clips"]
    assert record["plan"] == "random:80:2-4s" and {b["part"] for b in record["blocks"]} == {"train", "val", "test"}
    assert model.clip_seconds_ == 3.0  # the timeline's window: the typical clip
