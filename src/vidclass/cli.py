"""The ``vidclass`` command line: parses options, calls the Python API, prints.

No logic lives here. Every ``VidclassError`` becomes one clean line on stderr and exit
code 1; ``--verbose`` shows the traceback too.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Optional, get_type_hints

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from vidclass.errors import VidclassError, is_disk_full

console = Console(soft_wrap=True)  # results on stdout: never hard-wrapped, so piped paths stay whole
err_console = Console(stderr=True, soft_wrap=True)  # warnings and progress: never mixed into results


class _CleanErrors(TyperGroup):
    """Turns a VidclassError raised by any command into one line and exit code 1, and draws help in rich's
    boxes on a terminal only: piped (``vidclass train --help | less``), help is plain text, like results."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        mode = "rich" if sys.stdout.isatty() else None
        commands: list[click.Command] = [self]
        while commands:
            command = commands.pop()
            command.rich_markup_mode = mode  # type: ignore[attr-defined]
            commands.extend(getattr(command, "commands", {}).values())
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:  # also any write that found no space: the run folder, outputs, checkpoints
            if not (isinstance(error, VidclassError) or is_disk_full(error)):
                raise
            if (ctx.obj or {}).get("verbose"):
                click.echo(traceback.format_exc(), err=True)
            click.echo(f"vidclass: error: {_error_line(error)}", err=True)
            raise typer.Exit(1) from None


def _error_line(error: Exception) -> str:
    """What the CLI says of an error it reports: a VidclassError's own message, else a full disk's folder."""
    if isinstance(error, VidclassError):
        return str(error)
    written = getattr(error, "filename", None)
    where = f"{Path(written).parent} (writing {Path(written).name})" if written else "an output folder"
    return (f"{where}: no space left on its device; files finished before are complete and kept: free space and "
            "rerun (train --resume continues a run from its last checkpoint)")


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


def _print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 0) -> None:
    """A table on stdout, never cutting a cell: boxed on a terminal (long cells fold), and piped,
    a ``# title`` line then tab-separated lines, so ``| grep`` and ``| cut -f1`` work.
    The last ``right`` columns are numbers, right-aligned on a terminal."""
    if not console.is_terminal:
        print(f"# {title}")
        for row in (headers, *rows):
            print("\t".join(row))
        return
    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, overflow="fold", justify="right" if i >= len(headers) - right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table, markup=False, highlight=False)


def _warn(message: str) -> None:
    click.echo(f"vidclass: warning: {message}", err=True)


# --- dataset options: defined once, taken by every command that reads a dataset ---------------


@dataclass(frozen=True)
class DatasetOptions:
    """How a dataset is read; each field is a command-line option (``--path-column`` ...)."""

    format: str = field(default="auto", metadata={"help": "auto, folders, split_folders, csv, ucf101 or mmaction."})
    path_column: Optional[str] = field(default=None, metadata={"help": "CSV column holding the video path."})
    label_column: Optional[str] = field(default=None, metadata={"help": "CSV column holding the label."})
    group_column: Optional[str] = field(default=None, metadata={"help": "CSV column holding the group."})
    group_regex: Optional[str] = field(
        default=None, metadata={"help": r"Regex over file names whose first group is the group, e.g. '_g(\d+)_'."}
    )
    video_root: Optional[Path] = field(
        default=None, metadata={"help": "Folder the paths in a CSV or list file are relative to."}
    )
    clips: Optional[str] = field(
        default=None, metadata={"help": "Cut long recordings into clips: random:N:2-4s (N per recording) or fixed:3s."}
    )
    background: Optional[str] = field(
        default=None, metadata={"help": "Segment CSV: the class of unlabeled time (default: unlabeled time is ignored)."}
    )


