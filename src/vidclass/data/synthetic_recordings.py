"""Synthetic long recordings with known answers: a bobbing head camera, labeled segments, speeds.

- ``bobbing``: a head camera walks along a textured wall and bobs up and down, slowly and a
  little (walking) or fast and high (running), as in the MATLAB seed's recordings; running
  frames are motion-blurred, as a fast camera's are. The camera moves on along the wall, so a
  held-out time block shows wall that training never saw: only the motion tells the classes apart.
- ``make_segment_recording``: one recording whose bobbing speed changes per labeled segment
  (or stands still), with the segment CSV of its ground truth.
- ``make_speed_dataset``: short clips of a square sliding sideways at a known speed, the
  numeric target of a regression that only motion reveals.
- ``make_brightness_dataset``: the same clips dimmed by a known gain, a numeric target every frame reveals.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vidclass.data.synthetic import write_video

BOB_PERIODS = {"walking": 1.6, "running": 0.6, "still": math.inf}  # seconds per bob
BOB = {1.6: 0.1, 0.6: 0.4, math.inf: 0.0}  # bob amplitude (fraction of the frame) by period


def wall(rng: np.random.Generator, size: int, widths: int = 24) -> np.ndarray:
    """A textured wall twice the frame's height and ``widths`` frames wide: coarse blocks with fine
    noise (uint8 RGB). The camera walks along it, so later time shows wall never seen before."""
    block = max(2, size // 8)
    coarse = rng.integers(30, 220, size=(2 * size // block + 1, widths * size // block + 1, 3), dtype=np.uint8)
    texture = np.kron(coarse, np.ones((block, block, 1), dtype=np.uint8))[: 2 * size, : widths * size].astype(np.int16)
    texture += rng.integers(-25, 26, size=texture.shape, dtype=np.int16)
    return np.clip(texture, 0, 255).astype(np.uint8)


def bobbing_frames(
    texture: np.ndarray, periods: Sequence[tuple[float, float]], fps: float, size: int, phase: float = 0.0
) -> Iterator[np.ndarray]:
    """Frames of a camera walking along ``texture`` and bobbing up and down, for each ``(period
    seconds, duration seconds)``: running bobs faster and higher than walking (:data:`BOB`); the bob
    carries on smoothly across changes of speed (infinite period: the camera stands still)."""
    angle, k = phase, 0
    room = texture.shape[1] - size
    total = sum(seconds for _, seconds in periods)
    drift = room / max(total, 1e-9)  # the whole wall once over the recording
    for period, seconds in periods:
        amplitude = int(round(BOB.get(period, 0.25) * size))
        for _ in range(int(round(seconds * fps))):
            top = int(round(size // 2 + amplitude * math.sin(angle)))
            left = min(room, int(drift * k / fps))
            step = 2 * math.pi / (period * fps) if math.isfinite(period) else 0.0
            smear = int(abs(amplitude * math.cos(angle) * step))  # pixels moved during the frame's exposure
            yield _smeared(texture, top, left, size, smear)
            k += 1
            angle += step


def _smeared(texture: np.ndarray, top: int, left: int, size: int, smear: int) -> np.ndarray:
    """The frame at ``top``, ``left``, blurred vertically over ``smear`` pixels as a moving camera
    blurs it (a box filter from cumulative sums of the rows below)."""
    smear = min(smear, texture.shape[0] - top - size)
    if smear < 2:
        return texture[top : top + size, left : left + size]
    rows = texture[top : top + size + smear, left : left + size].astype(np.int32)
    sums = np.concatenate([np.zeros((1, size, 3), np.int32), np.cumsum(rows, axis=0)])
    return ((sums[smear : smear + size] - sums[:size]) // smear).astype(np.uint8)


def make_recordings(
    root: str | Path,
    *,
    labels: Sequence[str] = ("walking", "running"),
    per_class: int = 1,
    seconds: float = 120.0,
    fps: float = 8.0,
    size: int = 64,
    seed: int = 0,
) -> Path:
    """``root/<label>/rec_N.mp4``: ``per_class`` recordings of ``seconds`` per class; returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label in labels:
        for i in range(per_class):
            frames = bobbing_frames(wall(rng, size), [(BOB_PERIODS[label], seconds)], fps, size,
                                    phase=float(rng.uniform(0, 2 * math.pi)))
            write_video(root / label / f"rec_{i}.mp4", frames, fps)
    return root


