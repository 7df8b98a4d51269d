"""Live timelines: a paced pipe gives the file's windows, and a signal stops a live run cleanly
with every requested output written."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset, make_direction_timeline
from vidclass.estimator.classifier import VideoClassifier
from vidclass.media import video
from vidclass.use.predict import TimelineSettings, _Sampler, run_timeline

FPS = 12
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032  # from <fcntl.h> on Linux


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny, quickly trained model: its accuracy does not matter here, only that it runs."""
    root = tmp_path_factory.mktemp("live")
    dataset = make_direction_dataset(root / "data", SyntheticSpec(clips_per_class=3, seconds=1.0, fps=FPS, size=64))
    model = VideoClassifier(backbone="timm:mobilenetv3_small_050", pretrained=False, head="mean", frames=4,
                            inputs="appearance", epochs=1, val=0.34, test=0.0, cache_dir=root / "cache", workers=0)
    model.fit(dataset, out_dir=root / "run")
    return root / "run" / "model"


def _transport_stream(tmp_path: Path, seconds: float) -> Path:
    """A streamable (MPEG-TS) synthetic timeline of ``seconds``, keyframe every second."""
    half = seconds / 2
    mp4 = make_direction_timeline(tmp_path / "timeline.mp4", [("approaching", half), ("receding", half)],
                                  fps=FPS, size=64)
    path = tmp_path / "timeline.ts"
    with av.open(str(path), mode="w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0"}
        for _, _, rgb in video.iter_frames(mp4):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


class _PacedPipe:
    """A pipe for stdin, written evenly over ``seconds`` by a thread (a paced source); with
    ``hold`` it then stays open without more data, as a camera that never ends."""

    def __init__(self, data: bytes, seconds: float, *, hold: bool = False) -> None:
        self.hold = threading.Event() if hold else None
        self.read_end, write_end = os.pipe()
        try:  # Linux: a one-page pipe, so what was written beyond it has surely been read
            fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
            self.capacity = fcntl.fcntl(write_end, F_GETPIPE_SZ)
        except OSError:
            self.capacity = 1 << 16  # the usual default elsewhere
        self.sink = os.fdopen(write_end, "wb")
        self.data, self.seconds = data, seconds
        self.written = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        os.close(self.read_end)  # the child holds its copy
        self.thread.start()

    def _run(self) -> None:
        chunks = 40
        step = -(-len(self.data) // chunks)
        started = time.monotonic()
        try:
            for i in range(chunks):
                self.sink.write(self.data[i * step : (i + 1) * step])
                self.sink.flush()
                self.written = min(len(self.data), (i + 1) * step)
                time.sleep(max(0.0, started + (i + 1) * self.seconds / chunks - time.monotonic()))
            if self.hold is not None:
                self.hold.wait(120)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                self.sink.close()
            except OSError:
                pass


def _rows(path: Path) -> int:
    """Data rows of a CSV that may still be being written (0 while it does not exist)."""
    try:
        with open(path, newline="") as f:
            return len(list(csv.DictReader(f)))
    except FileNotFoundError:
        return 0


def _timeline(model_dir: Path, source: str, *options: str, **popen) -> subprocess.Popen:
    args = [sys.executable, "-m", "vidclass", "timeline", str(model_dir), source, *options]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"},
                            **popen)


def test_the_sampler_skips_only_by_what_has_arrived():
    sampler = _Sampler(rate=4.0)
    picks = [sampler(i, i / 12, behind=0.0) for i in range(24)]
    assert sum(picks) == 8 and sampler.skipped == 0  # late data alone is never a reason to skip
    behind = _Sampler(rate=4.0)
    assert not behind(0, 0.0, behind=1.0) and behind.skipped == 1  # four picks' worth waiting
    assert behind(3, 0.25, behind=0.4)  # within two picks


@pytest.mark.slow
def test_a_pipe_at_half_speed_gives_the_windows_of_the_file(model_dir, tmp_path, monkeypatch):
    clip = _transport_stream(tmp_path, seconds=4.0)
    model = VideoClassifier.load(model_dir)
    settings = TimelineSettings(stride=0.25)
    expected = run_timeline(model, clip, settings)
    pipe = _PacedPipe(clip.read_bytes(), seconds=8.0)  # half speed: 4 s of video over 8 s, through a real pipe
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(os.dup(pipe.read_end), "rb")))
    pipe.start()
    got = run_timeline(model, "-", settings)
    assert got.skipped_frames == 0
    assert len(got.starts) == len(expected.starts) >= 10
    np.testing.assert_allclose(got.starts, expected.starts, atol=1e-6)
    np.testing.assert_allclose(got.raw, expected.raw, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_live_run_and_every_output_is_written(model_dir, tmp_path, sig):
    clip = _transport_stream(tmp_path, seconds=6.0)
    outputs = {"--csv": tmp_path / "t.csv", "--out": tmp_path / "annotated.mp4", "--plot": tmp_path / "t.png"}
    args = [item for pair in outputs.items() for item in (pair[0], str(pair[1]))]
    pipe = _PacedPipe(clip.read_bytes(), seconds=6.0, hold=True)  # real time, then open and silent forever
    process = _timeline(model_dir, "-", "--json", *args, stdin=pipe.read_end)
    pipe.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _rows(outputs["--csv"]) < 2 and process.poll() is None:
            time.sleep(0.1)  # the CSV grows as windows complete: wait for two
        assert _rows(outputs["--csv"]) >= 2, "no window was written incrementally"
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)  # a swallowed signal would wait for a source that never ends
    finally:
        pipe.hold.set()
        process.kill()
    assert process.returncode == 128 + int(sig), err.decode()
    assert "Exception ignored" not in err.decode() and "Traceback" not in err.decode()
    assert f"stopped by {sig.name}, outputs written" in err.decode()
    result = json.loads(out)
    assert result["run"]["stopped_by"] == sig.name and result["windows"]
    assert _rows(outputs["--csv"]) == len(result["windows"])
    assert outputs["--plot"].stat().st_size > 0
    annotated = video.probe(outputs["--out"])  # a complete, playable file
    assert annotated.num_frames >= FPS
