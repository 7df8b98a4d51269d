"""Nothing dropped silently: datasets are probed before the split, every left-out item is named,
what cannot train is refused before extraction, and every dataset command takes the same options."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import typer.main
from cli_checks import one_error_line
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.cli.options import DatasetOptions
from vidclass.data import catalog
from vidclass.data.items import Catalog, VideoItem
from vidclass.data.splits import split_catalog
from vidclass.data.summary import describe

runner = CliRunner()
TINY = ["--backbone", "timm:mobilenetv3_small_050", "--pretrained", "none", "--frames", "2", "--workers", "0",
        "--inputs", "appearance"]


def _copy(direction_dataset: Path, root: Path, per_class: int) -> Path:
    """``root/<label>/`` with the first ``per_class`` clips of each class (no CSV: the folders layout)."""
    for label in ("approaching", "receding"):
        (root / label).mkdir(parents=True)
        for clip in sorted((direction_dataset / label).glob("*.mp4"))[:per_class]:
            shutil.copy(clip, root / label / clip.name)
    return root


# --- probe first, then split (item 7) ---------------------------------------------------------


def test_broken_files_are_left_out_before_the_split(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=6)
    broken = [root / "approaching" / f"broken {i}.mp4" for i in range(5)]
    for path in broken:
        path.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["data", str(root), "--json", "--val", "0.2", "--test", "0.2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["clips"] == 12 and sum(summary["clips_per_split"].values()) == 12
    assert sorted(entry["path"] for entry in summary["unreadable"]) == sorted(map(str, broken))
    for part in ("train", "val", "test"):  # every part has readable clips of both classes
        assert all(summary["clips_per_class_and_split"][label][part] >= 1 for label in summary["labels"]), part


def test_drop_unreadable_keeps_probe_results_and_refuses_an_unreadable_set(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=2)
    (root / "receding" / "empty.mp4").write_bytes(b"")
    readable = catalog.drop_unreadable(catalog.load_catalog(root))
    assert len(readable.items) == 4 and set(readable.infos) >= {item.path for item in readable.items}
    assert [(p.path.name, p.reason) for p in readable.problems] == [("empty.mp4", "file is empty (0 bytes)")]
    probed = []
    describe(readable, probe=lambda path: probed.append(path))  # nothing left to probe again
    assert probed == []

    bad = tmp_path / "bad"
    for label in ("a", "b"):
        (bad / label).mkdir(parents=True)
        (bad / label / "x.mp4").write_bytes(b"not a video")
    result = runner.invoke(app, ["data", str(bad)])
    line = one_error_line(result)
    assert str(bad) in line and "none of its 2 videos can be read" in line


def test_a_tiny_fraction_never_leaves_a_part_empty():
    items = [VideoItem(Path(f"/v/{label}{i}.mp4"), label) for label in "ab" for i in range(3)]
    splits = split_catalog(Catalog(Path("/v"), items, ["a", "b"], "folders"), val=0.01, test=0.01, seed=0)
    assert splits.val and splits.test and len(splits.train) == 4
    given = [VideoItem(item.path, item.label, split="test" if item.path.stem.endswith("0") else "train")
             for item in items]  # a dataset that brings train and test: val is carved from train
    carved = split_catalog(Catalog(Path("/v"), given, ["a", "b"], "ucf101"), val=0.01, test=0.2, seed=0)
    assert carved.val and "val carved from train" in carved.method and len(carved.test) == 2


# --- every left-out item named (item 8), all failed -> non-zero (item 9) ----------------------


def test_extract_names_every_item_it_leaves_out(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=2)
    (root / "receding" / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (root / "empty class").mkdir()
    (root / "approaching" / "garbage.mp4").write_bytes(b"garbage" * 50)
    result = runner.invoke(app, ["extract", str(root), *TINY, "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "4 videos: 4 computed" in result.stdout
    assert "3 items left out" in result.stderr
    for name in ("dangling.mp4", "empty class", "garbage.mp4"):
        assert name in result.stderr, name


def test_bad_csv_rows_are_named_and_the_list_is_capped(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=2)
    rows = [f"{label}/{p.name},{label}" for label in ("approaching", "receding") for p in (root / label).glob("*.mp4")]
    rows += [f"missing_{i}.mp4,approaching" for i in range(12)] + ["only-one-field"]
    (root / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["extract", str(root), *TINY, "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "13 items left out" in result.stderr
    assert "missing_0.mp4" in result.stderr and "and 3 more" in result.stderr  # the first 10, then a count
    data = json.loads(runner.invoke(app, ["data", str(root), "--json"]).stdout)
    listed = " ".join(entry["path"] + " " + entry["reason"] for entry in data["unreadable"])
    assert all(f"missing_{i}.mp4" in listed for i in range(12)) and "line 18" in listed  # the full list


def test_extract_exits_non_zero_when_every_video_fails(direction_dataset, tmp_path, monkeypatch):
    from vidclass.errors import VideoReadError
    from vidclass.media import video

    root = _copy(direction_dataset, tmp_path / "ds", per_class=1)

    def fail(path, *args, **kwargs):  # every video probes fine, then its decoding fails (a corrupt middle, say)
        raise VideoReadError(path, "cannot be decoded")

    monkeypatch.setattr(video, "read_frames", fail)
    result = runner.invoke(app, ["extract", str(root), *TINY, "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 1, result.output
    assert "2 items left out" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vidclass: error: {root}: ") and "every one of the 2 failed" in last


# --- warnings and refusals (item 10) ----------------------------------------------------------


def test_a_single_class_is_refused_before_any_extraction(direction_dataset, tmp_path):
    root = tmp_path / "ds"
    (root / "approaching").mkdir(parents=True)
    for clip in sorted((direction_dataset / "approaching").glob("*.mp4"))[:3]:
        shutil.copy(clip, root / "approaching" / clip.name)
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["train", str(root), "--out", str(tmp_path / "run"), *TINY, "--cache", str(cache)])
    line = one_error_line(result)
    assert str(root) in line and "at least two classes" in line and "'approaching'" in line
    assert not cache.exists() and not (tmp_path / "run").exists()  # refused before extraction and output
    shown = runner.invoke(app, ["data", str(root), "--json"])
    assert any("only 1 class" in warning for warning in json.loads(shown.stdout)["warnings"])


def test_labels_that_differ_by_case_and_paths_listed_with_two_labels(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=3)
    clips = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    rows = [f"{clips[0]},Fight", f"{clips[1]},Fight", f"{clips[2]},fight", f"{clips[3]},calm", f"{clips[4]},calm",
            f"{clips[0]},calm"]
    (root / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["data", str(root), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert any("'Fight' (2 clips) and 'fight' (1 clips)" in warning for warning in summary["warnings"])
    clash = [entry["reason"] for entry in summary["unreadable"] if entry["path"].endswith(clips[0])]
    assert clash and "label 'calm', but first as 'Fight'" in clash[0]


def test_a_symlink_loop_is_walked_once(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=2)
    os.symlink("..", root / "approaching" / "loop")  # approaching/loop -> the dataset root
    os.symlink(".", root / "receding" / "self")
    found = catalog.load_catalog(root)
    assert Counter(item.label for item in found.items) == {"approaching": 2, "receding": 2}
    assert found.problems == []


# --- options (items 11-13) --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "timeline"])
@pytest.mark.parametrize("k", ["0", "-1"])
def test_top_k_below_one_is_refused(tmp_path, command, k):
    line = one_error_line(runner.invoke(app, [command, str(tmp_path / "model"), "v.mp4", "--top-k", k]))
    assert "--top-k" in line and k in line


@pytest.mark.parametrize("k", [0, -1, 1.5])
def test_ranked_refuses_a_top_k_below_one(k):
    from vidclass.errors import ConfigError
    from vidclass.estimator.tasks import ranked

    with pytest.raises(ConfigError, match="top-k"):
        ranked(np.array([0.2, 0.5, 0.3]), ["a", "b", "c"], k)


def test_the_csv_hint_names_the_command_line_options(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=2)
    (root / "list.csv").write_text("video_name,tag\napproaching/clip_000.mp4,approaching\n")
    line = one_error_line(runner.invoke(app, ["data", str(root / "list.csv")]))
    assert "--path-column NAME and --label-column NAME" in line


def test_every_dataset_command_takes_the_same_dataset_options(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", per_class=3)
    rows = [f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in sorted(root.rglob("*.mp4"))]
    (root / "keras.csv").write_text("video_name,tag\n" + "\n".join(rows) + "\n")  # the Keras example's columns
    columns = ["--path-column", "video_name", "--label-column", "tag"]
    result = runner.invoke(app, ["data", str(root / "keras.csv"), *columns])
    assert result.exit_code == 0, result.output
    assert "6 clips, 2 classes, no groups" in result.stdout  # not "0 groups (train 0, val 0, test 0)"
    result = runner.invoke(app, ["extract", str(root / "keras.csv"), *columns, *TINY, "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "6 videos: 6 computed" in result.stdout

    group = typer.main.get_command(app)
    wanted = {f"--{name.replace('_', '-')}" for name in DatasetOptions.__dataclass_fields__}
    for name in ("data", "extract", "train", "evaluate"):
        options = {
            opt for param in group.commands[name].params if param.param_type_name == "option" for opt in param.opts
        }
        assert wanted <= options, (name, wanted - options)


def test_train_and_extract_say_which_runtime_encoded_the_frames(direction_dataset, tmp_path):
    """On a CPU the default runtime (auto) encodes with ONNX Runtime, says so on stderr and in the run's record;
    --runtime torch (extract) says PyTorch; a rerun that finds every feature cached encodes nothing and says nothing."""
    root = _copy(direction_dataset, tmp_path / "ds", per_class=3)
    cache = tmp_path / "cache"
    first = runner.invoke(app, ["train", str(root), "--out", str(tmp_path / "run"), *TINY, "--cache", str(cache)])
    assert first.exit_code == 0, first.output
    assert "vidclass: frames encoded by ONNX Runtime" in first.stderr
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["training"]["frames_encoded_by"] == "onnxruntime"
    again = runner.invoke(app, ["train", str(root), "--out", str(tmp_path / "run2"), *TINY, "--cache", str(cache)])
    assert again.exit_code == 0, again.output
    assert "frames encoded by" not in again.stderr
    assert json.loads((tmp_path / "run2" / "model" / "config.json").read_text())["training"]["frames_encoded_by"] is None
    torch_run = runner.invoke(app, ["extract", str(root), *TINY, "--runtime", "torch", "--cache", str(tmp_path / "c2")])
    assert torch_run.exit_code == 0, torch_run.output
    assert "vidclass: frames encoded by PyTorch" in torch_run.stderr and "frames encoded" not in torch_run.stdout
