"""Annotated output: a label box (and skeletons) drawn on frames, written to an mp4 or a GIF.

Model-independent: frames are RGB uint8 arrays (H x W x 3) and labels are strings with
probabilities. Both writers are atomic: they write under a temporary name beside the
target and rename on success, so a crash or an exception never leaves a broken file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidclass.errors import ConfigError

_ENCODERS = ("libx264", "libopenh264", "h264", "mpeg4")  # best first; "h264" = FFmpeg's default H.264
_BOX_ALPHA = 0.65  # how much the label box darkens the frame beneath it


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame of shape (H, W, 3), got {frame.dtype} {frame.shape}")
    return frame


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels: always present, no system fonts needed."""
    return ImageFont.load_default(size=size)


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    """``text``, shortened with an ellipsis until it is at most ``width`` pixels wide."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…" if text else ""


def draw_label(frame: np.ndarray, label: str, top: Sequence[tuple[str, float]]) -> np.ndarray:
    """A copy of ``frame`` with a label box in its top-left corner.

    The box shows ``label`` in large type, then one line per ``(name, probability)`` of
    ``top``: the name, the probability as ``0.87`` and a small bar. Text size follows
    the shorter side of the frame, so the box is readable from 96 px to 4K; lines that
    do not fit the frame are left out and long names are shortened. Pixels outside the
    box are left exactly as they were.
    """
    frame = _check_frame(frame)
    height, width = frame.shape[:2]
    side = min(height, width)
    big, small = _font(max(10, round(side / 18))), _font(max(8, round(side / 30)))
    big_h, small_h = sum(big.getmetrics()), sum(small.getmetrics())
    pad = max(2, round(small.size / 3))  # inner padding, outer margin and column gap
    line_h = small_h + pad // 2
    inner_w = width - 4 * pad

    rows = min(len(top), max(0, (height - 4 * pad - big_h - pad) // line_h))
    prob_w = small.getlength("0.00")
    bar_w = round(small.size * 3)
    names_w = max(0.0, inner_w - prob_w - bar_w - 2 * pad)
    names = [_fit(str(name), small, names_w) for name, _ in top[:rows]]
    name_col = max((small.getlength(n) for n in names), default=0.0)
    title = _fit(str(label), big, inner_w)
    content_w = max(big.getlength(title), name_col + prob_w + bar_w + 2 * pad if rows else 0.0)
    box_w = min(width - pad, round(content_w) + 2 * pad)
    box_h = min(height - pad, big_h + 2 * pad + rows * line_h + (pad if rows else 0))

    y0, x0 = pad, pad
    region = frame[y0 : y0 + box_h, x0 : x0 + box_w].astype(np.float32) * (1 - _BOX_ALPHA)
    box = Image.fromarray(region.round().astype(np.uint8))
    draw = ImageDraw.Draw(box)
    draw.text((pad, pad), title, font=big, fill=(255, 255, 255))
    bar_h = max(3, small_h // 2)
    for row, (shown, (name, probability)) in enumerate(zip(names, top[:rows])):
        y = pad + big_h + pad + row * line_h
        p = float(np.clip(probability, 0.0, 1.0))
        draw.text((pad, y), shown, font=small, fill=(235, 235, 235))
        x = pad + name_col + pad
        draw.text((x + prob_w, y), f"{p:.2f}", font=small, fill=(235, 235, 235), anchor="ra")
        x += prob_w + pad
        bar_y = y + (small_h - bar_h) // 2
        draw.rectangle((x, bar_y, x + bar_w - 1, bar_y + bar_h - 1), fill=(70, 70, 70))
        if p > 0:
            colour = (90, 200, 90) if str(name) == str(label) else (110, 160, 230)
            draw.rectangle((x, bar_y, x + max(1, round(bar_w * p)) - 1, bar_y + bar_h - 1), fill=colour)
    out = frame.copy()
    out[y0 : y0 + box_h, x0 : x0 + box_w] = np.asarray(box)
    return out


_SLOT_COLOURS = ((255, 80, 80), (80, 200, 255), (255, 210, 60), (170, 110, 255), (90, 230, 120), (255, 140, 220))


def draw_pose(
    frame: np.ndarray,
    skeletons: np.ndarray,
    edges: Sequence[tuple[int, int]],
    *,
    min_score: float = 0.3,
) -> np.ndarray:
    """A copy of ``frame`` with skeletons drawn: ``skeletons`` (P, J, 3) holds P people's
    joints (x, y in the frame's pixels, score), one colour per slot (so a tracked person
    keeps their colour); joints scoring below ``min_score`` and the limbs (``edges``, pairs
    of joint indices) that touch them are left out, as are empty slots (all scores 0)."""
    frame = _check_frame(frame)
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(frame.shape[:2]) / 160))
    for slot, joints in enumerate(np.asarray(skeletons, dtype=np.float32)):
        colour = _SLOT_COLOURS[slot % len(_SLOT_COLOURS)]
        shown = joints[:, 2] >= min_score
        for a, b in edges:
            if shown[a] and shown[b]:
                draw.line([tuple(joints[a, :2]), tuple(joints[b, :2])], fill=colour, width=width)
        for x, y in joints[shown, :2]:
            draw.ellipse([x - width, y - width, x + width, y + width], fill=(255, 255, 255), outline=colour)
    return np.asarray(image)


def available_codec(codec: str | None = None) -> str:
    """``codec`` if this PyAV build can encode it, else the best H.264 encoder, else MPEG-4."""
    for name in (codec,) if codec else _ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - PyAV raises several types for unknown codecs
            continue
    if codec:
        raise ConfigError(f"codec {codec!r} has no encoder in this PyAV build; try one of {list(_ENCODERS)}")
    raise ConfigError(f"this PyAV build has none of the encoders {list(_ENCODERS)}")


def _temp_beside(path: Path) -> Path:
    """A unique temporary name next to ``path`` with the same suffix (formats go by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


def _check_fps(fps: float) -> float:
    if not (isinstance(fps, (int, float, Fraction, np.number)) and np.isfinite(float(fps)) and fps > 0):
        raise ConfigError(f"fps must be a positive number, got {fps!r}")
    return fps


class AnnotatedVideoWriter:
    """Stream RGB frames into a video file (H.264 mp4 where available, else MPEG-4).

    Use as a context manager. The file appears at ``path`` only when the ``with`` block
    ends normally; an exception inside it removes the partial file. Frames must all
    have the size of the first; odd heights or widths are padded by one edge row or
    column, because yuv420p needs even sizes.
    """

    def __init__(self, path: str | Path, fps: float, *, codec: str | None = None, lossless: bool = False) -> None:
        self.path = Path(path)
        self.fps = _check_fps(fps)
        self.codec = available_codec(codec)
        self.lossless = lossless
        self.frames_written = 0
        self._tmp: Path | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size: tuple[int, int] | None = None
        self._closed = False

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB uint8 frame."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is already closed")
        frame = _check_frame(frame)
        if self._stream is None:
            self._open(*frame.shape[:2])
        elif frame.shape[:2] != self._size:
            raise ValueError(
                f"{self.path}: frame size {frame.shape[:2]} differs from the first frame's {self._size}"
            )
        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames_written
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush the encoder and move the finished file to ``path``."""
        if self._closed:
            return self.path
        if self._stream is None:
            self._abort()
            raise ValueError(f"{self.path}: no frames were written")
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self._abort()
            raise
        self._closed = True
        return self.path

    def _open(self, height: int, width: int) -> None:
        self._tmp = _temp_beside(self.path)
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except (ValueError, av.FFmpegError) as error:
            self._abort()
            raise ConfigError(
                f"{self.path}: cannot write a video with suffix {self.path.suffix!r}; use .mp4 ({error})"
            ) from error
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.height, stream.width = height + height % 2, width + width % 2
        stream.pix_fmt = "yuv420p"
        if stream.codec_context.name == "libx264":
            stream.options = {"preset": "veryfast", "crf": "0" if self.lossless else "20"}
        elif self.lossless:
            stream.options = {"qscale": "1"}
        else:  # MPEG-4's default bit rate is too low for legible text
            stream.bit_rate = max(400_000, int(height * width * float(rate) * 0.2))
        self._stream, self._size = stream, (height, width)

    def _abort(self) -> None:
        """Drop everything written so far; no file is left behind."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the partial file is deleted anyway
                pass
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


