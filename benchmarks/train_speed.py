"""Training speed of the pixel path against the network alone.

The whole path (decoded-frame cache read, TSN view, augmentation, batching, forward, backward,
AdamW step, through the Lightning fit vidclass uses) against forward + backward + AdamW alone on
in-memory uint8 tensors of the same shape, same network, same batch. Runs are interleaved
(network, path, network, path, ...) so load on the machine hits both alike. Target: path /
network >= 0.9.

Usage::

    python benchmarks/train_speed.py [--model frame] [--size 112] [--frames 8] [--batch 8] [--clips 32]
        [--epochs 2] [--repeats 2] [--loader-workers 0,1] [--data ../shared/data/fight_surv]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torch.nn import functional as F

from vidclass.data.catalog import load_catalog
from vidclass.inputs.frame_cache import FrameCache, cache_frames, load_frames
from vidclass.inputs.pixels import ClipTensors, FrameSpec, store_size
from vidclass.inputs.units import Files
from vidclass.inputs.views import ViewSpec
from vidclass.models.clip_models import ClipSpec, create_clip_model
from vidclass.training.config import TrainConfig
from vidclass.training.loop import fit_clip_model

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.9


def network_alone(model, batch: int, frames: int, size: int, steps: int) -> float:
    """Images/s of forward + backward + AdamW on in-memory uint8 clips."""
    optimizer = torch.optim.AdamW(model.parameter_groups(1e-3, 3e-4))
    clips = torch.randint(0, 256, (batch, frames, 3, size, size), dtype=torch.uint8)
    labels = torch.arange(batch) % model.num_classes
    model.train()
    started = time.perf_counter()
    for _ in range(steps):
        logits, targets = model.training_logits(clips, labels)
        loss = F.cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch * frames / (time.perf_counter() - started)


def whole_path(model, dataset: ClipTensors, labels: list[int], config: TrainConfig, frames: int) -> float:
    """Images/s of vidclass's own fit (no validation) over ``config.epochs`` epochs."""
    started = time.perf_counter()
    fit_clip_model(model, dataset, None, labels, config, backbone_lr=3e-4)
    return config.epochs * len(dataset) * frames / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="frame")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="clips per batch")
    parser.add_argument("--clips", type=int, default=32, help="clips in the training set (batches per epoch = clips / batch)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--loader-workers", default="0,1")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "fight_surv")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".bench" / "pixels")
    args = parser.parse_args(argv)

    catalog = load_catalog(args.data)
    items = catalog.items[:: max(1, len(catalog.items) // args.clips)][: args.clips]
    model = create_clip_model(args.model, ClipSpec(frames=args.frames, size=args.size), len(catalog.labels))
    spec = FrameSpec(store=store_size(args.size), grid=2 * args.frames, interpolation=model.interpolation)
    cache = FrameCache(args.cache_dir / "frames")
    cache_frames([item.path for item in items], spec, cache)
    entries = load_frames([item.path for item in items], spec, cache)
    kept = [item for item in items if item.path in entries]
    labels = [catalog.labels.index(item.label) for item in kept]
    units = Files([entries[item.path] for item in kept], partial(cache.read, spec=spec))
    dataset = ClipTensors(units, labels, ViewSpec(args.frames, 2 * args.frames), args.size, train=True)
    steps = args.epochs * (len(kept) // args.batch)
    network_alone(model, args.batch, args.frames, args.size, 1)  # warm-up
    rows = []
    for workers in [int(w) for w in args.loader_workers.split(",")]:
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch, patience=args.epochs + 1, accelerator="cpu",
                             workers=workers)
        alone, path = [], []
        for _ in range(args.repeats):
            alone.append(network_alone(model, args.batch, args.frames, args.size, steps))
            path.append(whole_path(model, dataset, labels, config, args.frames))
            print(f"  workers {workers}: network {alone[-1]:.1f} images/s, path {path[-1]:.1f}", file=sys.stderr)
        rows.append((workers, statistics.median(alone), statistics.median(path)))
    print(f"{args.model} {args.size}px, {args.frames} frames x {args.batch} clips per batch, {len(kept)} clips, "
          f"{args.epochs} epochs, torch threads {torch.get_num_threads()}")
    print(f"{'loader workers':>14}  {'network img/s':>13}  {'path img/s':>10}  {'ratio':>5}")
    for workers, alone, path in rows:
        print(f"{workers:>14}  {alone:13.1f}  {path:10.1f}  {path / alone:5.2f}")
    best = max(rows, key=lambda row: row[2] / row[1])
    verdict = "met" if best[2] / best[1] >= TARGET else "missed"
    print(f"train_speed: pixel path / network alone {best[2] / best[1]:.2f} with {best[0]} loader workers "
          f"(target >= {TARGET}: {verdict}); {best[2]:.1f} training images/s")


if __name__ == "__main__":
    main()
