"""Decoding: metadata, sampled frames and streams checked against an independent decoder
(OpenCV reading every frame), seeking against forward decoding, rotation, and bad files."""

from __future__ import annotations

import dataclasses
import functools
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidclass.data.synthetic import random_scene, render_frames, write_video
from vidclass.errors import ConfigError, VideoReadError
from vidclass.media import video
from vidclass.media.sampling import uniform

try:
    import cv2
except ImportError:  # a test extra: only the cross-checks against OpenCV need it
    cv2 = None
needs_opencv = pytest.mark.skipif(cv2 is None, reason="opencv-python-headless (test extra) is not installed")

REAL_CLIPS = ["demo.mp4", "test.mp4", "test.avi", "short32.mp4"]


# --------------------------------------------------------------------------- helpers


@functools.cache
def _opencv_frames(path: str) -> np.ndarray:
    """Every frame of ``path`` as RGB, read one after another by OpenCV (the reference)."""
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., ::-1])
    capture.release()
    return np.stack(frames)


def _opencv_property(path: str, prop: int) -> float:
    """One property of ``path`` as OpenCV reads it (its capture released at once)."""
    capture = cv2.VideoCapture(path)
    try:
        return capture.get(prop)
    finally:
        capture.release()


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame mean absolute difference in grey levels."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).reshape(len(a), -1).mean(axis=1)


def _scene_frames(n: int, width: int = 96, height: int = 64, seed: int = 0) -> list[np.ndarray]:
    """``n`` distinct textured frames with a moving square (asymmetric, so rotations show)."""
    scene = random_scene(np.random.default_rng(seed), max(width, height), period=2.0)
    return [f[:height, :width].copy() for f in render_frames(scene, "approaching", np.arange(n) / 12.0)]


def _write(path: Path, frames: list[np.ndarray], *, fps: int = 12, gop: int | None = None) -> Path:
    """Write an H.264 mp4 with a given keyframe interval."""
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "yuv420p"
    options = {"preset": "veryfast", "crf": "18"}
    if gop:
        options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    stream.options = options
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    return path


