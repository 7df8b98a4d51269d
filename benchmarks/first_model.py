"""Time to a first model: ``vidclass train DATA`` with the defaults and an empty cache, with its breakdown.

Runs the training the command runs (``VideoClassifier`` with its defaults, ``fit`` with a run
folder), in this process, into a fresh feature cache and a fresh ONNX graph cache (so the encoder
export counts too), and splits the wall time into

- ``export``: exporting the frame encoder to ONNX (ONNX Runtime is the CPU default);
- ``CNN``: time inside the frame encoder's calls;
- ``decode wait``: the rest of the extraction (the CNN waiting on the decoding worker,
  cache writes, fingerprints);
- ``training``: everything after the last video was extracted (fit, temperature, evaluation,
  bundle).

``--runtime torch`` times the PyTorch path instead; ``--clips N`` uses N clips spread over the
dataset (the whole dataset by default). Prints the load average (absolute times under contention
mean little) and a summary line last. Usage::

    nice -n 10 python benchmarks/first_model.py [DATA] [--clips N] [--runtime auto|torch]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import vidclass.models.runtime as runtime
from vidclass.data.catalog import drop_unreadable, load_catalog
from vidclass.estimator import engine
from vidclass.estimator.classifier import VideoClassifier


class Timed:
    """An encoder whose calls are timed."""

    def __init__(self, encoder, clock: dict[str, float]) -> None:
        self.encoder, self.clock = encoder, clock
        self.spec, self.weights_id = encoder.spec, encoder.weights_id

    def eval(self):
        return self

    def __call__(self, frames):
        start = time.perf_counter()
        try:
            return self.encoder(frames)
        finally:
            self.clock["cnn"] += time.perf_counter() - start


def main() -> None:
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "fight_surv"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=default_data)
    parser.add_argument("--clips", type=int, default=None)
    parser.add_argument("--runtime", default="auto", choices=runtime.RUNTIMES)
    args = parser.parse_args()
    found = drop_unreadable(load_catalog(args.data))
    if args.clips:
        keep = np.linspace(0, len(found.items) - 1, args.clips).astype(int)
        found = dataclasses.replace(found, items=[found.items[i] for i in keep])
    clock = {"cnn": 0.0, "export": 0.0}
    original_export = runtime.encoder_graph
    original_encoder = runtime.frame_encoder

    def timed_export(*a, **k):
        start = time.perf_counter()
        try:
            return original_export(*a, **k)
        finally:
            clock["export"] += time.perf_counter() - start

    def timed_encoder(*a, **k):
        return Timed(original_encoder(*a, **k), clock)

    runtime.encoder_graph = timed_export
    runtime.frame_encoder = timed_encoder
    engine.frame_encoder = timed_encoder  # the name the estimator's engine calls it by
    last_video = [0.0]
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["VIDCLASS_CACHE"] = scratch  # empty feature and graph caches
        print(f"{len(found.items)} clips of {args.data}; runtime {args.runtime}; load average "
              + " ".join(f"{v:.2f}" for v in os.getloadavg()))
        start = time.perf_counter()
        model = VideoClassifier(cache_dir=Path(scratch) / "features", runtime=args.runtime)
        model.fit(found, out_dir=Path(scratch) / "run", on_video=lambda path, status: last_video.__setitem__(
            0, time.perf_counter()))
        total = time.perf_counter() - start
    extraction = last_video[0] - start
    rows = {"export": clock["export"], "CNN": clock["cnn"],
            "decode wait": extraction - clock["cnn"] - clock["export"], "training": total - extraction}
    for name, seconds in rows.items():
        print(f"{name:<12}{seconds:>8.1f} s")
    accuracy = model.evaluation_.accuracy if model.evaluation_ is not None else float("nan")
    print(f"summary: first model in {total:.1f} s wall ({len(found.items)} clips, runtime {args.runtime}, test accuracy "
          f"{accuracy:.3f}): " + ", ".join(f"{k} {v:.1f} s" for k, v in rows.items())
          + "; load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
