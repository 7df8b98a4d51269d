"""Commands that use a trained model: ``predict``, ``timeline`` (long videos and live sources), ``export``,
``serve`` and ``demo``."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer

from vidclass.cli.app import app, console, print_json, print_table
from vidclass.cli.options import CacheOpt, KeypointsOpt, RuntimeOpt
from vidclass.errors import VidclassError


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO...", help="Videos to label.")],
    top_k: Annotated[int, typer.Option(help="How many classes to show per video.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding threads running beside the CNN (pose estimation: processes).")] = 1,
    keypoints: KeypointsOpt = None,
    runtime: RuntimeOpt = "auto",
) -> None:
    """Label whole videos: class probabilities sorted high to low (a regression model: the value). Bad files get
    their own error line."""
    from vidclass.estimator.factory import load_model
    from vidclass.use.records import prediction_records

    _check_top_k(top_k)
    model = load_model(model_dir, cache_dir=cache, workers=workers, runtime=runtime)
    if keypoints is not None:
        model.set_params(keypoints=keypoints)  # a pose model reads these instead of estimating
    results, failed = prediction_records(model, videos, top_k)
    if as_json:
        print_json(results)
    else:
        for result in results:
            if "error" in result:
                click.echo(f"vidclass: error: {result['error']}", err=True)
                continue
            console.print(model.task.line(result), markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def timeline(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    video_path: Annotated[
        Optional[str], typer.Argument(metavar="VIDEO", help="A video file, an RTSP/HTTP URL, or - for standard input.")
    ] = None,
    camera: Annotated[Optional[int], typer.Option(help="Read camera N (/dev/videoN) instead of VIDEO.")] = None,
    window: Annotated[Optional[str], typer.Option(help="Window length, e.g. 2s (default: the model's clip length).")] = None,
    stride: Annotated[
        Optional[str], typer.Option(help="Step between windows, e.g. 0.5s (default 0.5s; a frame model: every frame).")
    ] = None,
    smooth: Annotated[int, typer.Option(help="Rolling average over the last K windows (1: none).")] = 1,
    out: Annotated[Optional[Path], typer.Option(help="Write the annotated video here (.mp4).")] = None,
    gif: Annotated[Optional[Path], typer.Option(help="Write an annotated GIF here.")] = None,
    gif_range: Annotated[Optional[str], typer.Option(help="Seconds START:END of the GIF, e.g. 0:5.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print windows and segments as JSON on stdout.")] = False,
    csv: Annotated[Optional[Path], typer.Option(help="Write per-window probabilities as CSV here.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG of probabilities over time here.")] = None,
    top_k: Annotated[int, typer.Option(help="Classes drawn on the annotated frames.")] = 3,
    draw_pose: Annotated[
        bool, typer.Option("--draw-pose", help="Draw the skeletons of the frames the model samples (needs the pose extra).")
    ] = False,
    runtime: RuntimeOpt = "auto",
) -> None:
    """Label a long video (or a live source) window by window, with optional smoothing and annotated output
    (a regression model: its value per window)."""
    from vidclass.errors import ConfigError
    from vidclass.estimator.factory import load_model
    from vidclass.use.predict import TimelineSettings, parse_seconds, run_timeline
    from vidclass.use.timeline import plot_timeline
    from vidclass.util.signals import stop_on_signals

    if (video_path is None) == (camera is None):
        raise ConfigError("give either VIDEO or --camera N")
    _check_top_k(top_k)
    _check_output_files(out=out, gif=gif, csv=csv, plot=plot)
    if draw_pose and out is None and gif is None:
        raise ConfigError("--draw-pose draws on the annotated video: give --out and / or --gif")
    source = str(camera) if camera is not None else video_path
    settings = TimelineSettings(
        window=parse_seconds(window, "--window") if window else None,
        stride=parse_seconds(stride, "--stride") if stride else None,
        smooth=smooth,
    )
    model = load_model(model_dir, runtime=runtime)
    with stop_on_signals() as interrupted:  # Ctrl-C / SIGTERM: finish the batch, then write every output
        started = time.perf_counter()
        with _annotation(model, source, out, gif, gif_range, top_k, draw_pose) as annotate, _csv_log(csv, model) as log:
            result = run_timeline(model, source, settings, annotate=annotate, stop=interrupted.event,
                                  on_window=log.window if log is not None else None)
        run = _timeline_run(result, time.perf_counter() - started, interrupted)
        if csv:
            result.write_csv(csv)
        if plot:
            plot_timeline(result, plot)
        if as_json:
            print_json({**result.to_dict(), "run": run})
        else:
            headers, rows = result.table()
            print_table(f"{source}: {len(result.starts)} windows, smoothing over {smooth}", headers, rows, right=1)
            for name, path in (("annotated video", out), ("GIF", gif), ("CSV", csv), ("plot", plot)):
                if path:
                    print(f"{name}: {path}")
    click.echo(
        f"{run['video_seconds']:.1f} s of video in {run['wall_seconds']:.1f} s "
        f"({run['realtime_factor']:.2f}x real time); {result.skipped_frames} sampled frames skipped to keep up"
        + (f"; stopped by {run['stopped_by']}, outputs written" if run["stopped_by"] else ""),
        err=True,
    )
    if interrupted.signal is not None:
        raise typer.Exit(interrupted.exit_code)


@contextlib.contextmanager
def _csv_log(path: Path | None, model):
    """The ``--csv`` written row by row as windows complete (replaced by the final file at the end)."""
    if path is None:
        yield None
        return
    from vidclass.use.timeline_log import TimelineCsvLog

    with TimelineCsvLog(path, list(model.labels_)) as log:
        yield log


def _timeline_run(result, wall_seconds: float, interrupted) -> dict[str, Any]:
    """How the run went: seconds of video labeled, wall seconds, their ratio, the signal that stopped it."""
    video_seconds = float(max(result.ends, default=0.0))
    return {
        "video_seconds": round(video_seconds, 3),
        "wall_seconds": round(wall_seconds, 3),
        "realtime_factor": round(video_seconds / wall_seconds, 3) if wall_seconds > 0 else 0.0,
        "skipped_frames": result.skipped_frames,
        "stopped_by": interrupted.signal.name if interrupted.signal is not None else None,
    }


def _check_top_k(top_k: int) -> None:
    from vidclass.errors import ConfigError

    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1 (the number of classes shown), got {top_k}")


def _check_output_files(**paths: Path | None) -> None:
    """Refuse, before any work, an output file that names a folder or whose folder does not exist
    (rather than creating folders nobody asked for). Keys are option names: ``gif`` -> ``--gif``."""
    from vidclass.errors import ConfigError

    for key, path in paths.items():
        if path is None:
            continue
        option = "--" + key.replace("_", "-")
        if path.is_dir():
            raise ConfigError(f"{option} {path}: is a folder; give a file name")
        if not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {path.parent} does not exist; create it first")


def _seconds_range(text: str) -> tuple[float, float]:
    """``START:END`` in seconds (either side may be empty) -> (start, end)."""
    from vidclass.errors import ConfigError

    start, sep, end = text.partition(":")
    try:
        span = (float(start or 0), float(end) if end else float("inf"))
    except ValueError:
        span = None
    if not sep or span is None or span[0] < 0 or span[1] < span[0]:
        raise ConfigError(f"--gif-range must look like START:END in seconds, e.g. 0:5, got {text!r}")
    return span


def _annotation(
    model, source: str, out: Path | None, gif: Path | None, gif_range: str | None, top_k: int, draw_pose: bool = False
):
    """The frame callback that draws labels (and skeletons) and writes the annotated video / GIF, or None."""
    from vidclass.use.annotation import annotation

    span = _seconds_range(gif_range) if gif_range else None
    pose = None
    if draw_pose:  # the model's pose settings and sampling rate, so the skeletons are the ones it used
        from vidclass.inputs.pose import PoseSpec
        from vidclass.inputs.pose.overlay import PoseOverlay

        pose = PoseOverlay(PoseSpec(people=model.view_.people), model.stream().rate)
    return annotation(model.labels_, source, out=out, gif=gif, gif_range=span, top_k=top_k, pose=pose,
                      values=model.task.values)


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    graph_format: Annotated[
        str, typer.Option("--format", help="onnx (MODEL/onnx/) or torchscript (MODEL/torchscript/, for torch.jit.load).")
    ] = "onnx",
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    quantize: Annotated[Optional[str], typer.Option(help="int8: static int8 quantisation of the per-frame graph.")] = None,
    calibration: Annotated[
        Optional[list[Path]], typer.Option(help="--quantize int8: a video to calibrate on (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON on stdout.")] = False,
) -> None:
    """Write MODEL as ONNX graphs into MODEL/onnx/ (per-frame + per-window, checked against PyTorch);
    predict, timeline and serve then run them on ONNX Runtime on a CPU. --format torchscript writes
    the same two stages as TorchScript modules into MODEL/torchscript/."""
    from vidclass.errors import ConfigError

    if graph_format not in ("onnx", "torchscript"):
        raise ConfigError(f"--format must be onnx or torchscript, got {graph_format!r}")
    try:
        from vidclass.use.export import export_bundle
    except ImportError as error:
        raise VidclassError(f"vidclass export needs {error.name}, a dependency of vidclass missing here: "
                           f"pip install onnx onnxruntime") from None
    result = export_bundle(model_dir, graph_format=graph_format, opset=opset, quantize=quantize, calibration=calibration)
    if as_json:
        print_json(result.to_dict())
        return
    engine = "ONNX Runtime" if graph_format == "onnx" else "TorchScript"
    detail = f"opset {result.opset}{', ' + result.quantize if result.quantize else ''}" if graph_format == "onnx" else "torch.jit"
    what = "values" if "values" in result.parity else "probabilities"  # a regression model's windows give values
    print(f"{result.directory}: {', '.join(sorted(result.graphs))} graphs ({detail}); {engine} vs PyTorch: {what} "
          f"within {result.parity[what]:.1e}, features within {result.parity['features']:.1e}")


@app.command()
def serve(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 serves other machines too.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Jobs (predictions, timelines) run at once.")] = 1,
    queue: Annotated[int, typer.Option(help="Jobs that may wait for a worker; beyond them: 503 + Retry-After.")] = 8,
    allow_dir: Annotated[
        Optional[list[Path]], typer.Option(help="Folder whose videos clients may name by path (repeatable).")
    ] = None,
    api_key: Annotated[
        Optional[str], typer.Option(envvar="VIDCLASS_API_KEY", help="Key every route but /healthz requires.")
    ] = None,
    max_upload_mb: Annotated[float, typer.Option(help="Largest upload accepted, in megabytes.")] = 200.0,
    max_duration: Annotated[str, typer.Option(help="Longest video accepted, e.g. 10m or 90s.")] = "10m",
    job_ttl: Annotated[str, typer.Option(help="How long finished timeline jobs and their videos are kept.")] = "60m",
    runtime: RuntimeOpt = "auto",
) -> None:
    """Serve MODEL over HTTP: /v1/predict, /v1/timeline, /v1/model, the page at / and the docs at /docs."""
    from vidclass.use.predict import parse_seconds

    try:
        from vidclass.serve import ServeSettings
        from vidclass.serve import serve as run_server
    except ImportError as error:
        raise VidclassError(f"vidclass serve needs its extra ({error.name} is missing): pip install 'vidclass[serve]'") from None
    settings = ServeSettings(
        host=host, port=port, workers=workers, queue=queue, allow_dirs=tuple(allow_dir or ()), api_key=api_key,
        max_upload_mb=max_upload_mb, max_duration_s=parse_seconds(max_duration, "--max-duration"),
        job_ttl_s=parse_seconds(job_ttl, "--job-ttl"), runtime=runtime,
    )
    click.echo(f"vidclass: serving {model_dir} at http://{host}:{port}/ (API docs at /docs)", err=True)
    if settings.api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"vidclass: warning: {host} is reachable from other machines and no --api-key is set", err=True)
    run_server(model_dir, settings)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo dataset and outputs.")] = Path("vidclass-demo"),
) -> None:
    """Synthetic data -> train -> evaluate -> timeline of a longer video with annotated output. No network."""
    from vidclass.use.demo import run_demo

    result = run_demo(out, log=lambda line: console.print(line, markup=False, highlight=False))
    console.print(f"\ndemo finished in {result.seconds:.0f} s; everything is in {out}/:")
    for name, path in result.files.items():
        console.print(f"  {name:<18} {path}", markup=False, highlight=False)
