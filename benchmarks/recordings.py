"""Long recordings -> 2000 random clips: the cost of their features, and memory against length.

For each recording length (minutes) a synthetic head-camera recording per class is written at
320 x 240 (low frame rate and lossy H.264, so writing an hour is quick), then, each length in a
fresh process so peak memory is its own:

1. ``extract``: the feature tracks of both recordings (one chunked decoding pass each, cold cache);
2. ``2000 clips``: split, draw 2000 random 2-4 s clips, and build every clip's feature grid from
   the warm cache (what training reads), compared with what extracting each clip on its own would
   cost (its grid frames through the CNN at the measured rate);
3. peak resident memory of the process (``ru_maxrss``).

    nice -n 10 python benchmarks/recordings.py --lengths 5,15,60 --out .bench/recordings.json

Rows are logged as they finish and merged into ``--out`` (rows of other lengths kept); the machine's load average is printed with the table, since
timings under contention are slower than on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_length(minutes: float, args: argparse.Namespace) -> dict:
    """Write, extract and cut one length; the row of the table."""
    import numpy as np

    from vidclass.data.catalog import drop_unreadable, load_catalog
    from vidclass.data.recordings import ClipPlan, split_recordings
    from vidclass.data.synthetic import write_video
    from vidclass.data.synthetic_recordings import BOB_PERIODS, bobbing_frames, wall
    from vidclass.inputs.features import FeatureCache
    from vidclass.inputs.tracks import extract_tracks, track_rate
    from vidclass.inputs.views import ViewSpec
    from vidclass.models.backbones import create_backbone

    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        root = Path(scratch) / "data"
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        for label in ("walking", "running"):
            square = bobbing_frames(wall(rng, 240, widths=8), [(BOB_PERIODS[label], minutes * 60)], args.fps, 240)
            frames = (np.ascontiguousarray(np.concatenate([f, f[:, :80]], axis=1)) for f in square)  # 320 x 240
            write_video(root / label / "rec.mp4", frames, args.fps, lossless=False)
        written = time.perf_counter() - started
        catalog = drop_unreadable(load_catalog(root))
        plan = ClipPlan.parse(f"random:{args.clips // 2}:2-4s")
        view = ViewSpec(frames=args.frames, grid=2 * args.frames)
        splits = split_recordings(catalog, plan, seed=0)
        encoder = create_backbone(args.backbone, pretrained=False)
        sources = splits.sources
        rates = [track_rate(view, plan.shortest, args.fps) for _ in sources]
        cache = FeatureCache(Path(scratch) / "cache")
        tracks, report = extract_tracks(sources, encoder, rates, cache=cache, workers=args.workers)
        started = time.perf_counter()
        warm, _ = extract_tracks(sources, encoder, rates, cache=cache)  # what a training run reads
        clips = [c for part in splits.clips.values() for c in part]
        grids = [warm[c.block.source].grid(c.start, c.end, view.grid) for c in clips]
        built = time.perf_counter() - started
        per_frame = report.seconds / max(report.frames, 1)
    return {
        "minutes": minutes, "fps": args.fps, "video_frames": int(2 * minutes * 60 * args.fps),
        "track_frames": report.frames, "write_s": round(written, 1), "extract_s": round(report.seconds, 1),
        "frames_per_s": round(report.frames_per_second, 1), "clips": len(grids),
        "clips_from_cache_s": round(built, 2),
        "clips_extracted_one_by_one_s": round(len(grids) * view.grid * per_frame, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="5,15,60", help="recording lengths in minutes, comma-separated")
    parser.add_argument("--fps", type=float, default=2.0, help="frame rate of the synthetic recordings")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=4, help="frames per view (grid: twice as many)")
    parser.add_argument("--backbone", default="timm:test_resnet", help="random-init backbone (its cost is the point)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--scratch", default=None, help="folder for the temporary videos and cache")
    parser.add_argument("--out", type=Path, default=Path(".bench/recordings.json"))
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # internal: run one length, print its row
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_length(args.one, args)))
        return
    lengths = [float(x) for x in args.lengths.split(",")]
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else []  # rows of other lengths are kept
    rows = [row for row in earlier if row["minutes"] not in lengths]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for minutes in lengths:
        command = [sys.executable, __file__, "--one", str(minutes), "--fps", str(args.fps), "--clips", str(args.clips),
                   "--frames", str(args.frames), "--backbone", args.backbone, "--workers", str(args.workers)]
        if args.scratch:
            command += ["--scratch", args.scratch]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        rows.sort(key=lambda row: row["minutes"])
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    headers = ["minutes", "track_frames", "extract_s", "frames_per_s", "clips", "clips_from_cache_s",
               "clips_extracted_one_by_one_s", "peak_rss_mb"]
    print(" | ".join(headers))
    for row in rows:
        print(" | ".join(str(row[h]) for h in headers))
    print(f"load average at the end: {os.getloadavg()}")
    first, last = rows[0], rows[-1]
    print(f"summary: {last['clips']} clips of {last['minutes']:g}-minute recordings built from the cache in "
          f"{last['clips_from_cache_s']} s after one pass ({last['extract_s']} s for {last['track_frames']} track frames; "
          f"one extraction per clip would take ~{last['clips_extracted_one_by_one_s']} s); peak memory "
          f"{first['peak_rss_mb']} MB at {first['minutes']:g} min and {last['peak_rss_mb']} MB at {last['minutes']:g} min")


if __name__ == "__main__":
    main()
