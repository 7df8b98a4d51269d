"""Fit a temporal head on synthetic features with N CPU processes (Lightning DDP, gloo), for
tests/test_distributed.py: ``python tests/ddp_fit.py OUT DEVICES BATCH``. Lightning's launcher runs
this script again for ranks 1..N-1. Writes ``seen-<rank>.json`` (the (epoch, index) items each rank
drew), and from rank 0 ``predictions.npy`` and ``gathered.json``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vidclass.inputs.features import VideoFeatures
from vidclass.inputs.views import GridViews, ViewSpec, view_averaged
from vidclass.models.heads import create_head
from vidclass.training import loop as training
from vidclass.training.config import Example, TrainConfig
from vidclass.training.distributed import gather, is_primary, rank

VIEW = ViewSpec(frames=2, grid=4, inputs="appearance")
TRAIN, HELD = 32, 8


def examples(count: int, seed: int) -> list[Example]:
    """Two classes told apart by the mean of feature 0, with noise."""
    rng = np.random.default_rng(seed)
    made = []
    for i in range(count):
        label = i % 2
        features = rng.normal(0, 1, (VIEW.grid, 8)).astype(np.float32)
        features[:, 0] += 1.5 if label else -1.5
        grid = VideoFeatures(features, np.arange(VIEW.grid), np.ones(VIEW.grid, bool), 10.0, VIEW.grid, 0.4)
        made.append(Example(grid, label))
    return made


def run(out: Path, devices: int, batch: int) -> None:
    seen: list[tuple[int, int]] = []
    take = GridViews.__getitem__

    def recording(self, item):
        if self.train:
            seen.append(tuple(int(v) for v in item))
        return take(self, item)

    GridViews.__getitem__ = recording  # type: ignore[method-assign]
    load = torch.load

    def late_load(*args, **kwargs):  # ranks > 0 read the best checkpoint late: rank 0 must wait for them
        if rank() > 0:
            time.sleep(1.0)
        return load(*args, **kwargs)

    torch.load = late_load
    torch.manual_seed(0)
    head = create_head("mean", in_dim=8, num_classes=2, dropout=0.0)
    config = TrainConfig(epochs=4, batch_size=batch, lr=0.02, patience=10, seed=0, accelerator="cpu",
                                  devices=devices, strategy="ddp" if devices > 1 else "auto")
    training.fit_head(head, examples(TRAIN, 1), examples(HELD, 2), VIEW, config)
    GridViews.__getitem__ = take  # type: ignore[method-assign]
    torch.load = load
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seen-{rank()}.json").write_text(json.dumps(seen))
    gathered = gather(list(range(10)), lambda part: [[x, rank()] for x in part])  # who computed what
    if is_primary():
        np.save(out / "predictions.npy", view_averaged(head, [e.features for e in examples(HELD, 3)], VIEW))
        (out / "gathered.json").write_text(json.dumps(gathered))


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
