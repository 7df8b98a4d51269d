"""The label box and the annotated video / GIF writers."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from vidclass.errors import ConfigError
from vidclass.media.render import AnnotatedVideoWriter, GifWriter, available_codec, draw_label

TOP = [("playing_guitar", 0.87), ("playing_ukulele", 0.09), ("tuning_an_instrument_with_a_long_name", 0.04)]


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001 - PyAV raises several types for unknown codecs
        return False


def _decode(path) -> tuple[np.ndarray, str, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream.codec_context.name, float(stream.average_rate)


def _frames(n: int, height: int, width: int) -> list[np.ndarray]:
    """Distinct flat frames: frame ``i`` has grey level ``10 + 8 * i``."""
    return [np.full((height, width, 3), 10 + 8 * i, dtype=np.uint8) for i in range(n)]


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (top, left, bottom, right) of the pixels that differ."""
    rows, cols = np.nonzero((before != after).any(axis=2))
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.parametrize(("height", "width"), [(96, 128), (720, 1280)])
def test_draw_label_changes_only_the_box(height, width):
    frame = np.random.default_rng(0).integers(40, 256, size=(height, width, 3), dtype=np.uint8)
    original = frame.copy()
    out = draw_label(frame, "playing_guitar", TOP)
    np.testing.assert_array_equal(frame, original)  # the input is not modified
    assert out.shape == frame.shape and out.dtype == np.uint8
    top, left, bottom, right = _changed_box(frame, out)
    # every pixel of the box is darkened or drawn on: the change is one filled rectangle
    assert (out[top:bottom, left:right] != frame[top:bottom, left:right]).any(axis=2).all()
    outside = np.ones((height, width), dtype=bool)
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(out[outside], frame[outside])
    # a box in the top-left corner that leaves most of the picture visible
    assert top < height * 0.1 and left < width * 0.1
    assert (bottom - top) * (right - left) < 0.6 * height * width


def test_draw_label_text_is_drawn_and_scales_with_the_frame():
    def box_height(height, width):
        frame = np.full((height, width, 3), 100, dtype=np.uint8)
        out = draw_label(frame, "walking", TOP)
        top, left, bottom, right = _changed_box(frame, out)
        box = out[top:bottom, left:right].astype(int)
        # the box darkens grey 100 to 35, bars are coloured or dark grey: whitish pixels are text
        assert (box.min(axis=2) > 150).sum() > 0.01 * box.shape[0] * box.shape[1]
        return bottom - top

    assert box_height(720, 1280) > 3 * box_height(96, 128)  # fonts have a legible minimum size on tiny frames


def test_draw_label_shows_the_label_and_fits_tiny_frames():
    frame = np.full((96, 128, 3), 100, dtype=np.uint8)
    a = draw_label(frame, "walking", TOP)
    b = draw_label(frame, "running", TOP)
    assert not np.array_equal(a, b)
    many = [(f"class_{i}", 1 / 20) for i in range(20)]
    top, left, bottom, right = _changed_box(frame, draw_label(frame, "walking", many))
    assert bottom < 96 and right < 128  # lines that do not fit are left out, with a margin kept
    with pytest.raises(ValueError, match="uint8"):
        draw_label(frame.astype(np.float32), "walking", TOP)


def test_video_writer_round_trip(tmp_path):
    path = tmp_path / "out" / "annotated.mp4"
    frames = _frames(12, 96, 128)
    with AnnotatedVideoWriter(path, fps=12, codec=None) as writer:
        for frame in frames:
            writer.write(draw_label(frame, "walking", TOP[:2]))
    decoded, codec, rate = _decode(path)
    assert decoded.shape == (12, 96, 128, 3)
    assert rate == pytest.approx(12)
    expected_codec = "h264" if _has_encoder("libx264") else "mpeg4"
    assert codec == expected_codec
    # the frames come back in order: compare the grey level far from the label box
    corner = decoded[:, -20:, -20:].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(corner, [10 + 8 * i for i in range(12)], atol=3)
    assert [p.name for p in path.parent.iterdir()] == ["annotated.mp4"]


def test_video_writer_mpeg4_and_odd_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    with AnnotatedVideoWriter(path, fps=30000 / 1001, codec="mpeg4") as writer:
        for frame in _frames(5, 97, 131):
            writer.write(frame)
    decoded, codec, rate = _decode(path)
    assert codec == "mpeg4"
    assert decoded.shape == (5, 98, 132, 3)  # padded to even sizes for yuv420p
    assert rate == pytest.approx(29.97, abs=0.01)