def _dataset_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the options of :class:`DatasetOptions`; it receives them as ``dataset_options``."""
    hints = get_type_hints(DatasetOptions)
    options = [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
            annotation=Annotated[hints[f.name], typer.Option(help=f.metadata["help"], rich_help_panel="Dataset")],
        )
        for f in fields(DatasetOptions)
    ]
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "dataset_options"]

    @functools.wraps(command)
    def with_options(**values: Any) -> Any:
        chosen = DatasetOptions(**{f.name: values.pop(f.name) for f in fields(DatasetOptions)})
        return command(**values, dataset_options=chosen)

    with_options.__signature__ = signature.replace(parameters=own + options)  # type: ignore[attr-defined]
    return with_options


def _read_dataset(root: Path, options: DatasetOptions, *, training: bool = False, report: bool = True):
    """Catalog ``root``, probe every video, warn about what looks wrong, report what was left out.

    Probing comes before any split, so splits hold only readable videos. ``training`` refuses,
    before any extraction, a dataset that cannot be trained on. ``report`` prints the warnings
    and names each left-out item on stderr (count, then the first few).
    """
    from vidclass.data import catalog

    columns = {
        key: value
        for key, value in (
            ("path", options.path_column), ("label", options.label_column), ("group", options.group_column)
        )
        if value is not None
    }
    found = catalog.load_catalog(
        root, format=options.format, columns=columns or None, group_regex=options.group_regex,
        video_root=options.video_root, background=options.background,
    )
    found = catalog.drop_unreadable(found)
    if report:
        _report_left_out({str(problem.path): problem.reason for problem in found.problems},
                         where=f"`vidclass data {root} --json` lists them all")
    if training:
        catalog.check_trainable(found)
    if report:
        for warning in catalog.dataset_warnings(found):
            _warn(warning)
    return found


LEFT_OUT_SHOWN = 10


def _report_left_out(left_out: dict[str, str], where: str | None = None) -> None:
    """Name the items a command left out on stderr: the count, then each one, or with ``where``
    (what lists them all) only the first few."""
    if not left_out:
        return
    _warn(f"{len(left_out)} item{'s' if len(left_out) != 1 else ''} left out:")
    shown = list(left_out.items())[: LEFT_OUT_SHOWN if where else None]
    for path, reason in shown:
        click.echo(f"  {path}: {reason}" if not reason.startswith(path) else f"  {reason}", err=True)
    if len(left_out) > len(shown):
        click.echo(f"  ... and {len(left_out) - len(shown)} more; {where}", err=True)


def _print_dataset_summary(summary: dict[str, Any]) -> None:
    """A table of clips per class and split, then groups, duration, warnings and left-out files."""
    splits = [name for name in ("train", "val", "test") if name in summary["clips_per_split"]]
    rows = [
        [label, *(str(summary["clips_per_class_and_split"][label].get(name, 0)) for name in splits),
         str(summary["clips_per_class"][label])]
        for label in summary["labels"]
    ]
    rows.append(["all", *(str(summary["clips_per_split"][name]) for name in splits), str(summary["clips"])])
    _print_table(f"{summary['root']}  ({summary['format']})", ["class", *splits, "total"], rows, right=len(splits) + 1)
    groups = summary.get("groups_per_split") or {}
    if summary["groups"]:
        grouping = f"{summary['groups']} groups" + (f" ({', '.join(f'{k} {v}' for k, v in groups.items())})" if groups else "")
    else:
        grouping = "no groups"
    print(
        f"{summary['clips']} clips, {len(summary['labels'])} classes, {grouping}, "
        f"{summary['total_duration_s'] / 60:.1f} min of video"
    )
    print(f"split: {summary['split_method']}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    unreadable = summary["unreadable"]
    print(f"{len(unreadable)} files left out" + (":" if unreadable else ""))
    for entry in unreadable:
        print(f"  {entry['path']}: {entry['reason']}")


@app.command()
@_dataset_options
def data(
    root: Annotated[Path, typer.Argument(help="Dataset folder, CSV file, or UCF101 / MMAction2 list file.")],
    dataset_options: DatasetOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    val: Annotated[float, typer.Option(help="Fraction of clips for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction of clips for test.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    check: Annotated[
        bool, typer.Option("--check", help="Leak finder: near-duplicate videos across train/val/test, with a PNG.")
    ] = False,
    groups: Annotated[
        Optional[str], typer.Option(help="auto: propose groups by similarity, write groups.csv, split by them.")
    ] = None,
    groups_csv: Annotated[
        Optional[Path], typer.Option(help="Where --groups auto writes the groups (default: ROOT/groups.csv).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option(help="Folder for the --check thumbnail strip (default: ./<ROOT name>-check).")
    ] = None,
    shortcuts: Annotated[
        bool, typer.Option(help="Per-class metadata and whether it alone predicts the label.")
    ] = True,
) -> None:
    """Find the labeled videos in ROOT, probe them, split the readable ones honestly and summarise them."""
    from vidclass.data.splits import split_catalog
    from vidclass.data.summary import describe
    from vidclass.errors import ConfigError

    if groups not in (None, "auto"):
        raise ConfigError(f"--groups must be auto, got {groups!r}")
    found = _read_dataset(root, dataset_options, report=False)
    if dataset_options.clips is not None or found.segmented:  # recordings cut into clips
        from vidclass.data import recordings

        plan = recordings.ClipPlan.parse(dataset_options.clips) if dataset_options.clips else recordings.default_plan(found)
        summary = recordings.describe(found, recordings.split_recordings(found, plan, val=val, test=test, seed=seed))
        if as_json:
            _print_json(summary.to_dict())
        else:
            print("\n".join(recordings.format_summary(summary.to_dict())))
        return
    videos = not found.is_images
    prints = None
    if videos and (check or groups):
        from vidclass.evaluation import leaks

        prints = leaks.fingerprint_videos([item.path for item in found.items])
    proposed = None
    if groups and prints is not None:
        found, proposed, written = leaks.auto_group(found, prints, groups_csv)
    splits = split_catalog(found, val=val, test=test, seed=seed)
    summary = describe(found, splits).to_dict()
    if proposed is not None:
        sizes = leaks.cluster_sizes(proposed)
        summary["proposed_groups"] = {"clusters": len(sizes), "sizes": sizes, "csv": str(written)}
    if shortcuts and videos:
        from vidclass.evaluation.shortcuts import check_shortcuts

        summary["shortcuts"] = check_shortcuts(found).to_dict()
    if check and prints is not None:
        folder = out or Path(f"{found.root.name}-check")
        summary["leaks"] = leaks.check_leaks(prints, splits, folder, groups=proposed).to_dict()
    if as_json:
        _print_json(summary)
    else:
        _print_dataset_summary(summary)
        _print_dataset_checks(summary)


def _print_dataset_checks(summary: dict[str, Any]) -> None:
    """The proposed groups, the per-class metadata with shortcut warnings, and the leak finder's pairs."""
    if "proposed_groups" in summary:
        proposed = summary["proposed_groups"]
        sizes = proposed["sizes"]
        shown = ", ".join(map(str, sizes[:12])) + (", ..." if len(sizes) > 12 else "")
        print(
            f"proposed {proposed['clusters']} groups (sizes {shown}; {sizes.count(1)} of one clip), "
            f"written to {proposed['csv']}: review it; the split above uses it"
        )
    if "shortcuts" in summary:
        report = summary["shortcuts"]
        headers = ["class", "videos", "resolution", "aspect", "fps", "duration", "codec", "kbps", "letterboxed"]
        rows = [
            [label, str(row["videos"]), f"{row['resolution']} ({row['resolution_share']:.0%}, {row['resolutions']} sizes)",
             f"{row['aspect']:.2f}", f"{row['fps']:g}", f"{row['duration_s']:g} s",
             f"{row['codec']} ({row['codec_share']:.0%})", str(row["bitrate_kbps"]), f"{row['letterboxed']:.0%}"]
            for label, row in report["per_class"].items()
            if row["videos"]
        ]
        _print_table("metadata per class (medians; most common resolution and codec)", headers, rows)
        scored = report["metadata_classifier"]
        if scored is not None:
            low, high = scored["interval"] or (scored["score"], scored["score"])
            print(
                f"metadata alone: mean class accuracy {scored['score']:.2f} (95% CI {low:.2f}-{high:.2f}, "
                f"chance {report['chance']:.2f}) under {report['folds']}-fold CV over {report['units']}"
            )
        for warning in report["warnings"]:
            print(f"warning: {warning}")
    if "leaks" in summary:
        leaks = summary["leaks"]
        print(
            f"leak finder: {leaks['pairs_across_splits']} near-duplicate pairs across splits "
            f"(similarity >= {leaks['similarity_threshold']} or hash >= {leaks['hash_threshold']})"
        )
        for pair in leaks["pairs"][:LEFT_OUT_SHOWN]:
            print(
                f"  {pair['similarity']:.2f} / hash {pair['hash_similarity']:.2f}  "
                f"{pair['part_a']}: {pair['a']}  <->  {pair['part_b']}: {pair['b']}"
            )
        if leaks["pairs_across_splits"] > LEFT_OUT_SHOWN:
            print(f"  ... and {leaks['pairs_across_splits'] - LEFT_OUT_SHOWN} more (--json lists them all)")
        if leaks["pairs_across_splits"]:
            print("  these clips look like one source: give them one group (--groups auto proposes groups)")
        print(f"thumbnails of the closest pairs: {leaks['thumbnails']}")


