"""Which frames of a video to look at: samplers that return frame indices, never frames.

Every sampler spreads its K frames over the whole video (or the whole clip or window it
picked), never the first K. A video with fewer frames than K is never dropped: all its
frames come first, then the last frame repeats to fill K, and ``mask`` marks the repeats
False, so ``mask.sum()`` is the true sequence length and the real frames form a prefix.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np

from vidclass.errors import ConfigError


@dataclass(frozen=True)
class FrameSample:
    """K frame indices (int64, nondecreasing) and which of them are real (not padding)."""

    indices: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Window:
    """A stretch of video from ``start`` to ``end`` seconds and the frames sampled in it."""

    start: float
    end: float
    sample: FrameSample


def _count(name: str, value: int, why: str = "") -> int:
    """``value`` as a positive int, else ConfigError naming the option."""
    try:
        number = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"{name} must be >= 1, got {number}{why}")
    return number


def _frames_and_k(num_frames: int, k: int) -> tuple[int, int]:
    return _count("num_frames", num_frames, " (the video has no frames)"), _count("k", k)


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _padded(num_frames: int, k: int) -> FrameSample:
    """All ``num_frames`` (< k) frames, then the last one repeated up to k, marked False."""
    indices = np.minimum(np.arange(k, dtype=np.int64), num_frames - 1)
    return FrameSample(indices, np.arange(k) < num_frames)


def uniform(num_frames: int, k: int) -> FrameSample:
    """K frames evenly spread from the first frame to the last (distinct when there are enough)."""
    num_frames, k = _frames_and_k(num_frames, k)
    if num_frames < k:
        return _padded(num_frames, k)
    # floor(x + 0.5) rather than np.round: round-half-even could map two points to one frame.
    indices = np.floor(np.linspace(0, num_frames - 1, k) + 0.5).astype(np.int64)
    return FrameSample(indices, np.ones(k, dtype=bool))


def segments(num_frames: int, k: int, *, rng: np.random.Generator | None = None) -> FrameSample:
    """TSN sampling: K equal segments, one frame from each.

    With ``rng`` (training) the frame is at a random offset in its segment; without it
    (evaluation) it is the segment's middle frame, so the result is deterministic.
    """
    num_frames, k = _frames_and_k(num_frames, k)
    if num_frames < k:
        return _padded(num_frames, k)
    # Segment i spans [i, i + 1) * num_frames / k; a frame belongs to the segment holding
    # its centre, so segment i starts at frame round(i * num_frames / k) and holds >= 1 frame.
    i = np.arange(k + 1, dtype=np.int64)
    starts = (2 * i * num_frames + k) // (2 * k)
    if rng is None:  # the frame holding the segment's centre
        indices = ((2 * i[:-1] + 1) * num_frames) // (2 * k)
    else:
        indices = starts[:-1] + rng.integers(0, np.diff(starts))
    return FrameSample(indices.astype(np.int64), np.ones(k, dtype=bool))


def random_clip(num_frames: int, fps: float, seconds: float, k: int, *, rng: np.random.Generator | None) -> FrameSample:
    """K uniform frames inside a clip of ``seconds`` at a random start (whole video if shorter).

    ``rng=None`` takes the middle clip instead, for deterministic evaluation.
    """
    num_frames, k = _frames_and_k(num_frames, k)
    fps, seconds = _positive("fps", fps), _positive("seconds", seconds)
    length = min(num_frames, max(1, round(seconds * fps)))
    room = num_frames - length
    start = room // 2 if rng is None else int(rng.integers(0, room + 1))
    inner = uniform(length, k)
    return FrameSample(inner.indices + start, inner.mask.copy())


def sliding_windows(num_frames: int, fps: float, window: float, stride: float, k: int) -> list[Window]:
    """Windows of ``window`` seconds starting every ``stride`` seconds, until one reaches the end.

    Together they cover the whole video; the last may be shorter than ``window`` (its frames
    are then padded and masked like a short video). A video shorter than one window gives
    one window over all of it. Frame i spans [i/fps, (i+1)/fps).
    """
    num_frames, k = _frames_and_k(num_frames, k)
    fps, window, stride = _positive("fps", fps), _positive("window", window), _positive("stride", stride)
    duration = num_frames / fps
    windows = []
    j = 0
    while True:
        start = j * stride
        end = min(start + window, duration)
        first = min(round(start * fps), num_frames - 1)
        stop = max(first + 1, min(num_frames, round(end * fps)))
        inner = uniform(stop - first, k)
        windows.append(Window(start, end, FrameSample(inner.indices + first, inner.mask.copy())))
        if start + window >= duration - 1e-9:
            return windows
        j += 1
