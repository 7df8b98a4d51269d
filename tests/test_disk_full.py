"""A full disk (simulated ENOSPC at the write) gives one line that names the folder, says how much was
written and that a rerun resumes; the caches hold complete entries only, and a rerun with space finishes."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest
from cli_checks import one_error_line
from safetensors import SafetensorError
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.errors import DiskFullError
from vidclass.inputs import features
from vidclass.inputs.frame_cache import FrameCache, cache_frames
from vidclass.inputs.pixels import FrameSpec

runner = CliRunner()
TINY = ["--backbone", "timm:mobilenetv3_small_050", "--pretrained", "none", "--frames", "2", "--workers", "0",
        "--inputs", "appearance"]
FULL = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'


def _dataset(direction_dataset: Path, root: Path, per_class: int = 2) -> Path:
    for label in ("approaching", "receding"):
        (root / label).mkdir(parents=True)
        for clip in sorted((direction_dataset / label).glob("*.mp4"))[:per_class]:
            shutil.copy(clip, root / label / clip.name)
    return root


def _fills_after(monkeypatch, module, writes: int) -> None:
    """``module.save_file`` writes ``writes`` files, then leaves half a file behind and fails as safetensors
    does on a full disk."""
    real, done = module.save_file, []

    def save_file(tensors, filename, metadata=None):
        if len(done) >= writes:
            Path(filename).write_bytes(b"\0" * 100)
            raise SafetensorError(FULL)
        done.append(filename)
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(module, "save_file", save_file)


def test_extract_on_a_full_disk_says_so_in_one_line_and_a_rerun_finishes(direction_dataset, tmp_path, monkeypatch):
    root, cache = _dataset(direction_dataset, tmp_path / "ds"), tmp_path / "cache"
    with monkeypatch.context() as patch:
        _fills_after(patch, features, writes=1)
        result = runner.invoke(app, ["extract", str(root), *TINY, "--cache", str(cache)])
        line = one_error_line(result, besides_progress=True)
    assert str(cache) in line and "no space left" in line and "rerun" in line
    assert "wrote 1 of the 4 videos" in line
    files = [path for path in cache.rglob("*") if path.is_file()]
    assert [path.suffix for path in files if "onnx" not in path.parts] == [".safetensors"]  # no partial entry
    again = runner.invoke(app, ["extract", str(root), *TINY, "--cache", str(cache)])
    assert again.exit_code == 0, again.output
    assert "3 computed" in again.stdout and "1 from cache" in again.stdout


def test_the_decoded_frame_cache_on_a_full_disk_keeps_complete_entries(direction_dataset, tmp_path, monkeypatch):
    from vidclass.inputs import frame_cache

    videos = sorted(_dataset(direction_dataset, tmp_path / "ds").rglob("*.mp4"))
    spec, cache = FrameSpec(store=36, grid=4), FrameCache(tmp_path / "frames")
    real, done = frame_cache.write_chunk, []

    def fills_after_two(out, frames):  # one chunk per entry: the third entry finds the disk full half-way
        if len(done) >= 2:
            out.write(b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device", out.name)
        done.append(out.name)
        real(out, frames)

    with monkeypatch.context() as patch:
        patch.setattr(frame_cache, "write_chunk", fills_after_two)
        with pytest.raises(DiskFullError, match=r"frames: no space left.*wrote 2 of the 4 videos"):
            cache_frames(videos, spec, cache, workers=0)
    files = sorted(path.name.split(".", 1)[1] for path in (tmp_path / "frames").rglob("*") if path.is_file())
    assert files == ["frames.npy", "frames.npy", "json", "json"]  # two whole entries, nothing partial
    report = cache_frames(videos, spec, cache, workers=0)
    assert (report.cached, report.computed) == (2, 2)


def test_a_run_folder_on_a_full_disk_is_named_in_one_line(direction_dataset, tmp_path, monkeypatch):
    from vidclass.training import run_folder

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(run_folder, "write_json", full)
    root, run = _dataset(direction_dataset, tmp_path / "ds"), tmp_path / "run"
    line = one_error_line(runner.invoke(app, ["train", str(root), "--out", str(run), *TINY,
                                               "--cache", str(tmp_path / "cache")]), besides_progress=True)
    assert "no space left" in line and "rerun" in line and str(tmp_path) in line
