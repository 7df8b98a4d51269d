"""Timeline benchmark: real-time factor and peak memory over long 720p videos, PyTorch vs ONNX Runtime.

Each engine labels the same videos, each timeline in a fresh process, whose own peak RSS is reported:

* ``torch``: the bundle on PyTorch (``--runtime torch``);
* ``onnxruntime``: the same bundle on ONNX Runtime, its frame encoder exported on demand (the graph
  cache is warmed first, so this measures a later run) and its head on PyTorch;
* ``onnxruntime exported``: a copy of the bundle after ``vidclass export``: both graphs on ONNX Runtime,
  and the PyTorch encoder never built (nor timm and torchvision imported).

Targets: <= 1.0 GB peak RSS on the ONNX Runtime path; P3: within 10% between the shortest and longest video
(memory flat as the video grows). The real-time factor is video-seconds labelled per wall-second.

The model is trained once on the synthetic approaching/receding task (default backbone, head and inputs,
4 frames per 2 s view: a sampling rate of 2 frames/s) and the long videos are synthetic 1280x720 H.264 at
a low frame rate (``--fps``) to keep their encoding time reasonable; everything is kept under
``.bench/predict`` so reruns only measure. Rows are appended to ``--log`` as they finish.

    python benchmarks/predict.py                        # 10 and 60 minutes, every engine
    python benchmarks/predict.py --minutes 1 5          # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "predict"


def _model() -> Path:
    """Train (once) the benchmark model on synthetic data with the default backbone."""
    from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
    from vidclass.estimator.classifier import VideoClassifier

    model_dir = WORK / "model"
    if not (model_dir / "config.json").is_file():
        data = make_direction_dataset(WORK / "data", SyntheticSpec(clips_per_class=12, seconds=2.0, fps=12, size=112))
        VideoClassifier(frames=4, cache_dir=WORK / "cache", val=0.2, test=0.2).fit(data).save(model_dir)
    return model_dir


def _long_video(minutes: float, fps: float) -> Path:
    """A synthetic 1280x720 video of ``minutes`` whose square changes direction every 30 s."""
    from vidclass.data.synthetic import draw_square, random_scene
    from vidclass.media.render import AnnotatedVideoWriter

    path = WORK / f"long_{minutes:g}min_{fps:g}fps_720p.mp4"
    if path.is_file():
        return path
    scene = random_scene(np.random.default_rng(0), 720, period=2.0)
    pad = ((0, 0), (280, 280), (0, 0))
    frames = int(minutes * 60 * fps)
    fraction, step = 0.0, 1.0 / (fps * scene.period)
    with AnnotatedVideoWriter(path, fps) as writer:
        for i in range(frames):
            frame = draw_square(scene, int(scene.smallest + fraction * (scene.largest - scene.smallest)))
            writer.write(np.pad(frame, pad, mode="edge"))
            approaching = (i / fps) % 60 < 30
            fraction = (fraction + (step if approaching else -step)) % 1.0
    return path


ENGINES = {"torch": ("model", "torch"), "onnxruntime": ("model", "onnxruntime"),
           "onnxruntime exported": ("model-exported", "onnxruntime")}


def _exported(model_dir: Path) -> Path:
    """A copy of the benchmark model with its ONNX graphs (``vidclass export``), made once."""
    from vidclass.estimator.engine import exported
    from vidclass.use.export import export_bundle

    copy = WORK / "model-exported"
    if exported(copy) is None:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(model_dir, copy)
        export_bundle(copy)
    return copy


def _child(model_dir: str, video: str, runtime: str) -> None:
    """Run one timeline in this (fresh) process and print its figures as JSON."""
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.media.video import probe
    from vidclass.use.predict import TimelineSettings, run_timeline

    model = VideoClassifier.load(model_dir, runtime=runtime)
    started = time.perf_counter()
    result = run_timeline(model, video, TimelineSettings(stride=1.0, smooth=5))
    seconds = time.perf_counter() - started
    peak_kib = _peak_kib()
    heavy = sorted(name for name in ("timm", "torchvision", "matplotlib", "sklearn") if name in sys.modules)
    print(json.dumps({"seconds": seconds, "video_seconds": probe(video).duration, "windows": len(result.starts),
                      "peak_mib": peak_kib / 1024, "segments": len(result.segments), "imported": heavy,
                      "probabilities": result.raw.tolist()}))


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM). Not ``getrusage``'s ru_maxrss: Linux carries that across
    exec, so a child started by a parent holding 1 GB reports the parent's peak as its own."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _run(model_dir: Path, video: Path, runtime: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(model_dir), str(video), runtime], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60], help="video lengths to compare")
    parser.add_argument("--fps", type=float, default=5.0, help="frame rate of the synthetic 720p videos")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--log", type=Path, default=ROOT / ".bench" / "predict-s3.txt", help="rows appended here")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "VIDEO", "RUNTIME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    models = {"model": _model()}
    models["model-exported"] = _exported(models["model"])
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.models.runtime import encoder_graph

    encoder_graph(VideoClassifier.load(models["model"], runtime="torch").encoder_)  # the on-demand graph, cached
    header = (f"{'engine':>21} {'video':>7} {'windows':>7} {'wall s':>7} {'RTF':>6} {'peak RSS MiB':>12} "
              f"{'load 1/5/15':>14}  imported")
    _log(args.log, f"# benchmarks/predict.py --minutes {' '.join(f'{m:g}' for m in args.minutes)} "
                   f"(720p, {args.fps:g} fps; RTF = video s per wall s)\n{header}")
    rows: dict[tuple[str, float], dict] = {}
    for minutes in args.minutes:
        video = _long_video(minutes, args.fps)
        for engine in args.engines:  # paired: the engines take turns on each video
            model, runtime = ENGINES[engine]
            f = rows[engine, minutes] = _run(models[model], video, runtime)
            load = "/".join(f"{x:.1f}" for x in os.getloadavg())
            _log(args.log, f"{engine:>21} {minutes:>5g} m {f['windows']:>7d} {f['seconds']:>7.1f} "
                           f"{f['video_seconds'] / f['seconds']:>6.2f} {f['peak_mib']:>12.0f} {load:>14}  "
                           f"{','.join(f['imported']) or '-'}")
    _log(args.log, _summary(rows, args.engines, args.minutes))


def _summary(rows: dict[tuple[str, float], dict], engines: list[str], minutes: list[float]) -> str:
    """One line: peak memory against its targets, real-time factors, and how far the engines' labels differ."""
    longest = max(minutes)
    parts = []
    for engine in engines:
        peaks = [rows[engine, m]["peak_mib"] for m in minutes]
        rtf = np.mean([rows[engine, m]["video_seconds"] / rows[engine, m]["seconds"] for m in minutes])
        growth = peaks[-1] / peaks[0] - 1
        target = f"; <= 1024: {'met' if max(peaks) <= 1024 else 'MISSED'}" if engine.startswith("onnx") else ""
        parts.append(f"{engine} peak {max(peaks):.0f} MiB ({growth:+.1%} {minutes[0]:g}->{minutes[-1]:g} min{target}), "
                     f"RTF {rtf:.2f}")
    if "torch" in engines:
        reference = np.asarray(rows["torch", longest]["probabilities"])
        for engine in engines[1:] if engines[0] == "torch" else engines:
            if engine != "torch":
                got = np.asarray(rows[engine, longest]["probabilities"])
                parts.append(f"max |{engine} - torch| probability {np.abs(got - reference).max():.1e}")
    return "predict: " + "; ".join(parts)


def _log(path: Path, text: str) -> None:
    print(text, flush=True)
    with open(path, "a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
