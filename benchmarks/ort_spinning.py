"""ONNX Runtime's thread spinning on a small CPU: extraction and the encoder alone, spinning on vs off.

ONNX Runtime's intra-op threads spin by default while they wait for the next run. vidclass runs the
frame encoder one frame at a time (the fastest batch on a 2-core CPU, ``benchmarks/runtime.py``) beside a
decoding worker, so spinning threads take the cores the decoder needs. This measures, in one process and
paired (the configurations alternate per chunk, so a change of machine load weighs on both):

- extraction: :func:`vidclass.inputs.features.extract_features` with one decode worker into a fresh cache,
  images/s (a grid frame and its RGB difference count two), and the main process's CPU seconds;
- the encoder alone: the same graph at batch 1 on frames already in memory.

Both use :func:`vidclass.models.runtime.session` (spinning off is vidclass's default). Prints a table, then one
summary line. Usage::

    python benchmarks/ort_spinning.py [DATA] [--clips 40] [--frames 16] [--chunks 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from vidclass.data.catalog import load_catalog
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache
from vidclass.models import runtime
from vidclass.models.backbones import create_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "fight_surv")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--frames", type=int, default=16, help="grid frames per clip (each with its RGB difference)")
    parser.add_argument("--chunks", type=int, default=4)
    args = parser.parse_args()

    items = load_catalog(args.data).items
    paths = [item.path for item in items][:: max(1, len(items) // args.clips)][: args.clips]
    torch_encoder = create_backbone("efficientnet_lite0")
    graph = runtime.encoder_graph(torch_encoder)
    encoders = {}
    for spinning in (True, False):
        encoder = runtime.OrtFrameEncoder(graph, torch_encoder.spec, torch_encoder.weights_id)
        encoder.graph.session = runtime.session(graph, spinning=spinning)
        encoders[spinning] = encoder
    frames = runtime.probe_frames(32, torch_encoder.spec.preprocess.crop)
    rows = {spinning: {"extract": [], "cpu": [], "alone": []} for spinning in encoders}
    for k, chunk in enumerate(np.array_split(np.arange(len(paths)), args.chunks)):
        for spinning in (True, False) if k % 2 == 0 else (False, True):
            encoder = encoders[spinning]
            with tempfile.TemporaryDirectory() as tmp:
                start, cpu = time.perf_counter(), time.process_time()
                report = extract_features([paths[i] for i in chunk], encoder, args.frames, cache=FeatureCache(tmp),
                                          workers=1, pair_image="rgbdiff")
                wall = time.perf_counter() - start
            rows[spinning]["extract"].append(2 * report.frames / wall)
            rows[spinning]["cpu"].append((time.process_time() - cpu) / (2 * report.frames) * 1000)
            start = time.perf_counter()
            for frame in frames:
                encoder.encode(frame[None])
            rows[spinning]["alone"].append(len(frames) / (time.perf_counter() - start))
    print(f"# {len(paths)} clips x {args.frames} frames + RGB differences, ONNX Runtime on 2 threads, batch 1; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| spinning | extraction images/s | main-process CPU ms/image | encoder alone images/s | P1 |")
    print("|---|---|---|---|---|")
    for spinning in (True, False):
        r = {name: float(np.mean(values)) for name, values in rows[spinning].items()}
        print(f"| {'on (ONNX Runtime default)' if spinning else 'off (vidclass default)'} | {r['extract']:.1f} | "
              f"{r['cpu']:.1f} | {r['alone']:.1f} | {r['extract'] / r['alone']:.2f} |")
    gain = np.mean(rows[False]["extract"]) / np.mean(rows[True]["extract"])
    print(f"summary: extraction with spinning off runs {gain:.2f}x the rate with spinning on")


if __name__ == "__main__":
    main()
