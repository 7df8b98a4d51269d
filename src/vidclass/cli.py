"""The ``vidclass`` command line: parses options, calls the Python API, prints.

No logic lives here. Every ``VidclassError`` becomes one clean line on stderr and exit
code 1; ``--verbose`` shows the traceback too.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from vidclass.errors import VidclassError

console = Console()


class _CleanErrors(TyperGroup):
    """Turns a VidclassError raised by any command into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VidclassError as error:
            if (ctx.obj or {}).get("verbose"):
                click.echo(traceback.format_exc(), err=True)
            click.echo(f"vidclass: error: {error}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_CleanErrors,
    help="Video classification: catalog labeled videos, train, evaluate, label new videos.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks of errors.")] = False,
) -> None:
    ctx.obj = {"verbose": verbose}


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _print_dataset_summary(summary: dict[str, Any]) -> None:
    """A table of clips per class and split, then groups, duration and unreadable files."""
    splits = [name for name in ("train", "val", "test") if name in summary["clips_per_split"]]
    table = Table(title=f"{summary['root']}  ({summary['format']})")
    table.add_column("class")
    for name in splits:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    for label in summary["labels"]:
        counts = summary["clips_per_class_and_split"][label]
        table.add_row(label, *(str(counts.get(name, 0)) for name in splits), str(summary["clips_per_class"][label]))
    table.add_row(
        "all", *(str(summary["clips_per_split"][name]) for name in splits), str(summary["clips"]), style="bold"
    )
    console.print(table)
    groups = summary.get("groups_per_split") or {}
    console.print(
        f"{summary['clips']} clips, {len(summary['labels'])} classes, {summary['groups']} groups"
        + (f" ({', '.join(f'{k} {v}' for k, v in groups.items())})" if groups else "")
        + f", {summary['total_duration_s'] / 60:.1f} min of video"
    )
    console.print(f"split: {summary['split_method']}")
    unreadable = summary["unreadable"]
    console.print(f"{len(unreadable)} unreadable files" + (":" if unreadable else ""))
    for entry in unreadable:
        console.print(f"  {entry['path']}: {entry['reason']}", markup=False, highlight=False)


