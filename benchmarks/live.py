"""Live timeline benchmark: a piped source gives the file's windows at any pace, and a signal
stops a live run quickly with its outputs written (issue 15, items 1 and 2).

Each case runs ``vidclass timeline MODEL SOURCE --json`` in a fresh process:

  file           the clip read from disk: the reference windows
  pipe full      the clip piped as fast as it can be read (``cat clip.ts |``)
  pipe 1.0x      paced at real time (a camera through ``ffmpeg ... -f mpegts -``)
  pipe 0.5x      paced at half speed: a source slower than real time

Columns: windows, how many equal the file's (start within 1 us, probabilities within 1e-4),
sampled frames skipped, and the real-time factor (video seconds labelled per wall second).
Then the stop: a real-time pipe that never ends (the writer holds it open) gets SIGINT once
two windows are in the incremental CSV; reported are the seconds from the signal to the
exit, the exit code and whether the CSV and the annotated MP4 are complete.

Targets: every pipe case gives exactly the file's windows with 0 frames skipped; the stop
takes at most 2 s and leaves every output. The model is trained once (``--backbone``,
default the offline default backbone) on the synthetic task; files live in ``.bench/live``.

    python benchmarks/live.py
    python benchmarks/live.py --backbone timm:mobilenetv3_small_050 --seconds 6   # quick
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench" / "live"
FPS = 12


def _model(backbone: str) -> Path:
    """Train (once per backbone) a small model on the synthetic approaching/receding task."""
    from vidclass.api import VideoClassifier
    from vidclass.synthetic import SyntheticSpec, make_direction_dataset

    model_dir = WORK / f"model-{backbone.replace(':', '_')}"
    if not (model_dir / "config.json").is_file():
        data = make_direction_dataset(WORK / "data", SyntheticSpec(clips_per_class=6, seconds=2.0, fps=FPS, size=112))
        VideoClassifier(backbone=backbone, frames=4, head="mean", inputs="appearance", epochs=3, val=0.25, test=0.0,
                        cache_dir=WORK / "cache").fit(data).save(model_dir)
    return model_dir


def _clip(seconds: float) -> Path:
    """A streamable MPEG-TS synthetic timeline (approaching, then receding), keyframe every second."""
    import av

    from vidclass import video
    from vidclass.synthetic import make_direction_timeline

    path = WORK / f"timeline-{seconds:g}s.ts"
    if path.is_file():
        return path
    mp4 = make_direction_timeline(WORK / f"timeline-{seconds:g}s.mp4",
                                  [("approaching", seconds / 2), ("receding", seconds / 2)], fps=FPS, size=112)
    with av.open(str(path), mode="w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width = stream.height = 112
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0"}
        for _, _, rgb in video.iter_frames(mp4):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


def _feed(sink, data: bytes, seconds: float, hold: threading.Event | None) -> threading.Thread:
    """Write ``data`` to ``sink`` evenly over ``seconds`` (0: at once); then hold it open until ``hold``."""

    def run() -> None:
        chunks = 50
        step = -(-len(data) // chunks)
        started = time.monotonic()
        try:
            for i in range(chunks):
                sink.write(data[i * step : (i + 1) * step])
                sink.flush()
                time.sleep(max(0.0, started + (i + 1) * seconds / chunks - time.monotonic()))
            if hold is not None:
                hold.wait(300)
        except OSError:
            pass
        finally:
            try:
                sink.close()
            except OSError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _timeline(model: Path, source: str, *options: str, stdin=None) -> subprocess.Popen:
    args = [sys.executable, "-m", "vidclass", "timeline", str(model), source, "--json", *options]
    return subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _piped(model: Path, *options: str) -> tuple[subprocess.Popen, object]:
    """A timeline reading standard input from a pipe, and the pipe's writing end (``communicate``
    would close a ``stdin=PIPE`` at once; this one stays with the feeder)."""
    read_end, write_end = os.pipe()
    process = _timeline(model, "-", *options, stdin=read_end)
    os.close(read_end)
    return process, os.fdopen(write_end, "wb")


def _run(model: Path, clip: Path, seconds: float, pace: float | None) -> dict:
    """One timeline: from the file (``pace`` None) or piped at ``pace`` x real time (0: at once)."""
    if pace is None:
        process = _timeline(model, str(clip))
    else:
        process, sink = _piped(model)
        _feed(sink, clip.read_bytes(), seconds / pace if pace else 0.0, None)
    out, err = process.communicate(timeout=900)
    if process.returncode != 0:
        raise SystemExit(f"timeline failed: {err.decode()}")
    return json.loads(out)


def _same(a: dict, b: dict) -> int:
    """How many windows of ``b`` equal the file's ``a`` (start within 1 us, probabilities within 1e-4)."""
    return sum(
        abs(x["start"] - y["start"]) < 1e-6 and all(abs(p - q) < 1e-4 for p, q in zip(x["raw"], y["raw"]))
        for x, y in zip(a["windows"], b["windows"])
    )


