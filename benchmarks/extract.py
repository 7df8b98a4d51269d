"""Feature extraction speed and memory: vidclass's pipeline against the CNN alone and the Keras way.

Over a dataset (default ``../shared/data/fight_surv`` beside the repository), with one backbone
(default ``efficientnet_lite0``), ``--frames`` grid frames per clip and ``--batch-size`` frames
per CNN batch, measures

- ``P1``: the end-to-end rate of :func:`vidclass.inputs.features.extract_features` (decode + preprocess +
  CNN + cache write, into a fresh temporary cache), in frames/s, divided by the rate of the same
  encoder alone on the same frames already decoded and preprocessed in memory, in the same
  process with the same batch size. With pair-image inputs (``--inputs appearance+flow``, the
  default, or ``appearance+rgbdiff``) every grid frame is two CNN images, the frame and its
  optical flow or RGB difference (drawn in the decoding workers), and both sides count images. The clips are
  cut into ``--chunks`` parts and each part is timed both ways in turn, so a change of machine load during the run weighs on both alike.
- ``P2``: that end-to-end rate against the method of the Keras video classification example on
  ``--keras-clips`` clips spread over the set (timed a few at a time, after each chunk): OpenCV
  decodes every frame, each is centre-cropped to a square and resized, and the same encoder runs
  once per frame (batch 1) on the first 20 frames. Both rates count frames whose features come out
  (for vidclass, a grid frame with its pair-image features counts once).
- the peak resident memory of the extraction: ``getrusage`` ``ru_maxrss`` of this process and
  of its largest child (a decode worker), read after the first chunk's extraction, before any
  frames are held in memory for the encoder-alone timing. Their sum bounds the peak from above
  (a worker's RSS also counts the pages it shares with this process since fork). Memory is not
  sampled during the timed runs: reading ``/proc/PID/smaps`` every 50 ms from a thread slowed
  the extraction by a quarter on a 2-core machine.

Prints a table, then one summary line (the last line). Usage::

    python benchmarks/extract.py [DATA] [--clips N] [--backbone B] [--frames 16] [--batch-size 1] [--runtime auto]

``--runtime`` (default ``auto``, vidclass's default: ONNX Runtime on a CPU) runs the extraction and
the encoder alone; the Keras baseline keeps PyTorch, the same network at batch 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vidclass.data.catalog import load_catalog
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache
from vidclass.inputs.views import DEFAULT_INPUTS, INPUTS, ViewSpec
from vidclass.media import motion, sampling, video
from vidclass.models.backbones import FrameEncoder, create_backbone

KERAS_FRAMES = 20  # MAX_SEQ_LENGTH of the Keras example


@dataclass
class Timing:
    frames: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def spread(paths: list[Path], count: int | None) -> list[Path]:
    """``count`` paths spread evenly over the list (so every class is in), or all of them."""
    if not count or count >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, count).round().astype(int)]


def preprocessed(paths: list[Path], encoder: FrameEncoder, grid: int, view: ViewSpec) -> np.ndarray:
    """The images of ``paths`` that extraction feeds to the CNN for ``view``'s inputs (grid frames,
    their pair images, or both), all in memory."""
    p = encoder.spec.preprocess
    arrays = []
    for path in paths:
        info = video.probe(path)
        indices = sampling.uniform(info.num_frames, grid).indices
        pairs = motion.partner_pairs(indices, info.num_frames, info.fps) if view.pair_image else ()
        frames = video.read_frames(  # one decoding pass for the frames and both sides of their pairs
            path, np.concatenate([indices, *pairs]), size=p.resize, crop=p.crop, interpolation=p.interpolation,
            info=info,
        )
        n = len(indices)
        if view.frame_features:
            arrays.append(frames[:n])
        if view.pair_image:
            arrays.append(motion.pair_images(frames[n : 2 * n], frames[2 * n :], view.pair_image))
    return np.concatenate(arrays)


def encode_alone(encoder: FrameEncoder, frames: np.ndarray, batch_size: int) -> float:
    """Seconds the encoder takes on ``frames`` in batches of ``batch_size``."""
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(frames), batch_size):
            encoder(torch.from_numpy(frames[i : i + batch_size])).float().numpy()
    return time.perf_counter() - start


def keras_features(path: Path, encoder: FrameEncoder) -> int:
    """The Keras example's ``load_video`` + per-frame ``predict``: frames whose features came out."""
    size = encoder.spec.preprocess.crop
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            frame = cv2.resize(frame[top : top + side, left : left + side], (size, size))
            frames.append(frame[:, :, [2, 1, 0]])
    finally:
        capture.release()
    done = 0
    with torch.inference_mode():
        for frame in frames[:KERAS_FRAMES]:
            encoder(torch.from_numpy(np.ascontiguousarray(frame[None]))).float().numpy()
            done += 1
    return done


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "fight_surv"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=default_data, help=f"dataset (default {default_data})")
    parser.add_argument("--clips", type=int, default=None, help="use this many clips, spread over the dataset")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--frames", type=int, default=16, help="grid frames per clip")
    parser.add_argument("--batch-size", type=int, default=1, help="frames per CNN call (1: fastest on CPUs)")
    parser.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnxruntime"))
    parser.add_argument("--workers", type=int, default=1, help="decode processes of extract_features")
    parser.add_argument("--inputs", choices=INPUTS, default=DEFAULT_INPUTS, help="pair-image inputs also encode optical flow or RGB differences")
    parser.add_argument("--chunks", type=int, default=4, help="parts timed in turn for P1")
    parser.add_argument("--keras-clips", type=int, default=20, help="clips for the Keras-method baseline")
    args = parser.parse_args()

    view = ViewSpec(frames=args.frames // 2, grid=args.frames, inputs=args.inputs)
    if not view.appearance:
        raise SystemExit(f"--inputs {args.inputs}: the CNN does not run on these inputs")
    per_frame = int(view.frame_features) + int(view.pair_image is not None)  # CNN images per grid frame
    before = load_average()
    paths = spread([item.path for item in load_catalog(args.data).items], args.clips)
    torch_encoder = create_backbone(args.backbone)
    from vidclass.models.runtime import frame_encoder

    encoder = frame_encoder(torch_encoder, args.runtime)
    print(
        f"{len(paths)} clips of {args.data}; {args.backbone} ({encoder.weights_id[:40]}...), grid {args.frames}, "
        f"batch {args.batch_size}, {type(encoder).__name__}, workers {args.workers}, inputs {args.inputs}; torch {torch.__version__} {torch.get_num_threads()} "
        f"threads, {os.cpu_count()} CPUs {platform.machine()}; load average before: {before}"
    )
    warm = preprocessed(paths[:1], encoder, args.frames, ViewSpec(frames=1, grid=args.frames))
    encode_alone(encoder, np.concatenate([warm] * (args.batch_size // len(warm) + 1))[: args.batch_size], args.batch_size)
    encode_alone(torch_encoder, warm[:1], 1)  # the Keras method's batch of 1 gets its warm-up too

    # Each chunk is timed three ways in turn, so a change of load during the run weighs on all alike.
    chunks = [list(part) for part in np.array_split(np.arange(len(paths)), min(args.chunks, len(paths)))]
    keras_chunks = np.array_split(spread(list(range(len(paths))), args.keras_clips), len(chunks))
    end_to_end, alone, keras = Timing(), Timing(), Timing()
    ratios: list[float] = []
    own_max = child_max = 0
    with tempfile.TemporaryDirectory(prefix="vidclass-bench-") as tmp:
        cache = FeatureCache(tmp)
        for part, keras_part in zip(chunks, keras_chunks):
            chunk = [paths[i] for i in part]
            start = time.perf_counter()
            report = extract_features(
                chunk, encoder, args.frames, cache=cache, batch_size=args.batch_size, workers=args.workers,
                pair_image=view.pair_image, appearance=view.frame_features,
            )
            seconds = time.perf_counter() - start
            if not ratios:  # peak memory so far: model, extraction and its workers, no frame pool yet
                own_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                child_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            if report.failed:
                raise SystemExit(f"extraction failed: {report.failed}")
            frames = preprocessed(chunk, encoder, args.frames, view)
            alone_seconds = encode_alone(encoder, frames, args.batch_size)
            count = len(frames)
            del frames
            images = report.frames * per_frame
            end_to_end.frames, end_to_end.seconds = end_to_end.frames + images, end_to_end.seconds + seconds
            alone.frames, alone.seconds = alone.frames + count, alone.seconds + alone_seconds
            ratios.append((images / seconds) / (count / alone_seconds))
            start = time.perf_counter()
            keras.frames += sum(keras_features(paths[i], torch_encoder) for i in keras_part)
            keras.seconds += time.perf_counter() - start
            print(
                f"chunk {len(ratios)}/{len(chunks)}: {len(chunk)} clips, extraction {images / seconds:.2f} "
                f"images/s, encoder alone {count / alone_seconds:.2f} images/s, P1 {ratios[-1]:.2f}; "
                f"load {load_average()}",
                flush=True,
            )

    p1 = end_to_end.rate / alone.rate
    p2 = end_to_end.rate / per_frame / keras.rate  # grid frames (with their RGB differences) per second
    header = f"{'method':<58} {'clips':>5} {'images':>7} {'wall s':>8} {'images/s':>9}"
    print(header)
    print("-" * len(header))
    rows = [
        (f"vidclass extract_features (workers {args.workers})", len(paths), end_to_end),
        ("encoder alone on the same images, preprocessed in memory", len(paths), alone),
        (f"Keras example (OpenCV every frame, batch 1, first {KERAS_FRAMES})", sum(map(len, keras_chunks)), keras),
    ]
    for name, clips, timing in rows:
        print(f"{name:<58} {clips:>5} {timing.frames:>7} {timing.seconds:>8.1f} {timing.rate:>9.2f}")
    print(
        f"peak resident memory of the extraction (ru_maxrss): this process {own_max / 1e9:.2f} GB, "
        f"largest decode worker {child_max / 1e9:.2f} GB, sum {(own_max + child_max) / 1e9:.2f} GB"
    )
    print(f"load average after: {load_average()}")
    print(f"extract: P1 {p1:.2f} (target >= 0.95), P2 {p2:.1f}x (target >= 3x), peak RSS {(own_max + child_max) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