@app.command()
def backbones(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the frame encoders: feature size, input size, weights and whether they are on disk now."""
    from vidclass.models import backbones as registry

    listed = []
    for name in registry.list_backbones():
        spec = registry.get_backbone_spec(name)
        p = spec.preprocess
        listed.append({
            "name": name, "dim": spec.dim, "resize": p.resize, "crop": p.crop, "interpolation": p.interpolation,
            "weights": spec.weights_source, "offline": registry.weights_available_offline(name),
            "license": spec.license,
        })
    if as_json:
        _print_json(listed)
        return
    rows = [
        [b["name"], str(b["dim"]), f"{b['resize']}->{b['crop']} {b['interpolation']}", b["weights"],
         "yes" if b["offline"] else "no", b["license"]]
        for b in listed
    ]
    _print_table("backbones (any timm model also works as timm:<name>)",
                 ["name", "D", "input", "weights", "offline now", "licence"], rows)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the kinds of model `vidclass train --model` trains (and each `--arch` of 3d): default frames and
    size, parameters, GFLOPs per clip, where the weights come from, what it trains."""
    from vidclass.estimator.classifier import list_model_kinds

    kinds = list_model_kinds()
    if as_json:
        _print_json(kinds)
        return

    def number(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    _print_table("models (vidclass train --model NAME [--arch A]; costs at the default frames x size, 2 classes)",
                 ["name", "arch", "frames x px", "trains", "weights", "description", "params (M)", "GFLOPs/clip"],
                 [[k["name"], k["arch"] or "-", f"{k['frames']} x {k['size'] or 'backbone'}", k["trains"], k["weights"],
                   k["description"], number(k["params_m"], 2), number(k["gflops_per_clip"], 2)] for k in kinds], right=2)


PretrainedOpt = Annotated[
    str, typer.Option(help="imagenet: the backbone's standard pretrained weights; none: random init.")
]
WeightsOpt = Annotated[Optional[Path], typer.Option(help="Local weights file (.safetensors/.pth) for the backbone.")]
CacheOpt = Annotated[Optional[Path], typer.Option(help="Feature cache folder (default: the user cache folder).")]
FramesOpt = Annotated[int, typer.Option(help="Frames per view; the cache holds twice as many per video.")]
InputsOpt = Annotated[
    str,
    typer.Option(
        help="appearance, appearance+motion (feature changes), appearance+rgbdiff (CNN on pixel differences), "
        "appearance+motion+rgbdiff, rgbdiff, appearance+flow or flow (CNN on optical flow images); with poses (vidclass[pose]): pose, pose+velocity, appearance+pose, "
        "appearance+pose+velocity, appearance+motion+pose, appearance+rgbdiff+pose[+velocity]."
    ),
]
PosePeopleOpt = Annotated[int, typer.Option(help="Pose inputs: people (slots) per frame.")]
KeypointsOpt = Annotated[
    Optional[Path],
    typer.Option(help="Pose inputs: folder of keypoint files (one VIDEO_STEM.json or .csv per video, COCO-17 or "
                 "BlazePose-33) to use instead of estimating poses."),
]


RuntimeOpt = Annotated[
    str,
    typer.Option(help="Inference engine: auto (ONNX Runtime on a CPU when installed, the exported graphs of a model "
                 "`vidclass export` wrote), onnxruntime or torch."),
]


def _pretrained(value: str) -> bool:
    from vidclass.errors import ConfigError

    if value not in ("imagenet", "none"):
        raise ConfigError(f"--pretrained must be imagenet or none, got {value!r}")
    return value == "imagenet"


@app.command()
@_dataset_options
def extract(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    backbone: Annotated[str, typer.Option(help="Backbone name (see `vidclass backbones`).")] = "efficientnet_lite0",
    frames: FramesOpt = 16,
    size: Annotated[Optional[int], typer.Option(help="Frame side in pixels the CNN sees (default: the backbone's own); "
                                                 "use the value `train --size` will use.")] = None,
    cache: CacheOpt = None,
    pretrained: PretrainedOpt = "imagenet",
    weights: WeightsOpt = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Frames per CNN batch (batches span videos; default 1 on a CPU, 32 on a GPU).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
    inputs: InputsOpt = "appearance+flow",  # vidclass.inputs.views.DEFAULT_INPUTS (importing it here would load torch)
    pose_people: PosePeopleOpt = 3,
    runtime: RuntimeOpt = "auto",
    accelerator: Annotated[str, typer.Option(help="With --devices / --num-nodes: cpu, gpu or auto (Lightning's).")] = "auto",
    devices: Annotated[int, typer.Option(help="Processes on this machine, one per device: >1 shards the videos.")] = 1,
    num_nodes: Annotated[int, typer.Option(help="Machines; torchrun or SLURM start the processes on each.")] = 1,
) -> None:
    """Compute and cache frame features of every video; a rerun computes only what is missing.
    With --devices / --num-nodes each process extracts its share of the videos into the shared cache."""
    from vidclass.errors import ConfigError, DatasetError
    from vidclass.inputs.features import FeatureCache, extract_features
    from vidclass.inputs.views import ViewSpec
    from vidclass.models.backbones import create_backbone
    from vidclass.util.progress import extraction_progress

    view = ViewSpec(frames=frames, grid=2 * frames, inputs=inputs, people=pose_people)
    found = _read_dataset(dataset, dataset_options)
    from vidclass.models.runtime import device_encoder, frame_encoder

    torch_encoder = create_backbone(backbone, pretrained=_pretrained(pretrained), weights=weights, size=size)
    sharded = devices > 1 or num_nodes > 1
    if sharded and view.pose:
        raise ConfigError("--devices / --num-nodes shard CNN features; extract pose inputs in one process")
    store = FeatureCache(cache)
    paths = [item.path for item in found.items]
    pose = None
    if view.pose:
        from vidclass.inputs.pose import PoseSpec

        pose = PoseSpec(people=pose_people)
    if view.appearance and sharded:
        from vidclass.training.distributed import extract_sharded

        report, primary = extract_sharded(
            paths, lambda device: device_encoder(torch_encoder, device, runtime), view.grid, cache=store,
            accelerator=accelerator, devices=devices, num_nodes=num_nodes, batch_size=batch_size, workers=workers,
            pair_image=view.pair_image, appearance=view.frame_features,
        )
        if not primary:  # rank 0 reports for all
            return
    elif view.appearance:
        with extraction_progress(len(found.items)) as advance:
            report = extract_features(
                paths, frame_encoder(torch_encoder, runtime), view.grid, cache=store, batch_size=batch_size,
                workers=workers, pair_image=view.pair_image, appearance=view.frame_features, pose=pose,
                on_video=advance,
            )
    if view.appearance:
        print(
            f"{report.total} videos: {report.computed} computed ({report.frames_per_second:.1f} frames/s), "
            f"{report.cached} from cache, {len(report.failed)} failed; cache: {store.root}"
        )
        _report_engine(report.engine)
    if pose is not None:
        from vidclass.inputs.pose import pose_features

        cnn_failed = report.failed if view.appearance else {}
        with extraction_progress(len(found.items), description="poses") as advance:
            _, report = pose_features(paths, pose, view.grid, cache=store, workers=workers, on_video=advance)
        report.failed = {**report.failed, **cnn_failed}
        people = sum(report.people) / max(len(report.people), 1)
        print(f"{report.total} videos: poses {report.computed} computed, {report.cached} from cache, "
              f"{len(report.failed)} failed; {people:.2f} people per frame; cache: {store.root}")
        _report_no_people(report.nobody)
    _report_left_out(report.failed)
    if report.total and len(report.failed) == report.total:
        raise DatasetError(f"{dataset}: no video could be extracted; every one of the {report.total} failed")


@app.command()
@_dataset_options
def train(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    out: Annotated[Path, typer.Option("--out", help="Run folder: config, metrics, curves, model/, evaluation/.")],
    recipe: Annotated[
        Optional[str], typer.Option(help="Start from a named recipe (see `vidclass recipes`); options given here win. "
                                    "best: the winner of --compare DIR.")
    ] = None,
    compare_dir: Annotated[
        Optional[Path], typer.Option("--compare", help="With --recipe best: the folder of a `vidclass compare` run.")
    ] = None,
    model_kind: Annotated[
        str, typer.Option("--model", help="features (frozen CNN + temporal head), frame, lrcn, early_fusion, 3d or "
                          "convlstm: see `vidclass models`.")
    ] = "features",
    arch: Annotated[
        Optional[str],
        typer.Option(help="--model 3d: inflated (default: the ImageNet backbone inflated to 3D, offline), c3d_small "
                     "(from scratch), or r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v2_s, swin3d_t (Kinetics-400 weights)."),
    ] = None,
    backbone: Annotated[str, typer.Option(help="Backbone name (see `vidclass backbones`).")] = "efficientnet_lite0",
    head: Annotated[
        Optional[str],
        typer.Option(help="lstm, bilstm, gru, attention, transformer, mean or linear (default: linear; lrcn: lstm)."),
    ] = None,
    head_option: Annotated[
        Optional[list[str]], typer.Option(help="Head option NAME=VALUE (JSON value), repeatable.")
    ] = None,
    frames: Annotated[Optional[int], typer.Option(help="Frames per view (default 16; on pixels 8, or the model's own: "
                                                   "see `vidclass models`).")] = None,
    inputs: Annotated[
        Optional[str],
        typer.Option(help="features: appearance, appearance+motion, appearance+rgbdiff, "
                     "appearance+motion+rgbdiff, rgbdiff (motion alone), appearance+flow (default) or flow (optical flow "
                     "images), "
                     "or with poses pose, pose+velocity, appearance+pose, "
                     "appearance+rgbdiff+pose, ... (see `vidclass extract --help`); on pixels: rgb (default), rgbdiff or flow."),
    ] = None,
    pose_people: PosePeopleOpt = 3,
    keypoints: KeypointsOpt = None,
    size: Annotated[Optional[int], typer.Option(help="Square frame side in pixels the network sees (pixels: default "
                                                 "112 or the model's own, see `vidclass models`; features: the "
                                                 "backbone's own).")] = None,
    freeze_stages: Annotated[
        int, typer.Option(help="On pixels: freeze the backbone's first N stages (-1: all of it).")
    ] = 0,
    backbone_lr: Annotated[
        Optional[float], typer.Option(help="On pixels: learning rate of the backbone (default 0.3 x lr).")
    ] = None,
    bn: Annotated[str, typer.Option(help="On pixels: train (update BatchNorm statistics) or frozen (keep the pretrained ones).")] = "train",
    flip: Annotated[bool, typer.Option(help="On pixels: random horizontal flips in augmentation.")] = True,
    epochs: Annotated[
        Optional[int], typer.Option(help="Most epochs (default 60; on pixels 8); early stopping usually ends sooner.")
    ] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Videos per training batch (default 16; on pixels 8).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="AdamW learning rate (default 1e-3, or the model's own).")] = None,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.05,
    patience: Annotated[
        Optional[int], typer.Option(help="Epochs without a better validation loss before stopping (default 10; on pixels 3).")
    ] = None,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing of the training loss.")] = 0.0,
    class_weights: Annotated[bool, typer.Option(help="Weight the loss by inverse class frequency.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the split, the views and the weights.")] = 0,
    val: Annotated[float, typer.Option(help="Fraction of clips for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction of clips held back for the final test.")] = 0.15,
    cache: CacheOpt = None,
    pretrained: PretrainedOpt = "imagenet",
    weights: WeightsOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
    accelerator: Annotated[str, typer.Option(help="Lightning accelerator: auto (a GPU if there is one), cpu, gpu.")] = "auto",
    devices: Annotated[str, typer.Option(help="Lightning devices: auto, a count, or a list like 0,1.")] = "auto",
    precision: Annotated[
        str, typer.Option(help="auto (bf16-mixed on a GPU that has it, else 32), 32, 16-mixed or bf16-mixed.")
    ] = "auto",
    accumulate: Annotated[int, typer.Option(help="Batches whose gradients are summed before each step.")] = 1,
    strategy: Annotated[
        str, typer.Option(help="Lightning strategy: auto, ddp (one process per device), ddp_spawn or fsdp (GPUs).")
    ] = "auto",
    num_nodes: Annotated[int, typer.Option(help="Machines (torchrun or SLURM start the processes on each).")] = 1,
    loader_workers: Annotated[int, typer.Option(help="DataLoader processes preparing training batches.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run of --out from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    task: Annotated[str, typer.Option(help="classification, or regression: a number per video from a numeric CSV "
                                      "column (--target) or numeric folder names; MAE, RMSE, R² and a scatter PNG.")
                    ] = "classification",
    loss: Annotated[str, typer.Option(help="--task regression: mse or huber.")] = "mse",
    target: Annotated[str, typer.Option(help="--task regression: the CSV column of the numbers (else a numeric "
                                        "label column).")] = "target",
) -> None:
    """Train a classifier (or with --task regression a regressor) on DATASET and evaluate it on the held-back test split."""
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.evaluation.metrics import format_evaluation
    from vidclass.util.progress import extraction_progress

    params: dict[str, Any] = dict(
        model=model_kind, backbone=backbone, head=head, frames=frames, inputs=inputs,
        head_options=_head_options(head_option or []), arch=arch, pretrained=_pretrained(pretrained), weights=weights,
        pose_people=pose_people, keypoints=keypoints,
        size=size, freeze_stages=freeze_stages, backbone_lr=backbone_lr, bn=bn, flip=flip, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience, label_smoothing=label_smoothing,
        class_weights=class_weights, seed=seed, val=val, test=test, accelerator=accelerator,
        devices=int(devices) if devices.isdigit() else devices, precision=precision, accumulate=accumulate,
        loader_workers=loader_workers, cache_dir=cache, workers=workers, progress=True, strategy=strategy,
        num_nodes=num_nodes,
    )
    if recipe is not None:
        chosen = _recipe_for_training(recipe, compare_dir)
        given = {name for name in ctx.params if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        given = {"model" if name == "model_kind" else name for name in given}
        params.update({name: value for name, value in chosen.classifier_params().items() if name not in given})
        model_kind, head = params["model"], params["head"]
        click.echo(f"vidclass: recipe {chosen.name}: {chosen.settings()}", err=True)
    elif compare_dir is not None:
        raise VidclassError("--compare DIR goes with --recipe best")
    if task != "classification":
        from vidclass.estimator.tasks import TASKS, describe, regressor

        if task not in TASKS:
            raise VidclassError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
        ignored = [name for name, value in (("--clips", dataset_options.clips),
                                            ("--background", dataset_options.background)) if value is not None]
        if ignored:  # a regressor reads one number per whole file: never drop an option silently
            raise VidclassError(f"--task regression takes one number per video file; {', '.join(ignored)} "
                                "(long recordings, segments) work with classification only")
        fitted = regressor(params, loss=loss, column=target).fit(dataset, out_dir=out)
        console.print(f"trained {describe(fitted)} to estimate {target} on {fitted.training_['videos']['train']} "
                      f"videos; best epoch {fitted.training_['best_epoch']} of {fitted.training_['epochs_run']}")
        _report_left_out(fitted.training_["unreadable"])
        if fitted.evaluation_ is not None:
            console.print(f"test: {fitted.evaluation_.format()}", markup=False, highlight=False)
        console.print(f"model: {out / 'model'}\nrun folder: {out}")
        return
    model = VideoClassifier(**params)
    model.check_params()
    found = _read_dataset(dataset, dataset_options, training=True)
    if dataset_options.clips is not None:
        model.set_params(clips=dataset_options.clips)
    with extraction_progress(len(found.items), description="decoding" if model_kind != "features" else "extracting") as advance:
        model.fit(found, out_dir=out, resume=resume, overwrite=overwrite, on_video=advance)
    from vidclass.training.distributed import is_primary

    if not is_primary():  # the other DDP ranks trained beside rank 0, which reports
        return
    training = model.training_
    from vidclass.estimator.classifier import DEFAULT_HEAD

    what = model_kind if model_kind != "features" else f"{head or DEFAULT_HEAD} head"
    fitting = (f"best epoch {training['best_epoch']} of {training['epochs_run']}" if training["best_epoch"] is not None
               else "fitted in one pass (no epochs)")  # the linear head: a logistic regression
    console.print(f"trained {what} on {training['videos']['train']} videos ({training['split']}); {fitting}")
    _report_engine(training.get("frames_encoded_by"))
    _report_left_out(training["unreadable"], where=f"{out / 'model' / 'config.json'} lists them all")
    _report_no_people(training.get("no_people", []))
    if model.evaluation_ is not None:
        console.print(format_evaluation(model.evaluation_), markup=False, highlight=False)
    console.print(f"model: {out / 'model'}\nrun folder: {out}")


def _recipe_for_training(name: str, compare_dir: Path | None):
    """The recipe ``--recipe NAME`` names, or with ``best`` the winner of the comparison in ``--compare DIR``."""
    from vidclass.compare import best_recipe
    from vidclass.compare.recipes import get_recipe

    if name != "best":
        if compare_dir is not None:
            raise VidclassError("--compare DIR goes with --recipe best")
        return get_recipe(name)
    if compare_dir is None:
        raise VidclassError("--recipe best needs --compare DIR (a folder written by `vidclass compare`)")
    return best_recipe(compare_dir)


def _report_engine(engine: str | None) -> None:
    """Say on stderr what ran the frame encoder (nothing when every feature came from the cache)."""
    if engine is not None:
        shown = {"onnxruntime": "ONNX Runtime", "torch": "PyTorch"}.get(engine, engine)
        click.echo(f"vidclass: frames encoded by {shown}", err=True)


def _report_no_people(paths: list[str]) -> None:
    """Name the videos in which the pose estimator never found anybody (their pose steps are all masked)."""
    if paths:
        print(f"nobody found in {len(paths)} videos (pose inputs all masked): {', '.join(paths[:10])}"
              + (" ..." if len(paths) > 10 else ""))


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
@_dataset_options
def evaluate(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the metrics JSON on stdout.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Folder for metrics.json, confusion PNG, predictions CSV.")] = None,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
    keypoints: KeypointsOpt = None,
) -> None:
    """Evaluate MODEL on the videos of DATASET it never saw in training (a regression model: MAE, RMSE, R² and
    a predicted-vs-true scatter, on the numeric target column it was trained on or numeric folder names)."""
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.estimator.bundle import bundle_task
    from vidclass.evaluation.metrics import format_evaluation
    from vidclass.estimator.tasks import load_model

    out = out or model_dir.parent / "evaluation" / dataset.name
    if bundle_task(model_dir) == "regression":
        scores = load_model(model_dir, cache_dir=cache, workers=workers).evaluate(dataset, out_dir=out)
        if as_json:
            _print_json(scores.to_dict())
        else:
            console.print(scores.format(), markup=False, highlight=False)
            console.print(f"files: {out}")
        return
    model = VideoClassifier.load(model_dir, cache_dir=cache, workers=workers)
    model.set_params(keypoints=keypoints)  # a pose model reads these instead of estimating
    found = _read_dataset(dataset, dataset_options, report=False)
    if found.segmented:  # timelines against the labeled segments
        from vidclass.use.segment_eval import evaluate_segments

        scored = evaluate_segments(model, found, out_dir=out)
        if as_json:
            _print_json(scored.to_dict())
        else:
            print(scored.format())
            print(f"files: {out}")
        return
    evaluation = model.evaluate(found, out_dir=out)
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
    keypoints: KeypointsOpt = None,
    runtime: RuntimeOpt = "auto",
) -> None:
    """Label whole videos: class probabilities sorted high to low (a regression model: the value). Bad files get
    their own error line."""
    from vidclass.use.records import format_record, prediction_records
    from vidclass.estimator.tasks import load_model

    _check_top_k(top_k)
    model = load_model(model_dir, cache_dir=cache, workers=workers, runtime=runtime)
    if keypoints is not None:
        model.set_params(keypoints=keypoints)  # a pose model reads these instead of estimating
    results, failed = prediction_records(model, videos, top_k)
    if as_json:
        _print_json(results)
    else:
        for result in results:
            if "error" in result:
                click.echo(f"vidclass: error: {result['error']}", err=True)
                continue
            console.print(format_record(result), markup=False, highlight=False)
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
    from vidclass.use.predict import TimelineSettings, parse_seconds, run_timeline
    from vidclass.estimator.tasks import load_model
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
            _print_json({**result.to_dict(), "run": run})
        else:
            headers, rows = result.table()
            _print_table(f"{source}: {len(result.starts)} windows, smoothing over {smooth}", headers, rows, right=1)
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
    from vidclass.estimator.tasks import is_regression

    return annotation(model.labels_, source, out=out, gif=gif, gif_range=span, top_k=top_k, pose=pose,
                      values=is_regression(model))


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
        _print_json(result.to_dict())
        return
    engine = "ONNX Runtime" if graph_format == "onnx" else "TorchScript"
    detail = f"opset {result.opset}{', ' + result.quantize if result.quantize else ''}" if graph_format == "onnx" else "torch.jit"
    what = "values" if "values" in result.parity else "probabilities"  # a regression model's windows give values
    print(f"{result.directory}: {', '.join(sorted(result.graphs))} graphs ({detail}); {engine} vs PyTorch: {what} "
          f"within {result.parity[what]:.1e}, features within {result.parity['features']:.1e}")


