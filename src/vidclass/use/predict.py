"""Labeling new videos with a trained model: ranked labels per clip, and timelines.

A timeline streams through a video of any length once, in order, for any model kind
(:mod:`vidclass.estimator.stream`): it samples frames at the rate the model was trained with (its
frames per view over its training clip length; a frame model: every frame), encodes each
sampled frame once, and slides a window of the last ``n`` encoded frames over them. Memory
holds one window and a few frames, whatever the video's length. Window probabilities are smoothed by rolling prediction averaging over
the last ``smooth`` windows. Live sources are followed in real time: when vidclass falls
behind the frames a real-time source (camera, RTSP) has delivered, sampled frames are skipped
(and counted) rather than queued; a pipe or HTTP stream is read as fast as it comes, never skipped.
A model whose inputs hold pair images (``rgbdiff`` or ``flow``) also gets each sampled frame's pair
image with the frame a fixed offset later (:mod:`vidclass.media.motion`), whose partner the stream converts too.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidclass.errors import ConfigError
from vidclass.estimator.classifier import VideoClassifier
from vidclass.media import motion, video
from vidclass.use.timeline import RollingAverage, TimelineResult

Annotate = Callable[[np.ndarray, float, np.ndarray | None], None]
OnWindow = Callable[[float, float, np.ndarray, np.ndarray], None]  # start, end, raw, smoothed probabilities


def parse_seconds(text: str | float, option: str) -> float:
    """``2``, ``2s``, ``0.5s``, ``500ms``, ``1m`` or ``2h`` -> seconds; ConfigError naming the option otherwise."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", text)
        if not match:
            raise ConfigError(f"{option} must be a duration like 2s, 0.5s or 500ms, got {text!r}")
        value = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[match.group(2)]
    if value <= 0:
        raise ConfigError(f"{option} must be a positive duration, got {text!r}")
    return value


DEFAULT_STRIDE = 0.5  # seconds between windows


