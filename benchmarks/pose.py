"""Pose estimation on the CPU: speed of BlazePose here, people found on fight_surv, and the
extraction cost per clip of pose vectors next to the CNN's.

Over a dataset (default ``../shared/data/fight_surv`` beside the repository) measures

- the two models alone on one prepared input, in this process (runs per second): the
  detector (224 x 224) and the landmark model (256 x 256, one person: "person-landmarks/s");
- the whole estimator (detection on the frame and its tiles, landmarks per person found) on
  frames of ``--clips`` clips spread over the set, decoded at the pose size (frames/s and
  person-landmarks/s);
- extraction cost per clip, ``--clips`` clips into a fresh temporary cache, timed in turn:
  pose vectors (``pose_features``, grid ``--grid``), the CNN's appearance features and the
  CNN's appearance + RGB-difference features (``extract_features``, same grid), and both
  appearance and pose from one decoding pass;
- people found per grid frame over every clip of the set (``--cache-dir`` keeps the pose vectors;
  what it lacks is estimated), and the clips where nobody is ever found, per class.

Prints tables, then one summary line (the last line). Usage::

    python benchmarks/pose.py [DATA] [--clips 12] [--grid 32] [--cache-dir .bench/features] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from vidclass.data.catalog import load_catalog
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache
from vidclass.inputs.pose import PoseSpec, pose_features
from vidclass.inputs.pose.extract import estimator
from vidclass.media import video
from vidclass.models.backbones import create_backbone

REPO = Path(__file__).resolve().parents[1]


def spread(items: list, count: int) -> list:
    if count >= len(items):
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def rate(function, seconds: float = 3.0) -> float:
    """Calls per second of ``function`` over about ``seconds``, after one warm-up call."""
    function()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        calls += 1
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "fight_surv")
    parser.add_argument("--clips", type=int, default=12, help="clips timed for speed and cost per clip")
    parser.add_argument("--grid", type=int, default=32, help="grid frames per clip")
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".bench" / "features")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    spec = PoseSpec(people=args.people)
    model = estimator(args.people)
    catalog = load_catalog(args.data)
    chosen = spread(catalog.items, args.clips)
    print(f"{len(catalog.items)} clips of {args.data}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")

    # the two models alone
    image = Image.fromarray(np.full((256, 455, 3), 120, np.uint8))
    detector = rate(lambda: model._detect_region(image, 0, 0, 455, 256))
    landmarks = rate(lambda: model.landmarks(image, np.array([[228, 180], [228, 60], [0, 0], [0, 0]], float)))

    # the whole estimator on real frames
    frames = []
    for item in chosen:
        info = video.probe(item.path)
        frames.extend(video.read_frames(item.path, np.linspace(0, info.num_frames - 1, 4).round().astype(int),
                                        size=spec.size, info=info))
    start = time.perf_counter()
    found = sum(len(model(frame)) for frame in frames)
    estimate_seconds = time.perf_counter() - start
    print(f"{'what':<52} {'rate':>10}")
    for name, value in (
        ("detector alone, runs/s (224 x 224)", detector),
        ("landmark model alone, person-landmarks/s (256 x 256)", landmarks),
        (f"estimator on {len(frames)} fight_surv frames, frames/s", len(frames) / estimate_seconds),
        (f"estimator on {len(frames)} fight_surv frames, person-landmarks/s", found / estimate_seconds),
    ):
        print(f"{name:<52} {value:>10.1f}")

    # extraction cost per clip
    encoder = create_backbone("efficientnet_lite0")
    paths = [item.path for item in chosen]
    costs: dict[str, float] = Counter()
    with tempfile.TemporaryDirectory(prefix="vidclass-pose-bench-") as tmp:
        for i, path in enumerate(paths):
            for kind, (name, run) in enumerate((
                ("pose vectors (BlazePose)", lambda c: pose_features([path], spec, args.grid, cache=c, workers=0)),
                ("CNN appearance", lambda c: extract_features([path], encoder, args.grid, cache=c, workers=0)),
                ("CNN appearance + rgbdiff",
                 lambda c: extract_features([path], encoder, args.grid, cache=c, workers=0, pair_image="rgbdiff")),
                ("CNN appearance + pose, one decoding pass",
                 lambda c: extract_features([path], encoder, args.grid, cache=c, workers=0, pose=spec)),
            )):
                cache = FeatureCache(Path(tmp) / f"{i}-{kind}")  # a fresh cache for each clip and kind
                start = time.perf_counter()
                run(cache)
                costs[name] += time.perf_counter() - start
    print(f"\n{'extraction, grid ' + str(args.grid):<44} {'s/clip':>7}")
    for name, total in costs.items():
        print(f"{name:<44} {total / len(paths):>7.2f}")

    # people per frame over the whole set
    _, report = pose_features([item.path for item in catalog.items], spec, args.grid,
                              cache=FeatureCache(args.cache_dir), workers=args.workers)
    counts = np.asarray(report.people)
    label_of = {str(item.path): item.label for item in catalog.items}
    nobody = Counter(label_of[path] for path in report.nobody)
    histogram = np.bincount(counts, minlength=args.people + 1)
    print(f"\npeople per grid frame over {report.total} clips ({len(counts)} frames): mean {counts.mean():.2f}; "
          + ", ".join(f"{n}: {c / len(counts):.0%}" for n, c in enumerate(histogram)))
    print("clips where nobody is ever found: " + (", ".join(f"{label} {n}" for label, n in sorted(nobody.items())) or "none"))
    print(
        f"pose: {found / estimate_seconds:.1f} person-landmarks/s ({landmarks:.0f}/s landmark model alone), "
        f"{counts.mean():.2f} people per frame on fight_surv, {costs['pose vectors (BlazePose)'] / len(paths):.1f} s "
        f"per clip vs {costs['CNN appearance'] / len(paths):.1f} s for the CNN"
    )


if __name__ == "__main__":
    main()
