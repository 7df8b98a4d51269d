"""Frames/s of the default frame encoder on each inference engine, paired in one run.

The same decoded and preprocessed images (frames of fight_surv clips, 224 px) go through

- ``torch eager``: the encoder in contiguous (NCHW) memory;
- ``torch channels-last``: vidclass's PyTorch default;
- ``torch.compile``: the channels-last encoder compiled (``--no-compile`` skips it; the
  compilation time is printed, not counted);
- ``ORT fp32``: the ONNX graph vidclass exports, in ONNX Runtime (vidclass's CPU default);
- ``ORT int8``: that graph statically quantised (QDQ, per channel), calibrated on other frames,

at each ``--batch-sizes`` (frames per call), on ``--threads`` threads. Rounds alternate the
engines so a change of machine load weighs on all alike; each row gives the median of its
rounds, the ratio to channels-last at the same batch, and the largest feature difference to
eager PyTorch relative to the largest feature. The machine's load average is printed: under
contention ratios are meaningful, absolute rates are not. Rows are appended to ``--log`` as
they finish. The last line is a summary.

``--accuracy N``: also the int8 graph's accuracy change, a logistic regression on mean-pooled
features of N fight_surv clips, StratifiedGroupKFold over its groups, fp32 against int8.

Usage::

    nice -n 10 python benchmarks/runtime.py [--batch-sizes 1,32] [--rounds 3] [--images 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vidclass.data.catalog import load_catalog
from vidclass.media import sampling, video
from vidclass.models.backbones import create_backbone
from vidclass.models.runtime import OrtFrameEncoder, export_encoder

Engine = Callable[[np.ndarray], np.ndarray]


def load_average() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def frames_of(paths: list[Path], per_clip: int, pre) -> np.ndarray:
    out = []
    for path in paths:
        info = video.probe(path)
        out.append(video.read_frames(path, sampling.uniform(info.num_frames, per_clip).indices, size=pre.resize,
                                     crop=pre.crop, interpolation=pre.interpolation, info=info))
    return np.concatenate(out)


def torch_engine(module) -> Engine:
    def run(frames: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(frames)).float().numpy()

    return run


def rate(engine: Engine, images: np.ndarray, batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        engine(images[i : i + batch])
    return len(images) / (time.perf_counter() - start)


def quantize(src: Path, dst: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self):
            frame = next(self.items, None)
            return None if frame is None else {"frames": frame[None]}

    quantize_static(str(src), str(dst), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)


def int8_accuracy(data: Path, clips: int, engines: dict[str, Engine], pre, log) -> dict[str, float]:
    """Grouped-CV accuracy of a logistic regression on mean-pooled features, per engine."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    items = load_catalog(data).items
    items = [items[i] for i in np.linspace(0, len(items) - 1, min(clips, len(items))).astype(int)]
    labels = np.array([item.label for item in items])
    groups = np.array([str(item.group) for item in items])
    scores: dict[str, float] = {}
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in engines}
    for item in items:  # each clip decoded once, its frames through every engine
        frames = frames_of([item.path], 8, pre)
        for name, engine in engines.items():
            pooled[name].append(engine(frames).mean(axis=0))
    for name, vectors in pooled.items():
        x = np.stack(vectors)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
        folds = cross_val_score(model, x, labels, groups=groups, cv=StratifiedGroupKFold(5))
        scores[name] = float(folds.mean())
        log({"accuracy": name, "clips": len(items), "groups": len(set(groups)), "cv_accuracy": scores[name],
             "folds": folds.tolist()})
        print(f"{name}: grouped 5-fold CV accuracy {scores[name]:.3f} (folds {', '.join(f'{f:.2f}' for f in folds)})")
    first, *others = pooled
    for name in others:
        a, b = np.stack(pooled[first]), np.stack(pooled[name])
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        print(f"{name} vs {first}: mean-pooled features' cosine median {np.median(cosine):.3f}, min {cosine.min():.3f}")
    return scores


