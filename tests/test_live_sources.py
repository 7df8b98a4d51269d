"""Live sources (standard input, HTTP): rotation, names in messages, streamable formats."""

from __future__ import annotations

import functools
import http.server
import io
import os
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidclass.errors import VideoReadError
from vidclass.media import video


def _write(path: Path, n: int = 12, *, width: int = 96, height: int = 64, rotation: int = 0, noise: bool = False,
           options: dict[str, str] | None = None) -> Path:
    """An H.264 video of ``n`` asymmetric frames (so a rotation shows), optionally noisy (so it is large)."""
    rng = np.random.default_rng(0)
    container = av.open(str(path), mode="w", options=options or {})
    stream = container.add_stream("libx264", rate=Fraction(10))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if rotation:
        stream.set_display_rotation(rotation)
    for i in range(n):
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if noise else np.zeros((height, width, 3), np.uint8)
        frame[: height // 2, : width // 3] = 255
        frame[..., 1] = (i * 16) % 256
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


@pytest.fixture
def pipe_stdin(monkeypatch):
    """``feed(path)``: the file's bytes arrive on ``sys.stdin`` through a real (unseekable) pipe."""
    writers: list[threading.Thread] = []

    def feed(path: Path) -> None:
        read_end, write_end = os.pipe()

        def write() -> None:
            with os.fdopen(write_end, "wb") as sink:
                try:
                    sink.write(path.read_bytes())
                except BrokenPipeError:
                    pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writers.append(writer)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(read_end, "rb")))

    yield feed
    for writer in writers:
        writer.join(timeout=5)


def _frames(source: str | Path) -> np.ndarray:
    return np.stack([f.display for f in video.stream_frames(source, size=None, crop=None, display=True)])


def test_a_piped_video_keeps_its_rotation(tmp_path, pipe_stdin):
    path = _write(tmp_path / "rot90.mp4", rotation=90, options={"movflags": "+faststart"})
    from_file = _frames(path)
    assert from_file.shape[1:3] == (96, 64)  # displayed upright: taller than wide
    pipe_stdin(path)
    from_pipe = _frames("-")
    assert from_pipe.shape == from_file.shape
    np.testing.assert_array_equal(from_pipe, from_file)


def test_an_mp4_with_its_index_at_the_end_says_how_to_pipe_it(tmp_path, pipe_stdin):
    path = _write(tmp_path / "moov at end.mp4", n=40, width=160, height=120, noise=True)  # larger than a probe read
    assert len(_frames(path)) == 40
    pipe_stdin(path)
    with pytest.raises(VideoReadError) as caught:
        _frames("-")
    message = str(caught.value)
    assert message.startswith("standard input: ")
    assert "streamable" in message and "faststart" in message and "mpegts" in message
    assert "frame -1" not in message


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server over ``tmp_path``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_a_url_keeps_its_rotation_and_is_named_as_given(tmp_path, http_root):
    path = _write(tmp_path / "rot270.mkv", rotation=270)
    np.testing.assert_array_equal(_frames(f"{http_root}/rot270.mkv"), _frames(path))
    missing = f"{http_root}/no-such-video.mp4"
    with pytest.raises(VideoReadError) as caught:
        _frames(missing)
    assert str(caught.value).startswith(f"{missing}: ")  # not http:/127.0.0.1 (a Path folds the //)


@pytest.mark.parametrize("push", [True, False])
def test_the_live_reader_reports_a_lag_only_for_a_source_that_pushes(tmp_path, push):
    from vidclass.media.live_reader import CAPACITY, LiveReader

    path = _write(tmp_path / "clip.mkv", n=CAPACITY + 8)
    container = av.open(str(path))
    reader = LiveReader(lambda: (container, container.streams.video[0]), push=push)
    frames = reader.frames()
    first = next(frames)
    deadline = time.monotonic() + 10
    while len(reader._buffer) < CAPACITY and time.monotonic() < deadline:  # the consumer is slow: the buffer fills
        time.sleep(0.01)
    second = next(frames)
    rest = list(frames)
    assert first.time == 0.0 and second.time == pytest.approx(0.1)
    assert len(rest) == CAPACITY + 6  # bounded buffer, nothing lost
    if push:
        assert second.behind == pytest.approx((CAPACITY - 1) / 10, abs=0.11)  # the frames waiting behind it
    else:
        assert second.behind == 0.0  # a source that waits for its reader is never "behind"
    assert rest[-1].behind == 0.0


def test_a_stop_request_ends_a_stream_after_the_current_frame(tmp_path):
    path = _write(tmp_path / "clip.mp4", n=30)
    stop = threading.Event()
    seen = []
    for frame in video.stream_frames(path, size=None, crop=None, stop=stop):
        seen.append(frame.index)
        if frame.index == 2:
            stop.set()
    assert seen == [0, 1, 2]


def test_a_stop_request_ends_a_silent_live_source(tmp_path, monkeypatch):
    path = _write(tmp_path / "clip.ts", n=30)
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(read_end, "rb")))
    stop = threading.Event()
    with os.fdopen(write_end, "wb") as silent:  # a little data, then silence: the pipe stays open
        silent.write(path.read_bytes()[:2048])
        silent.flush()
        timer = threading.Timer(1.0, stop.set)  # no frame comes (FFmpeg is still probing): the wait must notice
        timer.start()
        started = time.monotonic()
        got = [frame.index for frame in video.stream_frames("-", size=None, crop=None, stop=stop)]
        assert stop.is_set() and time.monotonic() - started < 5
    assert got == []
