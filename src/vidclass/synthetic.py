"""Small labeled videos with exact, known answers, written as real mp4 files.

The ``direction`` task shows a square that moves left-to-right or right-to-left across a
static textured background. Every frame of one class could occur in the other, so no
single frame (and no average of frames) tells the classes apart; only temporal order
does. Tests use it to prove that sequence heads use order and that mean pooling cannot.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidclass.render import AnnotatedVideoWriter

DIRECTIONS = ("left_to_right", "right_to_left")


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, codec: str | None = None) -> Path:
    """Encode RGB uint8 frames (H x W x 3) to ``path`` atomically.

    A thin wrapper over :class:`vidclass.render.AnnotatedVideoWriter`: the file is
    written under a temporary name in the same folder and renamed once complete, so an
    interrupted write never leaves a truncated video behind.
    """
    with AnnotatedVideoWriter(path, fps, codec=codec) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


@dataclass(frozen=True)
class MovingSquare:
    """One clip's look: background texture, square colour, size, height and speed."""

    background: np.ndarray  # H x W x 3 uint8
    color: tuple[int, int, int]
    side: int
    top: int
    start: float  # x position at t=0, in pixels
    speed: float  # pixels per second, signed


def random_scene(rng: np.random.Generator, size: int, direction: str, crossing_seconds: float) -> MovingSquare:
    """A random scene whose square crosses the frame once every ``crossing_seconds``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    coarse = rng.integers(50, 170, size=(8, 8, 3), dtype=np.uint8)
    background = np.kron(coarse, np.ones((size // 8 + 1, size // 8 + 1, 1), dtype=np.uint8))[:size, :size]
    side = int(rng.integers(size // 6, size // 4))
    sign = 1.0 if direction == "left_to_right" else -1.0
    return MovingSquare(
        background=background,
        color=tuple(int(c) for c in rng.integers(200, 256, size=3)),
        side=side,
        top=int(rng.integers(0, size - side)),
        start=float(rng.uniform(0, size)),
        speed=sign * size / crossing_seconds * float(rng.uniform(0.8, 1.25)),
    )


def render_frames(scene: MovingSquare, times: Sequence[float]) -> Iterator[np.ndarray]:
    """Frames of ``scene`` at ``times`` (seconds); the square wraps around the frame edges."""
    size = scene.background.shape[1]
    columns = np.arange(size)
    for t in times:
        frame = scene.background.copy()
        left = (scene.start + scene.speed * t) % size
        offset = (columns - left) % size
        rows = slice(scene.top, scene.top + scene.side)
        frame[rows, offset < scene.side] = 0  # dark outline keeps the square visible on any background
        inner = (offset >= 2) & (offset < scene.side - 2)
        frame[scene.top + 2 : scene.top + scene.side - 2, inner] = scene.color
        yield frame


@dataclass(frozen=True)
class SyntheticSpec:
    """Size of a synthetic dataset; the defaults keep tests and the demo fast."""

    clips_per_class: int = 12
    seconds: float = 2.0
    fps: float = 12.0
    size: int = 128
    seed: int = 0


def make_direction_dataset(root: str | Path, spec: SyntheticSpec = SyntheticSpec()) -> Path:
    """Write ``root/<direction>/clip_NNN.mp4`` plus ``root/labels.csv`` (path,label,group).

    Each clip is its own group, so group-aware splits behave like clip splits.
    Returns ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(spec.seed)
    n = int(round(spec.seconds * spec.fps))
    times = np.arange(n) / spec.fps
    rows = []
    for label in DIRECTIONS:
        for i in range(spec.clips_per_class):
            scene = random_scene(rng, spec.size, label, crossing_seconds=spec.seconds)
            rel = f"{label}/clip_{i:03d}.mp4"
            write_video(root / rel, render_frames(scene, times), spec.fps)
            rows.append((rel, label, f"{label}_{i:03d}"))
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "group"])
        writer.writerows(rows)
    return root


def make_direction_timeline(
    path: str | Path,
    segments: Sequence[tuple[str, float]],
    *,
    fps: float = 12.0,
    size: int = 128,
    crossing_seconds: float = 2.0,
    seed: int = 0,
) -> Path:
    """Write one long video whose motion direction changes per ``(direction, seconds)`` segment.

    The background and square stay the same across segments, so only the direction of
    motion tells the segments apart: the ground truth of a timeline test.
    """
    rng = np.random.default_rng(seed)
    base = random_scene(rng, size, "left_to_right", crossing_seconds)

    def frames() -> Iterator[np.ndarray]:
        x = base.start
        for direction, seconds in segments:
            sign = 1.0 if direction == "left_to_right" else -1.0
            if direction not in DIRECTIONS:
                raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
            speed = sign * abs(base.speed)
            for _ in range(int(round(seconds * fps))):
                scene = MovingSquare(base.background, base.color, base.side, base.top, x, 0.0)
                yield next(render_frames(scene, [0.0]))
                x += speed / fps

    return write_video(path, frames(), fps)