def main() -> None:
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "fight_surv"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--images", type=int, default=32, help="timed images (4 frames per clip)")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--accuracy", type=int, default=0, help="clips for the int8 accuracy check (0: skip)")
    parser.add_argument("--log", type=Path, default=Path(".bench/runtime.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.log.parent.mkdir(parents=True, exist_ok=True)

    def log(row: dict) -> None:
        with args.log.open("a") as f:
            f.write(json.dumps({**row, "load": os.getloadavg()}) + "\n")

    items = load_catalog(args.data).items
    clips = [items[i].path for i in np.linspace(0, len(items) - 1, args.images // 4 * 2).astype(int)]
    encoder = create_backbone()
    pre = encoder.spec.preprocess
    images = frames_of(clips[::2], 4, pre)[: args.images]
    calibration = frames_of(clips[1::2], 4, pre)  # other clips than the timed ones
    eager = create_backbone(channels_last=False)
    engines: dict[str, Engine] = {"torch eager": torch_engine(eager), "torch channels-last": torch_engine(encoder)}
    if not args.no_compile:
        start = time.perf_counter()
        try:
            compiled = torch.compile(encoder)
            torch_engine(compiled)(images[:1])
            torch_engine(compiled)(images[:32])
            engines["torch.compile"] = torch_engine(compiled)
            print(f"torch.compile: compiled in {time.perf_counter() - start:.0f} s (not counted)")
        except Exception as error:  # noqa: BLE001 - report any compiler failure and go on
            print(f"torch.compile: failed ({type(error).__name__}: {str(error)[:200]})")
    folder = Path(tempfile.mkdtemp(prefix="vidclass-runtime-"))
    export_encoder(encoder, folder / "fp32.onnx")
    quantize(folder / "fp32.onnx", folder / "int8.onnx", calibration)
    for name, graph in (("ORT fp32", "fp32.onnx"), ("ORT int8", "int8.onnx")):
        ort_encoder = OrtFrameEncoder(folder / graph, encoder.spec, encoder.weights_id, chunk=10**6,
                                      threads=args.threads)
        engines[name] = ort_encoder.encode
    reference = engines["torch eager"](images)
    scale = float(np.abs(reference).max())
    differences = {name: float(np.abs(engine(images) - reference).max()) / scale for name, engine in engines.items()}
    batches = [int(b) for b in args.batch_sizes.split(",")]
    rates: dict[tuple[str, int], list[float]] = {(name, b): [] for name in engines for b in batches}
    print(f"{len(images)} images of {pre.crop} px, {args.threads} threads; {load_average()} at the start")
    for r in range(args.rounds):
        for batch in batches:
            for name, engine in engines.items():
                engine(images[:batch])  # warm-up of this shape
                rates[(name, batch)].append(rate(engine, images, batch))
                log({"round": r, "engine": name, "batch": batch, "frames_per_s": rates[(name, batch)][-1]})
    print(f"{load_average()} at the end")
    print(f"{'engine':<22}{'batch':>6}{'frames/s':>10}{'x channels-last':>17}{'max rel diff':>14}")
    medians = {key: statistics.median(values) for key, values in rates.items()}
    for (name, batch), value in medians.items():
        base = medians[("torch channels-last", batch)]
        print(f"{name:<22}{batch:>6}{value:>10.1f}{value / base:>17.2f}{differences[name]:>14.1e}")
    if args.accuracy:
        scores = int8_accuracy(args.data, args.accuracy, {"fp32": engines["ORT fp32"], "int8": engines["ORT int8"]},
                               pre, log)
        print(f"int8 accuracy change (logistic regression, grouped 5-fold CV, {args.accuracy} clips): "
              f"{scores['int8'] - scores['fp32']:+.3f} ({scores['fp32']:.3f} -> {scores['int8']:.3f})")
    best_name, best_batch = max(medians, key=medians.get)
    default = medians[("ORT fp32", 1)] if ("ORT fp32", 1) in medians else medians[("ORT fp32", batches[0])]
    accurate = {key: v for key, v in medians.items() if differences[key[0]] < 1e-3}
    fastest_accurate = max(accurate.values())
    print(f"summary: fastest {best_name} at batch {best_batch} ({medians[(best_name, best_batch)]:.1f} frames/s); "
          f"vidclass's CPU default (ORT fp32, batch 1) at {default:.1f} = "
          f"{default / fastest_accurate:.2f}x the fastest engine within 1e-3 of PyTorch's features; "
          f"ORT fp32 / channels-last at batch {batches[0]}: "
          f"{medians[('ORT fp32', batches[0])] / medians[('torch channels-last', batches[0])]:.2f}x; {load_average()}")


if __name__ == "__main__":
    main()
