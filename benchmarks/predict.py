"""Timeline benchmark: peak memory over long 720p videos (P3) and timeline speed.

P3: the peak resident memory of a timeline over a 60-minute 720p video must stay <= 1.5 GB
and within 10% of the figure for a 10-minute video (memory flat as the video grows).
Speed: video-seconds labelled per wall-second with the default backbone at the model's
sampling rate.

The model is trained once on the synthetic approaching/receding task (default backbone and
head, 4 frames per 2 s view: a sampling rate of 2 frames/s) and the long videos are
synthetic 1280x720 H.264 at a low frame rate (``--fps``) to keep their encoding time
reasonable; everything is kept under ``.bench/predict`` so reruns only measure. Each
timeline runs in a fresh process, whose own peak RSS is reported.

    python benchmarks/predict.py                 # 10 and 60 minutes
    python benchmarks/predict.py --minutes 1 5   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "predict"


def _model() -> Path:
    """Train (once) the benchmark model on synthetic data with the default backbone."""
    from vidclass.api import VideoClassifier
    from vidclass.synthetic import SyntheticSpec, make_direction_dataset

    model_dir = WORK / "model"
    if not (model_dir / "config.json").is_file():
        data = make_direction_dataset(WORK / "data", SyntheticSpec(clips_per_class=12, seconds=2.0, fps=12, size=112))
        VideoClassifier(frames=4, cache_dir=WORK / "cache", val=0.2, test=0.2).fit(data).save(model_dir)
    return model_dir


def _long_video(minutes: float, fps: float) -> Path:
    """A synthetic 1280x720 video of ``minutes`` whose square changes direction every 30 s."""
    from vidclass.render import AnnotatedVideoWriter
    from vidclass.synthetic import draw_square, random_scene

    path = WORK / f"long_{minutes:g}min_{fps:g}fps_720p.mp4"
    if path.is_file():
        return path
    scene = random_scene(np.random.default_rng(0), 720, period=2.0)
    pad = ((0, 0), (280, 280), (0, 0))
    frames = int(minutes * 60 * fps)
    fraction, step = 0.0, 1.0 / (fps * scene.period)
    with AnnotatedVideoWriter(path, fps) as writer:
        for i in range(frames):
            frame = draw_square(scene, int(scene.smallest + fraction * (scene.largest - scene.smallest)))
            writer.write(np.pad(frame, pad, mode="edge"))
            approaching = (i / fps) % 60 < 30
            fraction = (fraction + (step if approaching else -step)) % 1.0
    return path


def _child(model_dir: str, video: str) -> None:
    """Run one timeline in this (fresh) process and print its figures as JSON."""
    from vidclass.api import VideoClassifier
    from vidclass.predict import TimelineSettings, run_timeline
    from vidclass.video import probe

    model = VideoClassifier.load(model_dir)
    started = time.perf_counter()
    result = run_timeline(model, video, TimelineSettings(stride=1.0, smooth=5))
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "video_seconds": probe(video).duration, "windows": len(result.starts),
                      "peak_mib": peak_kib / 1024, "segments": len(result.segments)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60], help="video lengths to compare")
    parser.add_argument("--fps", type=float, default=5.0, help="frame rate of the synthetic 720p videos")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    model_dir = _model()
    rows = []
    for minutes in args.minutes:
        video = _long_video(minutes, args.fps)
        out = subprocess.run([sys.executable, __file__, "--child", str(model_dir), str(video)], check=True,
                             capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((minutes, figures))
    print(f"{'video':>10} {'frames/s':>8} {'windows':>8} {'wall s':>8} {'video s/wall s':>15} {'peak RSS MiB':>13}")
    for minutes, f in rows:
        print(f"{minutes:>6g} min {args.fps:>8g} {f['windows']:>8d} {f['seconds']:>8.1f} "
              f"{f['video_seconds'] / f['seconds']:>15.2f} {f['peak_mib']:>13.0f}")
    shortest, longest = rows[0][1], rows[-1][1]
    growth = longest["peak_mib"] / shortest["peak_mib"] - 1
    ok = longest["peak_mib"] <= 1536 and abs(growth) <= 0.10
    speed = np.mean([f["video_seconds"] / f["seconds"] for _, f in rows])
    print(f"predict: P3 peak RSS {longest['peak_mib']:.0f} MiB for {rows[-1][0]:g} min vs {shortest['peak_mib']:.0f} "
          f"MiB for {rows[0][0]:g} min ({growth:+.1%}; target <= 1536 MiB and within 10%: {'met' if ok else 'MISSED'}); "
          f"timeline speed {speed:.1f} video-s per wall-s at 2 sampled frames/s, 720p")


if __name__ == "__main__":
    main()