def test_exception_inside_with_leaves_no_file(tmp_path):
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="model failed"):
        with AnnotatedVideoWriter(path, fps=10) as writer:
            for frame in _frames(4, 64, 64):
                writer.write(frame)
            raise RuntimeError("model failed")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_an_existing_file(tmp_path):
    path = tmp_path / "keep.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(ValueError, match="differs from the first frame"):
        with AnnotatedVideoWriter(path, fps=10) as writer:
            writer.write(np.zeros((64, 64, 3), dtype=np.uint8))
            writer.write(np.zeros((64, 80, 3), dtype=np.uint8))
    assert path.read_bytes() == b"previous result"
    assert list(tmp_path.iterdir()) == [path]


def test_writer_rejects_bad_options_and_empty_output(tmp_path):
    with pytest.raises(ConfigError, match="no_such_codec"):
        AnnotatedVideoWriter(tmp_path / "x.mp4", fps=10, codec="no_such_codec")
    with pytest.raises(ConfigError, match="fps"):
        AnnotatedVideoWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match="no frames"):
        with AnnotatedVideoWriter(tmp_path / "x.mp4", fps=10):
            pass
    with pytest.raises(ConfigError, match="suffix '.weird'"):
        with AnnotatedVideoWriter(tmp_path / "x.weird", fps=10) as writer:
            writer.write(np.zeros((8, 8, 3), dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []
    assert available_codec() in {"libx264", "libopenh264", "h264", "mpeg4"}


def _read_gif(path) -> tuple[list[np.ndarray], list[int]]:
    frames, durations = [], []
    with Image.open(path) as image:
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGB")))
            durations.append(image.info["duration"])
    return frames, durations


def test_gif_time_range_size_and_timing(tmp_path):
    path = tmp_path / "clip.gif"
    with GifWriter(path, fps=10, max_width=200, time_range=(1.0, 2.0)) as gif:
        for frame in _frames(30, 120, 400):
            gif.write(frame)
    frames, durations = _read_gif(path)
    assert len(frames) == 11  # frames 10..20, at 1.0 s .. 2.0 s
    assert frames[0].shape == (60, 200, 3)
    assert durations == [100] * 11
    assert frames[0].mean() == pytest.approx(10 + 8 * 10, abs=2)  # starts at frame 10
    assert frames[-1].mean() == pytest.approx(10 + 8 * 20, abs=2)


def test_gif_keeps_real_time_above_50_fps(tmp_path):
    path = tmp_path / "fast.gif"
    with GifWriter(path, fps=60) as gif:
        for frame in _frames(24, 32, 48):
            gif.write(frame)
    frames, durations = _read_gif(path)
    assert len(frames) == 12  # every second frame: GIF delays under 20 ms play slowly
    assert min(durations) >= 20
    assert sum(durations) == pytest.approx(24 / 60 * 1000, abs=10)


def test_gif_leaves_no_file_on_error_or_empty_range(tmp_path):
    with pytest.raises(RuntimeError):
        with GifWriter(tmp_path / "a.gif", fps=10) as gif:
            gif.write(_frames(1, 32, 32)[0])
            raise RuntimeError("stop")
    with pytest.raises(ValueError, match="no frames"):
        with GifWriter(tmp_path / "b.gif", fps=10, time_range=(5.0, 6.0)) as gif:
            for frame in _frames(10, 32, 32):
                gif.write(frame)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="time_range"):
        GifWriter(tmp_path / "c.gif", fps=10, time_range=(2.0, 1.0))


def test_annotated_frame_survives_encoding(tmp_path):
    """The label box is still there after H.264/MPEG-4 compression: saved for a visual check."""
    frame = np.random.default_rng(1).integers(60, 200, size=(240, 320, 3), dtype=np.uint8)
    annotated = draw_label(frame, "playing_guitar", TOP)
    path = tmp_path / "one.mp4"
    with AnnotatedVideoWriter(path, fps=5) as writer:
        writer.write(annotated)
    decoded, _, _ = _decode(path)
    Image.fromarray(decoded[0]).save(tmp_path / "decoded.png")
    top, left, bottom, right = _changed_box(frame, annotated)
    inside = np.abs(decoded[0, top:bottom, left:right].astype(int) - annotated[top:bottom, left:right]).mean()
    assert inside < 12
