"""Fixtures of the serve tests: a tiny trained model, the real clips, a live server, an artifacts folder."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidclass.cli import app as cli
from vidclass.estimator.classifier import VideoClassifier

REPO = Path(__file__).resolve().parents[2]
TINY = dict(backbone="timm:mobilenetv3_small_050", pretrained=False, frames=4, epochs=2, batch_size=4, val=0.25,
            test=0.25, head="gru", workers=0)


@pytest.fixture(scope="session")
def serve_model_dir(direction_dataset, tmp_path_factory) -> Path:
    """A tiny random-init backbone and GRU head fitted on the synthetic direction task (seconds)."""
    out = tmp_path_factory.mktemp("serve-run")
    VideoClassifier(**TINY, cache_dir=out / "cache").fit(direction_dataset, out_dir=out)
    return out / "model"


@pytest.fixture(scope="session")
def clips(shared_data) -> Path:
    return shared_data / "clips"


@pytest.fixture(scope="session")
def cli_predictions(serve_model_dir, tmp_path_factory):
    """``vidclass predict MODEL CLIP --json``, the reference the server must agree with, per clip path."""
    cache = tmp_path_factory.mktemp("cli-cache")

    def predict(clip: Path, top_k: int = 2) -> dict:
        result = CliRunner().invoke(cli, ["predict", str(serve_model_dir), str(clip), "--json", "--top-k", str(top_k),
                                          "--cache", str(cache)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0]

    return predict


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where CI keeps what the serve tests leave for people to look at (screenshots, load figures)."""
    folder = Path(os.environ.get("VIDCLASS_TEST_ARTIFACTS", REPO / "runs" / "test-artifacts")) / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def live_server(serve_model_dir, tmp_path_factory):
    """``vidclass serve`` in its own process on 127.0.0.1: one worker, two waiting places.

    Yields (base URL, process, its temporary folder); TMPDIR points the server's private
    upload folder there, so a test can check that nothing is left behind, even after it stops.
    """
    from vidclass.serve.loadtest import running_server

    folder = tmp_path_factory.mktemp("server")
    temp = folder / "tmp"
    temp.mkdir()
    with running_server(serve_model_dir, "--workers", "1", "--queue", "2", log=folder / "server.log",
                        env={"TMPDIR": str(temp)}) as (url, process):
        yield url, process, temp
    log = (folder / "server.log").read_text()
    assert process.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in log, log[-3000:]
    assert list(temp.glob("vidclass-serve-*")) == []  # which removes the private folder with all it held
