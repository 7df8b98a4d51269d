"""Peak memory of the default commands: proportional set size (PSS, shared pages counted once) summed over
the process and every child, sampled every 0.1 s, as ``../shared/tools/peak_pss.py`` measures it.

Runs, each in a fresh process on the same clips (``--clips`` per class from DATA, linked into a temporary
folder), with every default: ``vidclass extract`` into an empty feature cache, ``vidclass train`` on those
features, and with ``--video`` a ``vidclass timeline`` of the trained model over that video. The ONNX graph of
the frame encoder is exported once before, into an empty graph cache (warm, as for every run after a user's
first). Prints a table (peak, the peaks of the first and last tenth of the run: flat or growing, seconds) and,
last, one summary line. Target (issue 34): every peak <= 0.75 GB. Usage::

    python benchmarks/memory.py [DATA] [--clips 20] [--video LONG.mp4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
TARGET_GB = 0.75


def sampled(command: list[str], env: dict[str, str]) -> tuple[float, list[float], float]:
    """(peak PSS GB, peak per tenth of the run, seconds) of ``command``'s process tree."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    root, samples = psutil.Process(process.pid), []
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            samples.append((time.time() - started, sum(p.memory_full_info().pss for p in tree if p.is_running())))
        except psutil.Error:
            pass
        time.sleep(0.1)
    took = time.time() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read()[-2000:]}")
    tenths = [max((s for t, s in samples if k * took / 10 <= t < (k + 1) * took / 10), default=0) / 2**30
              for k in range(10)]
    return max(s for _, s in samples) / 2**30, tenths, took


def subset(data: Path, per_class: int, into: Path) -> Path:
    """``per_class`` clips of each class folder of ``data``, linked into ``into``."""
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        (into / folder.name).mkdir(parents=True)
        for clip in sorted(folder.glob("*.mp4"))[:per_class]:
            (into / folder.name / clip.name).symlink_to(clip)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=ROOT.parent / "shared" / "data" / "fight_surv")
    parser.add_argument("--clips", type=int, default=20, help="clips per class")
    parser.add_argument("--video", type=Path, help="a long video for the timeline row")
    args = parser.parse_args()
    vidclass = [sys.executable, "-m", "vidclass"]
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        data = subset(args.data.resolve(), args.clips, work_dir / "data")  # links to absolute paths
        env = {**os.environ, "VIDCLASS_CACHE": str(work_dir / "user-cache")}  # graphs exported by this run only
        warm = [*vidclass, "extract", str(data), "--cache", str(work_dir / "warm"), "--inputs", "appearance"]
        subprocess.run(warm, check=True, capture_output=True, env=env)  # the encoder's graph, exported and indexed
        cache = str(work_dir / "cache")
        runs = [("extract", [*vidclass, "extract", str(data), "--cache", cache]),
                ("train", [*vidclass, "train", str(data), "--cache", cache, "--out", str(work_dir / "run")])]
        if args.video is not None:
            runs.append(("timeline", [*vidclass, "timeline", str(work_dir / "run" / "model"), str(args.video)]))
        for name, command in runs:
            peak, tenths, took = sampled(command, env)
            rows.append((name, peak, tenths[0], tenths[-1], took))
    print(f"{'command':<10} {'peak GB':>8} {'first 10%':>10} {'last 10%':>9} {'seconds':>8}")
    for name, peak, first, last, took in rows:
        print(f"{name:<10} {peak:>8.2f} {first:>10.2f} {last:>9.2f} {took:>8.1f}")
    worst = max(rows, key=lambda row: row[1])
    print(f"memory: {', '.join(f'{n} {p:.2f} GB' for n, p, *_ in rows)}; worst {worst[0]} {worst[1]:.2f} GB "
          f"(target <= {TARGET_GB}); {2 * args.clips} clips; load {load:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