@dataclass(frozen=True)
class TimelineSettings:
    """How windows are cut and smoothed; ``window`` defaults to the model's clip length, ``stride``
    to :data:`DEFAULT_STRIDE` (a frame model: every frame)."""

    window: float | None = None
    stride: float | None = None  # None: DEFAULT_STRIDE, or every frame for a frame model
    smooth: int = 1
    batch_size: int = 8  # frames per CNN call: small keeps memory and latency low at about the same speed

    def __post_init__(self) -> None:
        if self.window is not None and self.window <= 0:
            raise ConfigError(f"window must be > 0 seconds, got {self.window}")
        if self.stride is not None and self.stride <= 0:
            raise ConfigError(f"stride must be > 0 seconds, got {self.stride}")
        if self.smooth < 1:
            raise ConfigError(f"smooth must be >= 1 window, got {self.smooth}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


class _Sampler:
    """Picks frames at ``rate`` per second (None: every frame) from a stream, and skips a pick
    while vidclass itself is behind: more than two picks' worth of a real-time source has
    arrived after it and waits (``behind``, from :func:`vidclass.media.video.stream_frames`).

    Only the frames that have arrived count, never the wall clock against media time: a source
    slower than real time (a slow network, a paced pipe) is not a reason to skip anything.
    """

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_time = 0.0
        self.skipped = 0

    def __call__(self, index: int, time: float, behind: float = 0.0) -> bool:
        if self.interval:
            if time + 1e-9 < self.next_time:
                return False
            while self.next_time <= time + 1e-9:
                self.next_time += self.interval
        if behind > 2 * (self.interval or 0.1):  # more than two picks behind the frames that have arrived
            self.skipped += 1
            return False
        return True


class _DifferencePairs:
    """The ``want`` callback of a stream that also converts each sampled frame's partner,
    and the pairing of the two into (time, frame, pair image) as the partners arrive."""

    def __init__(self, sampler: Callable[[int, float, float], bool], kind: str, rule: str) -> None:
        self.sampler = sampler
        self.kind, self.rule = kind, rule  # vidclass.media.motion.pair_images: rgbdiff or flow, and motion_scale's rule
        self.picked: set[int] = set()
        self.waiting: dict[int, list[tuple[float, np.ndarray]]] = {}  # partner index -> sampled frames

    def __call__(self, index: int, time: float, behind: float = 0.0) -> bool:
        if self.sampler(index, time, behind):
            self.picked.add(index)
            return True
        return index in self.waiting

    def take(self, frame: video.StreamedFrame) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """The sampled frames this frame completes; remembers it when it is sampled itself."""
        scale = motion.motion_scale(frame.fps, self.rule)
        done = [
            (time, earlier, motion.pair_images(earlier, frame.model, self.kind, scale))
            for time, earlier in self.waiting.pop(frame.index, [])
        ]
        if frame.index in self.picked:
            self.picked.discard(frame.index)
            partner = frame.index + motion.partner_offset(frame.fps)
            self.waiting.setdefault(partner, []).append((frame.time, frame.model))
        return done

    def flush(self) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """At the end of the stream: the frames whose partner never came, with no motion."""
        left = sorted((item for items in self.waiting.values() for item in items), key=lambda item: item[0])
        self.waiting.clear()
        return [(time, frame, motion.pair_images(frame, frame, self.kind)) for time, frame in left]


def run_timeline(
    model: VideoClassifier,
    source: str | Path,
    settings: TimelineSettings = TimelineSettings(),
    *,
    annotate: Annotate | None = None,
    stop: threading.Event | None = None,
    on_window: OnWindow | None = None,
) -> TimelineResult:
    """Window probabilities, smoothed probabilities and segments over ``source``, for any model kind.

    The model speaks :class:`vidclass.estimator.stream.FrameStream`: frames are sampled at its rate,
    each sampled frame is encoded once, and every ``stride`` sampled frames the last
    ``window`` encoded frames are classified. A frame model's windows are single frames (every
    frame of the source, or one per ``stride`` when given), so ``smooth=K`` averages the last K
    frame predictions. ``annotate(frame, time, smoothed_probabilities_or_None)`` is called for
    every frame in order (full size, RGB) when given, with the latest smoothed prediction whose
    window had ended by that frame's time: what a live display would show. Setting ``stop``
    (from a signal handler, say) ends the stream after the current frame; the frames read so far
    still give their windows, so an interrupted live run keeps its results. ``on_window(start, end,
    raw, smoothed)`` is called as each window completes (an incremental CSV, a live display).
    """
    model.check_fitted()
    stream = model.stream()
    per_frame = stream.rate is None
    if per_frame and settings.window is not None:
        raise ConfigError("a frame model labels single frames: --window does not apply; smooth over K frames with --smooth K")
    rate = stream.rate if stream.rate is not None else (1.0 / settings.stride if settings.stride is not None else None)
    length = stream.window if per_frame else max(1, round((settings.window or model.clip_seconds_) * rate))
    stride = 1 if per_frame else max(1, round((settings.stride or DEFAULT_STRIDE) * rate))
    live = video.is_live_source(source)
    sampler = _Sampler(rate)
    pairs = _DifferencePairs(sampler, stream.pair_image, stream.motion_rule) if stream.pair_image else None

    encoded: deque[np.ndarray] = deque(maxlen=length)
    times: deque[float] = deque(maxlen=length)
    queued: list[tuple[float, np.ndarray, np.ndarray | None]] = []  # (time, frame, RGB difference or None)
    waiting_frames: deque[tuple[float, np.ndarray]] = deque()
    shown: deque[tuple[float, np.ndarray]] = deque()  # (time from which it shows, smoothed probabilities)
    smoother = RollingAverage(settings.smooth)
    starts: list[float] = []
    ends: list[float] = []
    raw: list[np.ndarray] = []
    sampled = 0
    frame_seconds = 1.0 / rate if rate else 0.0  # how long one sampled frame lasts; per frame: from the source
    current: np.ndarray | None = None

    def process() -> None:
        nonlocal sampled
        if not queued:
            return
        frames = np.stack([frame for _, frame, _ in queued])
        differences = np.stack([d for _, _, d in queued]) if pairs is not None else None
        vectors = stream.encode(frames, differences)
        windows, spans = [], []
        for (time, _, _), vector in zip(queued, vectors):
            encoded.append(vector)
            times.append(time)
            sampled += 1
            if len(encoded) == length and (sampled - length) % stride == 0:
                windows.append(np.stack(encoded))
                spans.append((times[0], time + frame_seconds))
        queued.clear()
        if windows:
            for probabilities, (start, end) in zip(stream.classify(np.stack(windows)), spans):
                add_window(start, end, probabilities, end - frame_seconds)

    def add_window(start: float, end: float, probabilities: np.ndarray, shown_from: float) -> None:
        starts.append(start)
        ends.append(end)
        raw.append(probabilities)
        smoothed = smoother.update(probabilities)
        shown.append((shown_from, smoothed))
        if on_window is not None:
            on_window(start, end, probabilities, smoothed)

    def show(until: float) -> None:
        nonlocal current
        while waiting_frames and waiting_frames[0][0] <= until:
            time, frame = waiting_frames.popleft()
            while shown and shown[0][0] <= time:
                current = shown.popleft()[1]
            annotate(frame, time, current)

    for frame in video.stream_frames(
        source, size=stream.resize, crop=stream.crop, interpolation=stream.interpolation,
        display=annotate is not None, want=pairs if pairs is not None else sampler, stop=stop,
    ):
        if per_frame and not frame_seconds and frame.fps:
            frame_seconds = 1.0 / frame.fps
        if frame.model is not None:
            queued.extend(pairs.take(frame) if pairs is not None else [(frame.time, frame.model, None)])
            if len(queued) >= settings.batch_size or (live and queued):
                process()
        if annotate is not None:
            waiting_frames.append((frame.time, frame.display))
            show(times[-1] if times else -1.0)
    if pairs is not None:
        queued.extend(pairs.flush())
    process()
    if not raw and encoded:  # a video shorter than one window still gets a label
        add_window(times[0], times[-1] + frame_seconds, stream.classify(np.stack(encoded)[None])[0], times[-1])
    if annotate is not None:
        show(float("inf"))
    return TimelineResult.from_probabilities(
        list(stream.labels),
        np.asarray(starts),
        np.asarray(ends),
        np.asarray(raw).reshape(len(raw), len(stream.labels)),
        settings.smooth,
        skipped_frames=sampler.skipped,
        values=stream.values,
    )