def make_segment_recording(
    path: str | Path,
    segments: Sequence[tuple[str, float]],
    *,
    fps: float = 8.0,
    size: int = 64,
    seed: int = 0,
    csv_path: str | Path | None = None,
    unlabeled: str = "still",
) -> Path:
    """One recording of ``(label, seconds)`` segments (labels of :data:`BOB_PERIODS`) and its segment
    CSV (``path,start,end,label``; segments labeled ``unlabeled`` are left out of it, as unlabeled time)."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    write_video(path, bobbing_frames(wall(rng, size), [(BOB_PERIODS[label], s) for label, s in segments], fps, size),
                fps)
    rows, t = [], 0.0
    for label, seconds in segments:
        frames = int(round(seconds * fps))
        if label != unlabeled:
            rows.append([path.name, f"{t:.3f}", f"{t + frames / fps:.3f}", label])
        t += frames / fps
    target = Path(csv_path) if csv_path is not None else path.with_suffix(".csv")
    with open(target, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "start", "end", "label"])
        writer.writerows(rows)
    return target


def make_speed_dataset(
    root: str | Path,
    *,
    clips: int = 48,
    seconds: float = 2.0,
    fps: float = 10.0,
    size: int = 64,
    speeds: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    gains: tuple[float, float] | None = None,
) -> Path:
    """``root/clip_NNN.mp4`` of a square sliding sideways at a random speed, and ``root/targets.csv``
    (``path,target``: the speed in frame widths per second). Background, colour, size and start
    position are random per clip, so no single frame tells the speed. With ``gains`` each clip is
    instead dimmed by a random gain in that range, and the target is the gain
    (:func:`make_brightness_dataset`)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    n = int(round(seconds * fps))
    for i in range(clips):
        speed = float(rng.uniform(*speeds))
        background = wall(rng, size, widths=1)[:size]
        side = int(rng.integers(size // 4, size // 3))
        color = rng.integers(200, 256, size=3).astype(np.uint8)
        row, x0 = int(rng.integers(0, size - side)), float(rng.uniform(0, size))
        gain = float(rng.uniform(*gains)) if gains is not None else 1.0

        def frames(speed=speed, background=background, side=side, color=color, row=row, x0=x0, gain=gain):
            for k in range(n):
                frame = background.copy()
                left = int(round(x0 + speed * size * k / fps)) % size
                columns = (np.arange(side) + left) % size  # the square wraps around the frame's edge
                frame[row : row + side][:, columns] = color
                yield frame if gains is None else (frame * gain).round().astype(np.uint8)

        name = f"clip_{i:03d}.mp4"
        write_video(root / name, frames(), fps)
        rows.append([name, f"{speed if gains is None else gain:.4f}"])
    with open(root / "targets.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "target"])
        writer.writerows(rows)
    return root


def make_brightness_dataset(
    root: str | Path,
    *,
    clips: int = 24,
    seconds: float = 1.0,
    fps: float = 10.0,
    size: int = 64,
    gains: tuple[float, float] = (0.2, 1.0),
    seed: int = 0,
) -> Path:
    """``root/clip_NNN.mp4`` of :func:`make_speed_dataset`'s sliding squares, each dimmed by a random gain,
    and ``root/targets.csv`` (``path,target``: the gain): a numeric target that every frame reveals."""
    return make_speed_dataset(root, clips=clips, seconds=seconds, fps=fps, size=size, seed=seed, gains=gains)