@app.command()
def recipes(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the recipes `vidclass compare` scores and `vidclass train --recipe` trains."""
    from vidclass.compare.recipes import get_recipe, list_recipes

    listed = [get_recipe(name) for name in list_recipes()]
    if as_json:
        _print_json([{"name": r.name, "family": r.family, "description": r.description, "params": dict(r.params),
                      "members": list(r.members), "weights": r.weights, "fast": r.fast,
                      "cost_s_per_fold_per_100_clips": r.cost} for r in listed])
        return
    _print_table("recipes (vidclass compare --recipes NAMES|all|fast, vidclass train --recipe NAME)",
                 ["name", "family", "fast", "weights", "settings", "description"],
                 [[r.name, r.family, "yes" if r.fast else "no", r.weights, r.settings(), r.description] for r in listed])


@app.command()
@_dataset_options
def compare(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    out: Annotated[Path, typer.Option("--out", help="Folder for results (resumable: rerun to finish or add recipes).")],
    recipes: Annotated[str, typer.Option(help="all, fast (frozen features only) or comma-separated recipe names.")] = "fast",
    folds: Annotated[int, typer.Option(help="Outer folds (StratifiedGroupKFold over the groups).")] = 5,
    budget: Annotated[
        Optional[str], typer.Option(help="Time for this run, e.g. 30m or 2h: recipes whose estimate does not fit are skipped.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the folds and of every recipe's training.")] = 0,
    val: Annotated[float, typer.Option(help="Fraction of each fold's training part used for early stopping.")] = 0.2,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding processes running beside the CNN.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ranked results as JSON on stdout.")] = False,
) -> None:
    """Score recipes side by side on the same grouped folds of DATASET: accuracy, cost, ranked."""
    from vidclass.compare import CompareSettings, compare as run_compare, table_rows
    from vidclass.compare.report import HEADERS
    from vidclass.use.predict import parse_seconds
    from vidclass.compare.recipes import select_recipes

    chosen = select_recipes(recipes)
    settings = CompareSettings(folds=folds, seed=seed, val=val, cache_dir=cache, workers=workers,
                               budget=parse_seconds(budget, "--budget") if budget is not None else None)
    found = _read_dataset(dataset, dataset_options, training=True)
    rows, paths = run_compare(found, chosen, out, settings, log=lambda line: click.echo(line, err=True))
    if as_json:
        _print_json([row.as_dict() for row in rows])
    else:
        _print_table(f"compare: {len(found.items)} clips, {folds} grouped folds", list(HEADERS), table_rows(rows))
    click.echo(f"vidclass: report {paths['md']}, results {paths['json']} and {paths['csv']}, plot {paths['png']}",
               err=True)


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