class GifWriter:
    """Collect RGB frames into an animated GIF (Pillow), written atomically on close.

    Frames are downscaled to at most ``max_width`` pixels wide and, when ``time_range``
    ``(start, end)`` in seconds is given, only frames with ``start <= index / fps <= end``
    are kept. Frame timing follows ``fps``: GIF delays are whole centiseconds, so delays
    are rounded so that the total duration stays right, and frames closer than 20 ms
    (above 50 fps, which browsers slow down) are dropped. Pillow merges identical
    consecutive frames into one longer frame.
    """

    _MIN_DELAY_S = 0.02

    def __init__(
        self,
        path: str | Path,
        fps: float,
        *,
        max_width: int = 320,
        time_range: tuple[float, float] | None = None,
    ) -> None:
        self.path = Path(path)
        self.fps = _check_fps(fps)
        if max_width < 2:
            raise ConfigError(f"max_width must be at least 2 pixels, got {max_width}")
        if time_range is not None and not time_range[0] <= time_range[1]:
            raise ConfigError(f"time_range must be (start, end) with start <= end, got {time_range}")
        self.max_width = max_width
        self.time_range = time_range
        self._frames: list[Image.Image] = []
        self._times: list[float] = []
        self._index = 0
        self._closed = False

    def __enter__(self) -> GifWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._closed = True
            self._frames.clear()

    @property
    def frames_kept(self) -> int:
        """How many frames the GIF will hold (before Pillow merges identical ones)."""
        return len(self._frames)

    def write(self, frame: np.ndarray) -> None:
        """Offer the next frame of the video; it is kept if it falls in ``time_range``."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is already closed")
        frame = _check_frame(frame)
        t = self._index / float(self.fps)
        self._index += 1
        if self.time_range is not None and not (self.time_range[0] - 1e-9 <= t <= self.time_range[1] + 1e-9):
            return
        if self._times and t < self._times[-1] + self._MIN_DELAY_S - 1e-9:
            return
        image = Image.fromarray(frame)
        if image.width > self.max_width:
            size = (self.max_width, max(1, round(image.height * self.max_width / image.width)))
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        self._frames.append(image.convert("P", palette=Image.Palette.ADAPTIVE))
        self._times.append(t)

    def close(self) -> Path:
        """Write the GIF and move it to ``path``."""
        if self._closed:
            return self.path
        self._closed = True
        if not self._frames:
            raise ValueError(
                f"{self.path}: no frames to write (time range {self.time_range}, {self._index} frames seen)"
            )
        ticks = np.round(np.asarray(self._times) * 100).astype(int)  # centiseconds
        last = max(2, round(100 / float(self.fps)))
        delays_ms = (np.diff(np.append(ticks, ticks[-1] + last)) * 10).tolist()
        tmp = _temp_beside(self.path)
        try:
            first, *rest = self._frames
            first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=delays_ms, loop=0)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
            self._frames.clear()
        return self.path