@app.command()
def data(
    root: Annotated[Path, typer.Argument(help="Dataset folder, CSV file, or UCF101 / MMAction2 list file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    format: Annotated[
        str, typer.Option(help="auto, folders, split_folders, csv, ucf101 or mmaction.")
    ] = "auto",
    path_column: Annotated[Optional[str], typer.Option(help="CSV column holding the video path.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column holding the label.")] = None,
    group_column: Annotated[Optional[str], typer.Option(help="CSV column holding the group.")] = None,
    group_regex: Annotated[
        Optional[str], typer.Option(help=r"Regex over file names whose first group is the group, e.g. '_g(\d+)_'.")
    ] = None,
    val: Annotated[float, typer.Option(help="Fraction of clips for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction of clips for test.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
) -> None:
    """Find the labeled videos in ROOT, split them honestly and summarise them."""
    from vidclass import catalog

    found = _catalog_options(root, format, path_column, label_column, group_column, group_regex)
    splits = catalog.split_catalog(found, val=val, test=test, seed=seed)
    summary = catalog.describe(found, splits).to_dict()
    if as_json:
        _print_json(summary)
    else:
        _print_dataset_summary(summary)


def _catalog_options(
    root: Path, format: str, path_column: str | None, label_column: str | None, group_column: str | None,
    group_regex: str | None,
):
    from vidclass import catalog

    columns = {
        key: value
        for key, value in (("path", path_column), ("label", label_column), ("group", group_column))
        if value is not None
    }
    return catalog.load_catalog(root, format=format, columns=columns or None, group_regex=group_regex)


@app.command()
def backbones() -> None:
    """List the frame encoders: feature size, input size, weights and whether they are on disk now."""
    from vidclass import backbones as registry

    table = Table(title="backbones (any timm model also works as timm:<name>)")
    for column in ("name", "D", "input", "weights", "offline now", "licence"):
        table.add_column(column)
    for name in registry.list_backbones():
        spec = registry.get_backbone_spec(name)
        offline = "yes" if registry.weights_available_offline(name) else "no"
        p = spec.preprocess
        table.add_row(name, str(spec.dim), f"{p.resize}->{p.crop} {p.interpolation}", spec.weights_source, offline,
                      spec.license)
    console.print(table)


PretrainedOpt = Annotated[
    str, typer.Option(help="imagenet: the backbone's standard pretrained weights; none: random init.")
]
WeightsOpt = Annotated[Optional[Path], typer.Option(help="Local weights file (.safetensors/.pth) for the backbone.")]
CacheOpt = Annotated[Optional[Path], typer.Option(help="Feature cache folder (default: the user cache folder).")]
FramesOpt = Annotated[int, typer.Option(help="Frames per view; the cache holds twice as many per video.")]
InputsOpt = Annotated[
    str,
    typer.Option(
        help="appearance, appearance+motion (feature changes), appearance+rgbdiff (CNN on pixel differences) "
        "or appearance+motion+rgbdiff."
    ),
]


def _pretrained(value: str) -> bool:
    from vidclass.errors import ConfigError

    if value not in ("imagenet", "none"):
        raise ConfigError(f"--pretrained must be imagenet or none, got {value!r}")
    return value == "imagenet"


@app.command()
def extract(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    backbone: Annotated[str, typer.Option(help="Backbone name (see `vidclass backbones`).")] = "efficientnet_lite0",
    frames: FramesOpt = 16,
    cache: CacheOpt = None,
    pretrained: PretrainedOpt = "imagenet",
    weights: WeightsOpt = None,
    batch_size: Annotated[int, typer.Option(help="Frames per CNN batch (batches span videos).")] = 32,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
    format: Annotated[str, typer.Option(help="Dataset format, as for `vidclass data`.")] = "auto",
    inputs: InputsOpt = "appearance+motion",
) -> None:
    """Compute and cache frame features of every video; a rerun computes only what is missing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vidclass.backbones import create_backbone
    from vidclass.features import FeatureCache, extract_features
    from vidclass.views import ViewSpec

    found = _catalog_options(dataset, format, None, None, None, None)
    view = ViewSpec(frames=frames, grid=2 * frames, inputs=inputs)
    encoder = create_backbone(backbone, pretrained=_pretrained(pretrained), weights=weights)
    store = FeatureCache(cache)
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("extracting", total=len(found.items), rate="")
        started = time.perf_counter()

        def advance(path: str, status: str) -> None:
            bar.advance(task)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / max(time.perf_counter() - started, 1e-9):.2f} clips/s")

        report = extract_features(
            [item.path for item in found.items], encoder, view.grid, cache=store, batch_size=batch_size,
            workers=workers, rgbdiff=view.rgbdiff, on_video=advance,
        )
    console.print(
        f"{report.total} videos: {report.computed} computed ({report.frames_per_second:.1f} frames/s), "
        f"{report.cached} from cache, {len(report.failed)} failed; cache: {store.root}"
    )
    for path, reason in report.failed.items():
        console.print(f"  skipped {reason}", markup=False, highlight=False)


@app.command()
def train(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: config, metrics, curves, model/, evaluation/.")],
    backbone: Annotated[str, typer.Option(help="Backbone name (see `vidclass backbones`).")] = "efficientnet_lite0",
    head: Annotated[str, typer.Option(help="lstm, bilstm, gru, attention, transformer or mean.")] = "attention",
    head_option: Annotated[
        Optional[list[str]], typer.Option(help="Head option NAME=VALUE (JSON value), repeatable.")
    ] = None,
    frames: FramesOpt = 16,
    inputs: InputsOpt = "appearance+motion",
    epochs: Annotated[int, typer.Option(help="Most epochs; early stopping usually ends sooner.")] = 60,
    batch_size: Annotated[int, typer.Option(help="Videos per training batch.")] = 16,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.05,
    patience: Annotated[int, typer.Option(help="Epochs without a better validation loss before stopping.")] = 10,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing of the training loss.")] = 0.0,
    class_weights: Annotated[bool, typer.Option(help="Weight the loss by inverse class frequency.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the split, the views and the weights.")] = 0,
    val: Annotated[float, typer.Option(help="Fraction of clips for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction of clips held back for the final test.")] = 0.15,
    cache: CacheOpt = None,
    pretrained: PretrainedOpt = "imagenet",
    weights: WeightsOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
) -> None:
    """Train a classifier on DATASET and evaluate it on the held-back test split."""
    from vidclass.api import VideoClassifier
    from vidclass.metrics import format_evaluation

    model = VideoClassifier(
        backbone=backbone, head=head, frames=frames, inputs=inputs, head_options=_head_options(head_option or []),
        pretrained=_pretrained(pretrained), weights=weights, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, patience=patience, label_smoothing=label_smoothing, class_weights=class_weights,
        seed=seed, val=val, test=test, cache_dir=cache, workers=workers, progress=True,
    )
    model.fit(dataset, out_dir=out)
    training = model.training_
    console.print(
        f"trained {head} on {training['videos']['train']} videos ({training['split']}); "
        f"best epoch {training['best_epoch']} of {training['epochs_run']}"
    )
    for path, reason in training["unreadable"].items():
        console.print(f"  skipped {reason}", markup=False, highlight=False)
    if model.evaluation_ is not None:
        console.print(format_evaluation(model.evaluation_), markup=False, highlight=False)
    console.print(f"model: {out / 'model'}\nrun folder: {out}")


def _head_options(pairs: list[str]) -> dict[str, Any]:
    from vidclass.errors import ConfigError

    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--head-option must look like NAME=VALUE, got {pair!r}")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
    return options


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Also print the metrics JSON on stdout.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Folder for metrics.json, confusion PNG, predictions CSV.")] = None,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
) -> None:
    """Evaluate MODEL on the videos of DATASET it never saw in training."""
    from vidclass.api import VideoClassifier
    from vidclass.metrics import format_evaluation

    model = VideoClassifier.load(model_dir, cache_dir=cache, workers=workers)
    out = out or model_dir.parent / "evaluation" / dataset.name
    evaluation = model.evaluate(dataset, out_dir=out)
    if as_json:
        _print_json(evaluation.to_dict())
    else:
        console.print(format_evaluation(evaluation), markup=False, highlight=False)
        console.print(f"files: {out}")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO...", help="Videos to label.")],
    top_k: Annotated[int, typer.Option(help="How many classes to show per video.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
) -> None:
    """Label whole videos: class probabilities sorted high to low. Bad files get their own error line."""
    from vidclass.api import VideoClassifier
    from vidclass.predict import ranked

    model = VideoClassifier.load(model_dir, cache_dir=cache, workers=workers)
    probabilities, failed = model.predict_many(videos)
    readable = iter(probabilities)
    results = []
    for path in videos:
        if str(path) in failed:
            results.append({"path": str(path), "error": failed[str(path)]})
        else:
            top = ranked(next(readable), model.labels_, top_k)
            results.append({"path": str(path), "label": top[0][0], "top": [{"label": l, "probability": p} for l, p in top]})
    if as_json:
        _print_json(results)
    else:
        for result in results:
            if "error" in result:
                click.echo(f"vidclass: error: {result['error']}", err=True)
                continue
            ranking = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in result["top"])
            console.print(f"{result['path']}: {ranking}", markup=False, highlight=False)
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
    stride: Annotated[str, typer.Option(help="Step between windows, e.g. 0.5s.")] = "0.5s",
    smooth: Annotated[int, typer.Option(help="Rolling average over the last K windows (1: none).")] = 1,
    out: Annotated[Optional[Path], typer.Option(help="Write the annotated video here (.mp4).")] = None,
    gif: Annotated[Optional[Path], typer.Option(help="Write an annotated GIF here.")] = None,
    gif_range: Annotated[Optional[str], typer.Option(help="Seconds START:END of the GIF, e.g. 0:5.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print windows and segments as JSON on stdout.")] = False,
    csv: Annotated[Optional[Path], typer.Option(help="Write per-window probabilities as CSV here.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG of probabilities over time here.")] = None,
    top_k: Annotated[int, typer.Option(help="Classes drawn on the annotated frames.")] = 3,
) -> None:
    """Label a long video (or a live source) window by window, with optional smoothing and annotated output."""
    from vidclass.api import VideoClassifier
    from vidclass.errors import ConfigError
    from vidclass.predict import TimelineSettings, parse_seconds, run_timeline
    from vidclass.timeline import plot_timeline

    if (video_path is None) == (camera is None):
        raise ConfigError("give either VIDEO or --camera N")
    source = str(camera) if camera is not None else video_path
    settings = TimelineSettings(
        window=parse_seconds(window, "--window") if window else None,
        stride=parse_seconds(stride, "--stride"),
        smooth=smooth,
    )
    model = VideoClassifier.load(model_dir)
    with _annotation(model, source, out, gif, gif_range, top_k) as annotate:
        result = run_timeline(model, source, settings, annotate=annotate)
    if csv:
        result.write_csv(csv)
    if plot:
        plot_timeline(result, plot)
    if as_json:
        _print_json(result.to_dict())
        return
    table = Table(title=f"{source}: {len(result.starts)} windows, smoothing over {smooth}")
    for column in ("start", "end", "label", "mean p"):
        table.add_column(column)
    for segment in result.segments:
        table.add_row(f"{segment.start:.2f}", f"{segment.end:.2f}", segment.label, f"{segment.mean_probability:.3f}")
    console.print(table)
    if result.skipped_frames:
        console.print(f"skipped {result.skipped_frames} sampled frames to keep up with the live source")
    for name, path in (("annotated video", out), ("GIF", gif), ("CSV", csv), ("plot", plot)):
        if path:
            console.print(f"{name}: {path}")


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


@contextlib.contextmanager
def _annotation(model, source: str, out: Path | None, gif: Path | None, gif_range: str | None, top_k: int):
    """The frame callback that draws labels and writes the annotated video / GIF, or None."""
    if out is None and gif is None:
        yield None
        return
    from vidclass import video
    from vidclass.predict import ranked
    from vidclass.render import AnnotatedVideoWriter, GifWriter, draw_label

    fps = 30.0 if video.is_live_source(source) else video.probe(source).fps
    span = _seconds_range(gif_range) if gif_range else None
    with contextlib.ExitStack() as stack:
        writers = []
        if out is not None:
            writers.append(stack.enter_context(AnnotatedVideoWriter(out, fps)))
        if gif is not None:
            writers.append(stack.enter_context(GifWriter(gif, fps, time_range=span)))

        def annotate(frame, time, probabilities) -> None:
            if probabilities is not None:
                top = ranked(probabilities, model.labels_, top_k)
                frame = draw_label(frame, top[0][0], top)
            for writer in writers:
                writer.write(frame)

        yield annotate


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo dataset and outputs.")] = Path("vidclass-demo"),
) -> None:
    """Synthetic data -> train -> evaluate -> timeline of a longer video with annotated output. No network."""
    from vidclass.demo import run_demo

    result = run_demo(out, log=lambda line: console.print(line, markup=False, highlight=False))
    console.print(f"\ndemo finished in {result.seconds:.0f} s; everything is in {out}/:")
    for name, path in result.files.items():
        console.print(f"  {name:<18} {path}", markup=False, highlight=False)
