"""Serve benchmark: the latency of one /v1/predict against the same prediction in-process,
and the load test (50 uploads of a real clip from 8 concurrent clients) on this CPU.

The model is trained once on the synthetic approaching/receding task with the default
backbone and head (``--model DIR`` serves another bundle); the clip is the first 2 s of
``shared/data/clips/test.mp4`` (340x256, 30 fps). Everything is kept under ``.bench/serve``.

- in-process: ``VideoClassifier.predict_many([clip])`` with the model loaded, what
  ``vidclass predict`` does after start-up; a fresh feature cache per call, as the server
  uses one per request, so no call reads another's features. Taken in turn with the
  single ``POST /v1/predict`` calls, so both see the same machine load.
- ``vidclass predict``: the same from a new process (start-up and model loading included).
- ``POST /v1/predict``: one upload at a time to ``vidclass serve`` on 127.0.0.1.
- load: ``--uploads`` uploads from ``--clients`` threads; a 503 (queue full) is retried
  after its Retry-After. p50 / p95 are of the 200 answers, and of each upload's wait from its
  first try to its 200 (retries included); peak RSS is the server's.

    python benchmarks/serve.py
    python benchmarks/serve.py --workers 2 --queue 4 --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "serve"
SOURCE = ROOT.parent / "shared" / "data" / "clips" / "test.mp4"


def _model() -> Path:
    """Train (once) the benchmark model on synthetic data with the default backbone and head."""
    from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
    from vidclass.estimator.classifier import VideoClassifier

    model_dir = WORK / "model"
    if not (model_dir / "config.json").is_file():
        data = make_direction_dataset(WORK / "data", SyntheticSpec(clips_per_class=12, seconds=2.0, fps=12, size=112))
        VideoClassifier(frames=8, cache_dir=WORK / "cache", val=0.2, test=0.2).fit(data).save(model_dir)
    return model_dir


def _clip(seconds: float) -> Path:
    """The first ``seconds`` of the real test clip, re-encoded as H.264 mp4."""
    from vidclass.media import video
    from vidclass.media.render import AnnotatedVideoWriter

    path = WORK / f"clip_{seconds:g}s.mp4"
    if not path.is_file():
        fps = video.probe(SOURCE).fps
        with AnnotatedVideoWriter(path, fps) as writer:
            for _, time_, frame in video.iter_frames(SOURCE):
                if time_ >= seconds:
                    break
                writer.write(frame)
    return path


def _single_predictions(model_dir: Path, clip: Path, url: str, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of ``predict_many`` in-process and of ``POST /v1/predict``, taken in turn (after one warm-up
    of each) so that a change in the machine's load touches both alike."""
    from vidclass.estimator.classifier import VideoClassifier

    model = VideoClassifier.load(model_dir, workers=0)
    data = clip.read_bytes()
    local, served = [], []
    with httpx.Client(timeout=120) as client:
        for _ in range(repeats + 1):
            with tempfile.TemporaryDirectory() as cache:
                model.cache_dir = cache
                started = time.perf_counter()
                model.predict_many([clip])
                local.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.post(f"{url}/v1/predict", files={"file": (clip.name, data, "video/mp4")}).raise_for_status()
            served.append(time.perf_counter() - started)
    return local[1:], served[1:]


def _cli(model_dir: Path, clip: Path) -> float:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vidclass", "predict", str(model_dir), str(clip), "--json",
                        "--cache", cache, "--workers", "0"], check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model bundle to serve (default: train the benchmark model)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the clip cut from test.mp4")
    parser.add_argument("--repeats", type=int, default=5, help="timed single predictions of each kind")
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="vidclass serve --workers")
    parser.add_argument("--queue", type=int, default=8, help="vidclass serve --queue")
    args = parser.parse_args()

    from vidclass.serve.loadtest import load_test, running_server

    WORK.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or _model()
    clip = _clip(args.seconds)
    cold = _cli(model_dir, clip)
    with running_server(model_dir, "--workers", str(args.workers), "--queue", str(args.queue),
                        log=WORK / "server.log") as (url, process):
        local, served = _single_predictions(model_dir, clip, url, args.repeats)
        report = load_test(url, clip, uploads=args.uploads, clients=args.clients, server_pid=process.pid)

    median = statistics.median
    rows = [
        ("predict_many in-process", len(local), f"{median(local):.3f}", f"{max(local):.3f}", "model loaded"),
        ("vidclass predict (new process)", 1, f"{cold:.3f}", f"{cold:.3f}", "start-up + model load included"),
        ("POST /v1/predict, one at a time", len(served), f"{median(served):.3f}", f"{max(served):.3f}",
         f"HTTP + upload + probe: +{median(served) - median(local):.3f} s"),
        (f"load: {args.uploads} uploads / {args.clients} clients", len(report.latencies),
         f"{report.percentile(50):.3f}", f"{report.percentile(95):.3f}",
         f"{report.statuses.get(503, 0)} x 503 retried, {report.seconds:.1f} s wall, "
         f"{args.uploads / report.seconds:.2f} uploads/s, server peak RSS {report.peak_rss_mb:.0f} MB"),
        ("load: first try to 200, per upload", len(report.turnarounds),
         f"{report.percentile(50, turnaround=True):.3f}", f"{report.percentile(95, turnaround=True):.3f}",
         "what a client waits, 503 retries included"),
    ]
    print(f"model {model_dir}, clip {clip.name} ({args.seconds:g} s of {SOURCE.name}), "
          f"serve --workers {args.workers} --queue {args.queue}")
    header = ("what", "n", "p50 / median s", "p95 / max s", "notes")
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    answered = report.answered == args.uploads and all(status == 200 for status in report.outcomes)
    print(
        f"serve: /v1/predict of a {args.seconds:g} s clip {median(served):.3f} s vs {median(local):.3f} s in-process; "
        f"{args.uploads} uploads from {args.clients} clients {'all answered 200' if answered else 'NOT all answered'} "
        f"({report.statuses.get(503, 0)} x 503 retried), p50 {report.percentile(50):.3f} s, "
        f"p95 {report.percentile(95):.3f} s, server peak RSS {report.peak_rss_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