def _with_rotation(source: Path, path: Path, rotation: int) -> Path:
    """A copy of ``source`` whose packets are the same bytes, with a display rotation (counter-clockwise): what
    it decodes to differs from ``source`` by the rotation alone (a second encode may differ in its bits)."""
    with av.open(str(source)) as given, av.open(str(path), mode="w") as written:
        stream = written.add_stream_from_template(given.streams.video[0])
        stream.set_display_rotation(rotation)
        for packet in given.demux(given.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                written.mux(packet)
    return path


class _SeekCounter:
    """Wraps an input container and records every seek."""

    def __init__(self, inner, seeks: list[int]) -> None:
        self._inner, self._seeks = inner, seeks

    def seek(self, offset, **kwargs):
        self._seeks.append(offset)
        return self._inner.seek(offset, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def seeks(monkeypatch) -> list[int]:
    """The offsets of every seek vidclass.media.video makes during the test."""
    log: list[int] = []
    real_open = av.open
    monkeypatch.setattr(video.av, "open", lambda *a, **k: _SeekCounter(real_open(*a, **k), log))
    return log


@pytest.fixture(scope="module", params=["mp4", "ts", "mkv"])
def short_gop(request, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 60-frame video with a keyframe every 8 frames, and its frames decoded forward.

    MP4, MPEG-TS and Matroska demuxers seek differently (TS may land a keyframe late).
    """
    path = _write(tmp_path_factory.mktemp("gop") / f"gop8.{request.param}", _scene_frames(60), gop=8)
    return path, video.read_frames(path, np.arange(60))


def _clip(shared_data: Path, name: str) -> Path:
    path = shared_data / "clips" / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


# --------------------------------------------------------------------------- real clips


@needs_opencv
@pytest.mark.parametrize("name", REAL_CLIPS)
def test_probe_matches_full_decode(shared_data, name):
    path = _clip(shared_data, name)
    reference = _opencv_frames(str(path))
    info = video.probe(path)
    assert info.num_frames == len(reference)
    assert (info.height, info.width) == reference.shape[1:3]
    assert info.fps == pytest.approx(_opencv_property(str(path), cv2.CAP_PROP_FPS), rel=1e-3)
    assert info.duration == pytest.approx(info.num_frames / info.fps, rel=0.02)
    assert info.rotation == 0 and info.codec in {"h264", "mpeg4"}
    assert info.keyframes[0] == 0 and list(info.keyframes) == sorted(set(info.keyframes))
    assert all(0 <= k < info.num_frames for k in info.keyframes)


@needs_opencv
@pytest.mark.parametrize("name", REAL_CLIPS)
def test_sampled_frames_match_full_decode(shared_data, name):
    path = _clip(shared_data, name)
    reference = _opencv_frames(str(path))
    n = len(reference)
    rng = np.random.default_rng(0)
    indices = np.concatenate([uniform(n, 16).indices, rng.integers(0, n, 8), [n - 1, 0]])
    frames = video.read_frames(path, indices)
    assert frames.shape == (len(indices), *reference.shape[1:]) and frames.dtype == np.uint8
    assert _mean_abs_diff(frames, reference[indices]).max() < 2.0


@needs_opencv
def test_keyframe_seeks_on_a_real_clip_land_on_exact_frames(shared_data, seeks):
    path = _clip(shared_data, "demo.mp4")
    info = video.probe(path)
    assert len(info.keyframes) > 1, "demo.mp4 was expected to have several keyframes"
    later = [k + 1 for k in info.keyframes[1:]]  # each just past a keyframe: worth a seek
    frames = video.read_frames(path, [2, *later], info=info)
    assert len(seeks) == len(later)
    assert _mean_abs_diff(frames, _opencv_frames(str(path))[[2, *later]]).max() < 2.0


@needs_opencv
def test_resize_keeps_aspect_and_matches_an_independent_resize(shared_data):
    path = _clip(shared_data, "test.mp4")  # 340 x 256
    native = _opencv_frames(str(path))[[0, 150]]
    small = video.read_frames(path, [0, 150], size=128)
    assert small.shape == (2, 128, 170, 3)
    expected = np.stack([cv2.resize(f, (170, 128), interpolation=cv2.INTER_AREA) for f in native])
    assert _mean_abs_diff(small, expected).max() < 3.0
    for interpolation in video.INTERPOLATIONS:
        assert video.read_frames(path, [0], size=64, interpolation=interpolation).shape == (1, 64, 85, 3)


def test_crop_is_the_centre_of_the_resized_frame(shared_data):
    path = _clip(shared_data, "test.mp4")
    resized = video.read_frames(path, [10, 20], size=128)
    cropped = video.read_frames(path, [10, 20], size=128, crop=112)
    assert cropped.shape == (2, 112, 112, 3)
    top, left = (128 - 112) // 2, (170 - 112) // 2
    np.testing.assert_array_equal(cropped, resized[:, top : top + 112, left : left + 112])
    native_crop = video.read_frames(path, [10], crop=200)
    assert native_crop.shape == (1, 200, 200, 3)


# --------------------------------------------------------------------------- synthetic videos


def test_repeated_and_unsorted_indices_come_back_in_the_order_asked(short_gop):
    path, forward = short_gop
    indices = [41, 3, 3, 59, 0, 41, 17]
    np.testing.assert_array_equal(video.read_frames(path, indices), forward[indices])
    assert video.read_frames(path, []).shape == (0, 64, 96, 3)


def test_seeking_path_gives_the_same_frames_as_forward_decoding(short_gop, seeks):
    path, forward = short_gop
    info = video.probe(path)
    assert info.keyframes == tuple(range(0, 60, 8))
    indices = np.array([5, 20, 21, 33, 47, 58, 59])
    sought = video.read_frames(path, indices, info=info)
    assert len(seeks) >= 3, "a short-GOP video should be read with seeks"
    seeks.clear()
    one_pass = video.read_frames(path, indices, info=dataclasses.replace(info, keyframes=(0,)))
    assert seeks == []
    np.testing.assert_array_equal(sought, one_pass)
    np.testing.assert_array_equal(sought, forward[indices])


def test_no_seek_when_the_wanted_frames_lie_in_one_gop(short_gop, seeks):
    path, forward = short_gop
    np.testing.assert_array_equal(video.read_frames(path, [17, 18, 22]), forward[[17, 18, 22]])
    assert 1 <= len(seeks) <= 2  # to keyframe 16 (again from 8 if it landed late), then forward
    seeks.clear()
    video.read_frames(path, [1, 6, 7])
    assert seeks == []


def test_frames_match_what_was_encoded(tmp_path):
    frames = _scene_frames(20)
    path = write_video(tmp_path / "clip.mp4", frames, fps=10)
    decoded = video.read_frames(path, np.arange(20)).astype(np.int16)
    encoded = np.stack(frames).astype(np.int16)
    distance = np.abs(decoded[:, None] - encoded[None]).mean(axis=(2, 3, 4))  # decoded x encoded
    np.testing.assert_array_equal(distance.argmin(axis=1), np.arange(20))  # no frame off by one
    assert distance.diagonal().max() < 6.0  # a lossy codec, but no colour swap or shift
    np.testing.assert_allclose(decoded.mean(axis=(0, 1, 2)), encoded.mean(axis=(0, 1, 2)), atol=2.0)


@needs_opencv
@pytest.mark.parametrize("counter_clockwise", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path, counter_clockwise):
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write rotation metadata (VideoStream.set_display_rotation)")
    source = _write(tmp_path / "plain.mp4", _scene_frames(6, width=96, height=64))
    plain = video.read_frames(source, [0, 5])
    path = _with_rotation(source, tmp_path / f"rot{counter_clockwise}.mp4", counter_clockwise)
    info = video.probe(path)
    orientation = _opencv_property(str(path), cv2.CAP_PROP_ORIENTATION_META)  # an independent reading
    assert info.rotation == int(orientation) == (360 - counter_clockwise) % 360
    assert (info.width, info.height) == ((64, 96) if counter_clockwise != 180 else (96, 64))
    turned = video.read_frames(path, [0, 5], info=info)
    np.testing.assert_array_equal(turned, np.rot90(plain, counter_clockwise // 90, axes=(1, 2)))
    shown = _opencv_frames(str(path))[0]  # OpenCV applies the rotation too
    assert _mean_abs_diff(turned[:1], shown[None])[0] < 2.0
    resized = video.read_frames(path, [0], size=32, crop=30, info=info)
    assert resized.shape == (1, 30, 30, 3)
    tall = video.read_frames(path, [0], size=32, info=info)
    assert tall.shape == ((1, 48, 32, 3) if counter_clockwise != 180 else (1, 32, 48, 3))


def test_iter_frames_streams_every_frame_in_order(short_gop):
    path, forward = short_gop
    info = video.probe(path)
    items = list(video.iter_frames(path))
    assert [i for i, _, _ in items] == list(range(60))
    np.testing.assert_allclose([t for _, t, _ in items], np.arange(60) / info.fps)
    np.testing.assert_array_equal(np.stack([f for _, _, f in items]), forward)


def test_iter_frames_every_and_resize(short_gop):
    path, _ = short_gop
    expected = video.read_frames(path, np.arange(0, 60, 7), size=32, crop=32)
    items = list(video.iter_frames(path, size=32, crop=32, every=7))
    assert [i for i, _, _ in items] == list(range(0, 60, 7))
    np.testing.assert_array_equal(np.stack([f for _, _, f in items]), expected)


def test_unicode_and_spaces_in_file_names(tmp_path):
    path = write_video(tmp_path / "vidéo à tester 映像.mp4", _scene_frames(12), fps=12)
    info = video.probe(path)
    assert info.num_frames == 12 and info.path == path
    assert video.read_frames(path, [0, 11], size=32).shape == (2, 32, 48, 3)
    assert len(list(video.iter_frames(path, every=4))) == 3


def test_container_count_off_by_one_at_the_end_repeats_the_last_frame(short_gop):
    path, forward = short_gop
    info = video.probe(path)
    one_more = dataclasses.replace(info, num_frames=61, keyframes=(0,))
    np.testing.assert_array_equal(video.read_frames(path, [58, 60], info=one_more), forward[[58, 59]])
    far_off = dataclasses.replace(info, num_frames=70, keyframes=(0,))
    with pytest.raises(VideoReadError, match="frame 65 of 70 cannot be decoded") as caught:
        video.read_frames(path, [65], info=far_off)
    assert path.name in str(caught.value)


# --------------------------------------------------------------------------- bad input


def _mp4(tmp_path: Path, name: str, **options) -> Path:
    return write_video(tmp_path / name, _scene_frames(24), fps=12, **options)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nowhere.mp4"


def _zero_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


def _truncated(tmp_path: Path) -> Path:
    data = _mp4(tmp_path, "whole.mp4").read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_with_index_first(tmp_path: Path) -> Path:
    """An mp4 whose index (moov) comes first, cut mid-way through its frames."""
    frames = _scene_frames(24)
    source = tmp_path / "faststart.mp4"
    container = av.open(str(source), mode="w", options={"movflags": "faststart"})
    stream = container.add_stream("libx264", rate=12)
    stream.height, stream.width, stream.pix_fmt = 64, 96, "yuv420p"
    for frame in frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
    container.close()
    data = source.read_bytes()
    path = tmp_path / "cut short.mp4"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _text_renamed(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("these are meeting notes, not a video\n" * 50)
    return path


def _audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "voice.mp4"
    container = av.open(str(path), mode="w")
    stream = container.add_stream("aac", rate=16000)
    for _ in range(10):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
    container.close()
    return path


def _no_frames(tmp_path: Path) -> Path:
    path = tmp_path / "blank.avi"
    container = av.open(str(path), mode="w")
    stream = container.add_stream("mpeg4", rate=12)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def _undecodable(tmp_path: Path) -> Path:
    """A valid mp4 container whose coded frames were overwritten with zeros."""
    data = bytearray(_mp4(tmp_path, "good.mp4").read_bytes())
    at = data.find(b"mdat")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(bytes(data))
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "clips.mp4"
    path.mkdir()
    return path


BAD_FILES = {
    "missing": (_missing, "does not exist"),
    "zero bytes": (_zero_bytes, "empty"),
    "truncated": (_truncated, "cannot be opened as a video"),
    "truncated, index first": (_truncated_with_index_first, "truncated"),
    "text renamed .mp4": (_text_renamed, "cannot be opened as a video"),
    "audio only": (_audio_only, "no video stream"),
    "zero video frames": (_no_frames, "no frames"),
    "undecodable": (_undecodable, "no frame can be decoded"),
    "a directory": (_directory, "not a file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path, case):
    make, problem = BAD_FILES[case]
    path = make(tmp_path)
    for read in (video.probe, lambda p: video.read_frames(p, [0]), lambda p: next(video.iter_frames(p))):
        with pytest.raises(VideoReadError, match=problem) as caught:
            read(path)
        assert str(path) in str(caught.value)
        assert caught.value.path == path


def test_bad_options_are_refused_with_their_name(short_gop):
    path, _ = short_gop
    with pytest.raises(ConfigError, match="interpolation must be one of"):
        video.read_frames(path, [0], interpolation="cubic")
    with pytest.raises(ConfigError, match="size must be"):
        video.read_frames(path, [0], size=0)
    with pytest.raises(ConfigError, match="crop=100 is larger"):
        video.read_frames(path, [0], crop=100)
    with pytest.raises(ConfigError, match="frame index 60 is out of range"):
        video.read_frames(path, [0, 60])
    with pytest.raises(ConfigError, match="frame index -1"):
        video.read_frames(path, [-1])
    with pytest.raises(ConfigError, match="every must be"):
        video.iter_frames(path, every=0)
