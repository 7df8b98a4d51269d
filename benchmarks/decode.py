"""Decoding speed: sampling K frames per video versus decoding every frame.

For each dataset under ROOT (``clips`` and ``fight_surv``), times

- ``sample K``: probe + read_frames(uniform(num_frames, K)) per video, as feature extraction does;
- ``every frame``: iter_frames over the whole video at the same size;
- ``decode only``: PyAV decoding every frame with no conversion, the floor for any reader
  of these files (short clips with one keyframe must be decoded up to the last frame wanted),

and prints a table (wall seconds, and CPU seconds of all threads, which the load of other
processes inflates less), then one summary line (the last line). Usage::

    python benchmarks/decode.py [ROOT] [--frames 16] [--size 256] [--crop 224] [--limit N]

ROOT defaults to ``../shared/data`` beside the repository.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import av

from vidclass.media import sampling, video

DATASETS = ("clips", "fight_surv")
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}


def video_files(folder: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    return files[:limit] if limit else files


def sample_frames(path: Path, k: int, size: int, crop: int) -> int:
    """Probe, then read K uniform frames: what feature extraction does per video."""
    info = video.probe(path)
    indices = sampling.uniform(info.num_frames, k).indices
    return len(video.read_frames(path, indices, size=size, crop=crop, info=info))


def every_frame(path: Path, size: int, crop: int) -> int:
    return sum(1 for _ in video.iter_frames(path, size=size, crop=crop))


def decode_only(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def timed(files: list[Path], read: Callable[[Path], int]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and frames delivered for reading every file."""
    wall, cpu = time.perf_counter(), time.process_time()
    frames = sum(read(path) for path in files)
    return time.perf_counter() - wall, time.process_time() - cpu, frames


def main() -> None:
    default_root = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=default_root, help=f"data root (default {default_root})")
    parser.add_argument("--frames", type=int, default=16, help="frames sampled per video")
    parser.add_argument("--size", type=int, default=256, help="short side after resize")
    parser.add_argument("--crop", type=int, default=224, help="centre crop")
    parser.add_argument("--limit", type=int, default=None, help="at most this many videos per dataset")
    args = parser.parse_args()

    print(
        f"PyAV {av.__version__}, FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print(f"resize short side to {args.size}, centre crop {args.crop}; sampling {args.frames} uniform frames per video")
    header = (
        f"{'dataset':<11} {'videos':>6} {'mode':<12} {'frames':>7} {'wall s':>7} {'cpu s':>7} "
        f"{'frames/s':>9} {'videos/s':>9}"
    )
    print(header)
    print("-" * len(header))
    modes = {
        f"sample {args.frames}": lambda path: sample_frames(path, args.frames, args.size, args.crop),
        "every frame": lambda path: every_frame(path, args.size, args.crop),
        "decode only": decode_only,
    }
    results = {}
    for name in DATASETS:
        folder = args.root / name
        files = video_files(folder, args.limit) if folder.is_dir() else []
        if not files:
            print(f"{name:<11} (no videos under {folder})")
            continue
        for read in modes.values():  # warm up: first-call costs are not decoding speed
            read(files[0])
        results[name] = (len(files), {mode: timed(files, read) for mode, read in modes.items()})
        for mode, (wall, cpu, frames) in results[name][1].items():
            print(
                f"{name:<11} {len(files):>6} {mode:<12} {frames:>7} {wall:>7.2f} {cpu:>7.2f} "
                f"{frames / wall:>9.1f} {len(files) / wall:>9.2f}"
            )
    if not results:
        raise SystemExit(f"no videos found under {args.root}")
    name = "fight_surv" if "fight_surv" in results else next(iter(results))
    count, timings = results[name]
    sample_s, _, _ = timings[f"sample {args.frames}"]
    every_s, _, every_frames = timings["every frame"]
    floor_s, _, _ = timings["decode only"]
    print(
        f"summary: {name} ({count} videos, {every_frames} frames): sampling {args.frames} frames/video "
        f"{count / sample_s:.2f} videos/s ({sample_s:.1f} s), {every_s / sample_s:.1f}x faster than decoding "
        f"every frame at the same size ({every_s:.1f} s); bare decoding alone takes {floor_s:.1f} s"
    )


if __name__ == "__main__":
    main()
