"""Synthetic temporal-order task: models that see time must separate what a frame model cannot.

Every clip of :func:`vidclass.synthetic.make_direction_dataset` shows a square on a random
scene that grows (``approaching``) or shrinks (``receding``); any single frame is consistent
with both, so only the order of the frames tells the classes apart. Each model is trained
through ``VideoClassifier`` on the same split and scored on the held-back test clips. Target
(issue 10): ``early_fusion``, ``3d`` and ``convlstm`` >= 0.95 while ``frame`` stays near chance.

Usage::

    python benchmarks/temporal_order.py [--models frame,early_fusion,3d,3d:c3d_small,convlstm]
        [--clips 14] [--size 64] [--frames 8] [--epochs 20] [--lr 3e-3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from vidclass.api import VideoClassifier
from vidclass.synthetic import SyntheticSpec, make_direction_dataset

TARGET = 0.95
TEMPORAL = ("early_fusion", "3d", "convlstm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="frame,early_fusion,3d,3d:c3d_small,convlstm",
                        help="model names; 3d:ARCH picks a 3d arch")
    parser.add_argument("--clips", type=int, default=14, help="clips per class")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_direction_dataset(Path(tmp) / "data", SyntheticSpec(clips_per_class=args.clips, seconds=2.0, fps=8,
                                                                         size=args.size, seed=2))
        for entry in args.models.split(","):
            name, _, arch = entry.partition(":")
            start = time.perf_counter()
            model = VideoClassifier(model=name, arch=arch or None, size=args.size, frames=args.frames,
                                    epochs=args.epochs, patience=args.epochs, lr=args.lr, backbone_lr=args.lr,
                                    flip=False, val=0.2, test=0.3, seed=0, cache_dir=Path(tmp) / "cache", workers=0)
            model.fit(root)
            seconds = time.perf_counter() - start
            rows.append((entry, model.evaluation_.accuracy, model.model_.weights_id, seconds))
            print(f"{entry}: {model.evaluation_.accuracy:.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    print(f"# temporal order (approaching vs receding), {args.clips} clips per class, {args.frames} frames of "
          f"{args.size} px, {args.epochs} epochs, lr {args.lr}")
    print("model\ttest accuracy\tweights\ttrain s")
    for entry, accuracy, weights, seconds in rows:
        print(f"{entry}\t{accuracy:.3f}\t{'scratch' if weights == 'none' else 'ImageNet'}\t{seconds:.0f}")
    temporal = [(e, a) for e, a, _, _ in rows if e.partition(":")[0] in TEMPORAL]
    met = [e for e, a in temporal if a >= TARGET]
    frame = [a for e, a, _, _ in rows if e == "frame"]
    print(f"summary: {len(met)} of {len(temporal)} temporal models reach {TARGET:.2f}"
          + (f"; frame {frame[0]:.2f}" if frame else ""))


if __name__ == "__main__":
    main()