def _rows(path: Path) -> int:
    try:
        with open(path, newline="") as f:
            return len(list(csv.DictReader(f)))
    except FileNotFoundError:
        return 0


def _stop(model: Path, clip: Path, seconds: float) -> dict:
    """SIGINT into a real-time pipe that never ends: seconds to exit, exit code, outputs complete."""
    from vidclass import video

    csv_path, mp4 = WORK / "stopped.csv", WORK / "stopped.mp4"
    for path in (csv_path, mp4):
        path.unlink(missing_ok=True)
    process, sink = _piped(model, "--csv", str(csv_path), "--out", str(mp4))
    hold = threading.Event()
    _feed(sink, clip.read_bytes(), seconds, hold)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and _rows(csv_path) < 2 and process.poll() is None:
        time.sleep(0.05)
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    took = time.monotonic() - signalled
    hold.set()
    windows = len(json.loads(out)["windows"]) if out.strip() else 0
    try:
        frames = video.probe(mp4).num_frames
    except Exception:  # noqa: BLE001 - any failure means the video is not playable
        frames = 0
    return {"seconds": took, "code": process.returncode, "windows": windows,
            "csv_complete": windows > 0 and _rows(csv_path) == windows, "mp4_frames": frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the clip")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("COLUMNS", "200")
    model, clip = _model(args.backbone), _clip(args.seconds)

    reference = _run(model, clip, args.seconds, None)
    header = f"{'case':<12} {'windows':>8} {'same':>6} {'skipped':>8} {'x real time':>12}"
    print(header)
    print("-" * len(header))
    exact = True
    for name, pace in (("file", None), ("pipe full", 0.0), ("pipe 1.0x", 1.0), ("pipe 0.5x", 0.5)):
        result = reference if pace is None else _run(model, clip, args.seconds, pace)
        same = _same(reference, result)
        exact &= same == len(reference["windows"]) == len(result["windows"]) and result["skipped_frames"] == 0
        print(f"{name:<12} {len(result['windows']):>8} {same:>6} {result['skipped_frames']:>8} "
              f"{result['run']['realtime_factor']:>12.2f}")
    stop = _stop(model, clip, args.seconds)
    print(f"\nSIGINT on a live pipe: exit {stop['code']} after {stop['seconds']:.2f} s; {stop['windows']} windows; "
          f"CSV complete: {stop['csv_complete']}; annotated MP4: {stop['mp4_frames']} frames")
    stopped_well = stop["code"] == 130 and stop["csv_complete"] and stop["mp4_frames"] > 0
    print(f"summary: piped windows equal the file's at every pace: {'yes' if exact else 'NO'}; "
          f"stop after SIGINT {stop['seconds']:.2f} s (target <= 2 s: {'met' if stop['seconds'] <= 2 else 'missed'}), "
          f"outputs {'intact' if stopped_well else 'MISSING'}")


if __name__ == "__main__":
    main()
