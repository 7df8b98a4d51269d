"""Output hygiene: piped listings are whole and grep-able, progress goes to stderr, outputs are
checked before any work, and `train` shows extraction progress and names what it left out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.models.backbones import list_backbones

runner = CliRunner()  # its stdout is not a terminal: what a pipe sees
TINY = ["--backbone", "timm:mobilenetv3_small_050", "--pretrained", "none", "--frames", "2", "--workers", "0",
        "--inputs", "appearance"]


def _copy(direction_dataset: Path, root: Path, clips: slice) -> Path:
    for label in ("approaching", "receding"):
        (root / label).mkdir(parents=True)
        for clip in sorted((direction_dataset / label).glob("*.mp4"))[clips]:
            shutil.copy(clip, root / label / clip.name)
    return root


def test_backbones_piped_are_whole_and_grepable_and_json():
    result = runner.invoke(app, ["backbones"])
    assert result.exit_code == 0, result.output
    first_fields = [line.split("\t")[0] for line in result.stdout.splitlines() if not line.startswith("#")]
    assert first_fields[0] == "name" and first_fields[1:] == list_backbones()  # `| grep efficientnet_lite0` works
    assert "…" not in result.stdout
    listed = json.loads(runner.invoke(app, ["backbones", "--json"]).stdout)
    assert [entry["name"] for entry in listed] == list_backbones()
    assert {"dim", "crop", "weights", "offline", "license"} <= set(listed[0])


def test_long_paths_are_never_wrapped_when_piped(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / ("a folder with a long name " * 4).strip() / "dataset", slice(0, 2))
    broken = root / "receding" / ("an unreadable clip with a very long file name " * 2 + ".mp4")
    broken.write_bytes(b"broken")
    result = runner.invoke(app, ["data", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(str(root) in line for line in lines)  # the root in the title, whole on one line
    assert any(str(broken) in line for line in lines)
    assert all(len(line) < 400 for line in lines)


def test_extract_progress_goes_to_stderr(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "ds", slice(0, 1))
    result = runner.invoke(app, ["extract", str(root), *TINY, "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "extracting" in result.stderr and "2/2" in result.stderr
    assert result.stdout.splitlines() == [line for line in result.stdout.splitlines() if line.startswith("2 videos:")]


@pytest.mark.parametrize("option", ["--out", "--gif", "--csv", "--plot"])
def test_timeline_refuses_an_output_in_a_missing_folder(tmp_path, option):
    target = tmp_path / "no such folder" / "deeper" / "output.file"
    result = runner.invoke(app, ["timeline", str(tmp_path / "model"), "v.mp4", option, str(target)])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith(f"vidclass: error: {option} {target}: ") and "does not exist" in lines[0]
    assert not (tmp_path / "no such folder").exists()  # nothing created
    folder = runner.invoke(app, ["timeline", str(tmp_path / "model"), "v.mp4", option, str(tmp_path)])
    assert folder.exit_code == 1 and "is a folder" in folder.stderr


@pytest.mark.slow
def test_train_shows_extraction_progress_and_names_what_it_left_out(direction_dataset, tmp_path):
    root = _copy(direction_dataset, tmp_path / "train set", slice(0, 4))
    broken = root / "approaching" / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    dangling = root / "receding" / "dangling.mp4"
    dangling.symlink_to(tmp_path / "gone.mp4")
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", str(root), "--out", str(run), *TINY, "--epochs", "2", "--val", "0.25", "--test", "0.25",
        "--cache", str(tmp_path / "cache"), "--head", "mean",
    ])
    assert result.exit_code == 0, result.output
    assert "extracting" in result.stderr and "8/8" in result.stderr  # the bar, over the readable videos
    assert "extracting" not in result.stdout and "Epoch" not in result.stdout  # no progress bar on stdout
    assert "2 items left out" in result.stderr and str(broken) in result.stderr and str(dangling) in result.stderr
    recorded = (run / "model" / "config.json").read_text()
    assert str(broken) in recorded and str(dangling) in recorded  # the full list in the run folder
    assert sum(json.loads(recorded)["training"]["videos"].values()) == 8  # split after probing: readable only

    other = _copy(direction_dataset, tmp_path / "other set", slice(4, 6))
    (other / "receding" / "empty.mp4").write_bytes(b"")
    evaluated = runner.invoke(app, ["evaluate", str(run / "model"), str(other), "--json", "--cache",
                                    str(tmp_path / "cache")])
    assert evaluated.exit_code == 0, evaluated.output
    notes = json.loads(evaluated.stdout)["notes"]
    assert any(str(other / "receding" / "empty.mp4") in note and "empty" in note for note in notes)


@pytest.mark.parametrize("command", [[], ["train"], ["timeline"], ["serve"]])
def test_help_piped_is_plain_text(command):
    """Rich draws help in 80-column boxes for a terminal; piped, help is plain text with every option."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert not set("╭╮╰╯─│") & set(result.stdout) and "\x1b[" not in result.stdout
    assert result.stdout.startswith("Usage: ") and "--help" in result.stdout
    if command == ["train"]:
        assert "--out" in result.stdout and "--inputs" in result.stdout
