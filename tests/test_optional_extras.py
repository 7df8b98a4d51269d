"""An optional feature used without its extra fails in one line that names the extra to install,
before any work starts (never a traceback, never a decoding worker's error per video)."""

from __future__ import annotations

import shutil
import sys

import pytest
from cli_checks import one_error_line
from typer.testing import CliRunner

from vidclass.cli import app

runner = CliRunner()


def _missing(monkeypatch, *modules: str) -> None:
    """Make ``import`` of each of ``modules`` (and of anything that imported them before) fail here."""
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in modules) or name.startswith("vidclass.serve"):
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_serve_without_its_extra_names_the_extra(monkeypatch, tmp_path):
    _missing(monkeypatch, "fastapi")
    line = one_error_line(runner.invoke(app, ["serve", str(tmp_path)]))
    assert "fastapi" in line and "pip install 'vidclass[serve]'" in line


@pytest.mark.parametrize("command", ["extract", "train"])
def test_pose_inputs_without_litert_name_the_extra_before_decoding(monkeypatch, tmp_path, direction_dataset, command):
    root = tmp_path / "data"
    for label in ("approaching", "receding"):
        (root / label).mkdir(parents=True)
        for clip in sorted((direction_dataset / label).glob("*.mp4"))[:2]:
            shutil.copy(clip, root / label / clip.name)
    _missing(monkeypatch, "ai_edge_litert")
    out = ["--out", str(tmp_path / "run")] if command == "train" else []
    result = runner.invoke(app, [command, str(root), *out, "--inputs", "pose", "--frames", "2", "--workers", "0",
                                 "--cache", str(tmp_path / "cache")])
    line = one_error_line(result)
    assert "pip install 'vidclass[pose]'" in line
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))
