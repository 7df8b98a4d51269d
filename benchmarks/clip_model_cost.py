"""Inference cost of the clip models that run a whole window at once (early_fusion, 3d, convlstm).

Parameters, GFLOPs per clip, clips/s and the live real-time factor. Every clip model (and each
``3d`` arch asked for) is built at its usual setting and timed on
in-memory uint8 clips, one clip per call as a live stream sends them, after a warm-up. A stream
encodes each sampled frame once and classifies a window every ``--stride`` seconds
(:mod:`vidclass.estimator.stream`); for these models the per-frame work is only normalisation, so the
real-time factor (video seconds labelled per wall second) is ``stride / seconds per window``
(>= 1: keeps up with a live source at the model's rate), from wall time; "clips per CPU-second"
divides by the process's CPU time instead, what the same thread does when it is not sharing
the machine. Weights do not change speed, so everything is built with random weights (offline;
the torchvision archs need no download).

Each row is at the frames and size of :data:`vidclass.models.clip_models.catalogue.COSTS` (the
defaults ``vidclass models`` lists); ``--table`` instead recounts parameters and GFLOPs of
every row of that table (no timing) and prints them as its Python source, to paste there when
a model changes. The header gives the load average: wall numbers on a shared CPU are depressed.

Usage::

    python benchmarks/clip_model_cost.py [--device cpu] [--repeats 5] [--stride 0.5]
        [--archs inflated,c3d_small,r3d_18,mc3_18,r2plus1d_18]  (s3d, mvit_v2_s, swin3d_t: 224 px, 16 frames)
    python benchmarks/clip_model_cost.py --table
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vidclass.models.clip_models import ClipSpec, create_clip_model, get_clip_model_class
from vidclass.models.clip_models.catalogue import COSTS

# the models timed by default (frame and lrcn run their CNN per sampled frame as a stream
# decodes it, so a per-window factor does not describe them; see benchmarks/live.py)
WINDOW_MODELS = ("early_fusion", "convlstm")


def count(name: str, options: dict, frames: int, size: int, device: str = "cpu"):
    """The model (random weights, 2 classes), a random uint8 clip, and the FLOPs of one forward."""
    torch.manual_seed(0)
    model = create_clip_model(name, ClipSpec(frames=frames, size=size), 2, pretrained=False, **options).eval().to(device)
    clip = torch.randint(0, 256, (1, frames, 3, size, size), dtype=torch.uint8, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(clip)
    return model, clip, counter.get_total_flops()


def cost(name: str, options: dict, frames: int, size: int, device: str, repeats: int) -> dict:
    model, clip, flops = count(name, options, frames, size, device)
    with torch.inference_mode():
        for _ in range(2):  # warm-up
            model(clip)
        seconds, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            model(clip)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    per_clip = statistics.median(seconds)
    label = name if name != "3d" else f"3d --arch {options['arch']}"
    return {"model": label, "frames": frames, "size": size, "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "gflops": flops / 1e9, "clips_s": 1.0 / per_clip, "seconds": per_clip,
            "cpu_clips_s": 1.0 / max(statistics.median(cpu), 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stride", type=float, default=0.5, help="seconds between windows (vidclass timeline's default)")
    parser.add_argument("--archs", default="inflated,c3d_small,r3d_18,mc3_18,r2plus1d_18")
    parser.add_argument("--table", action="store_true", help="print catalogue.COSTS recounted from the models")
    args = parser.parse_args()
    get_clip_model_class("3d")  # the registry is loaded
    if args.table:
        for (name, arch), (frames, size, _, _, weights) in COSTS.items():
            model, _, flops = count(name, {"arch": arch} if arch else {}, frames, size)
            params = sum(p.numel() for p in model.parameters()) / 1e6
            constant = {"ImageNet": "IMAGENET", "from scratch": "SCRATCH"}.get(weights.split(" (")[0], "KINETICS")
            print(f"    ({name!r}, {arch!r}): ({frames}, {size}, {params:.2f}, {flops / 1e9:.2f}, {constant}),", flush=True)
        return
    runs = [(name, {}, *COSTS[name, None][:2]) for name in WINDOW_MODELS]
    runs += [("3d", {"arch": arch}, *COSTS["3d", arch][:2]) for arch in args.archs.split(",") if arch]
    rows = [cost(*run, args.device, args.repeats) for run in runs]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# clip model inference on {args.device} (threads {torch.get_num_threads()}), 1 clip per call, "
          f"real-time factor at a window every {args.stride} s; load average {load}")
    print("model\tframes x px\tparams (M)\tGFLOPs/clip\tclips/s\tclips per CPU-second\treal-time factor")
    for row in rows:
        print(f"{row['model']}\t{row['frames']} x {row['size']}\t{row['params_M']:.2f}\t{row['gflops']:.2f}\t"
              f"{row['clips_s']:.2f}\t{row['cpu_clips_s']:.2f}\t{args.stride / row['seconds']:.2f}")
    live = [row["model"] for row in rows if args.stride / row["seconds"] >= 1]
    print(f"summary: {len(live)} of {len(rows)} clip models keep up with a live source on {args.device} "
          f"(real-time factor >= 1 at a window every {args.stride} s)")


if __name__ == "__main__":
    main()
