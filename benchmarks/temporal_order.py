"""Synthetic temporal-order task: models that see time must separate what a frame model cannot.

Every clip of :func:`vidclass.data.synthetic.make_direction_dataset` shows a square on a random
scene that grows (``approaching``) or shrinks (``receding``) over one sawtooth period (so most
clips also hold one jump the other way); any single frame is consistent with both, so only the
order of the frames tells the classes apart. Each model is trained through ``VideoClassifier``
on the same split (50 % train, 20 % validation, 30 % test: 24 test clips at the default 40
clips per class, so one clip is 0.04) and scored on the held-back test clips. Every model
takes the same clips (``--frames`` of ``--size`` px); the learning rate is each model's own
default (``vidclass models``) unless ``--lr`` is given. Target (issue 10): ``early_fusion``,
``3d`` and ``convlstm`` >= 0.95 while ``frame`` stays near chance.

Prints a table (with the load average: the CPU may be shared) and one summary line (the last).
Rows are also logged on stderr as they finish. Usage::

    python benchmarks/temporal_order.py [--models frame,early_fusion,3d,3d:c3d_small,convlstm]
        [--clips 40] [--size 64] [--frames 8] [--epochs 15] [--lr LR] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.estimator.classifier import VideoClassifier

TARGET = 0.95
TEMPORAL = ("early_fusion", "3d", "convlstm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="frame,early_fusion,3d,3d:c3d_small,convlstm",
                        help="model names; 3d:ARCH picks a 3d arch")
    parser.add_argument("--clips", type=int, default=40, help="clips per class")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: each model's)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_direction_dataset(Path(tmp) / "data", SyntheticSpec(clips_per_class=args.clips, seconds=2.0, fps=8,
                                                                         size=args.size, seed=2))
        for entry in args.models.split(","):
            name, _, arch = entry.partition(":")
            start = time.perf_counter()
            model = VideoClassifier(model=name, arch=arch or None, size=args.size, frames=args.frames,
                                    epochs=args.epochs, patience=args.epochs, lr=args.lr, flip=False, val=0.2,
                                    test=0.3, seed=0, cache_dir=Path(tmp) / "cache", workers=0)
            model.fit(root)
            seconds = time.perf_counter() - start
            evaluation = model.evaluation_
            rows.append((entry, evaluation.accuracy, evaluation.videos, model.training_["config"]["lr"],
                         model.model_.weights_id, seconds))
            print(f"{entry}: {evaluation.accuracy:.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# temporal order (approaching vs receding), {args.clips} clips per class, {args.frames} frames of "
          f"{args.size} px, {args.epochs} epochs; threads {torch.get_num_threads()}, load average {load}")
    print("model\ttest accuracy\ttest clips\tlr\tweights\ttrain s")
    for entry, accuracy, clips, lr, weights, seconds in rows:
        print(f"{entry}\t{accuracy:.3f}\t{clips}\t{lr:g}\t{'scratch' if weights == 'none' else 'ImageNet'}\t{seconds:.0f}")
    temporal = [(e, a) for e, a, *_ in rows if e.partition(":")[0] in TEMPORAL]
    met = [e for e, a in temporal if a >= TARGET]
    frame = [a for e, a, *_ in rows if e == "frame"]
    print(f"summary: {len(met)} of {len(temporal)} temporal models reach {TARGET:.2f}"
          + (f" ({', '.join(met)})" if met else "") + (f"; frame {frame[0]:.2f}" if frame else ""))


if __name__ == "__main__":
    main()
