"""Options defined once: the dataset options every command that reads a dataset takes (and reading the
dataset with them), the training options shared by ``extract`` and ``train``, and the lines both report."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Optional, get_type_hints

import click
import typer

from vidclass.cli.app import warn

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


def dataset_options(command: Callable[..., Any]) -> Callable[..., Any]:
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


def read_dataset(root: Path, options: DatasetOptions, *, training: bool = False, report: bool = True):
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
        report_left_out({str(problem.path): problem.reason for problem in found.problems},
                         where=f"`vidclass data {root} --json` lists them all")
    if training:
        catalog.check_trainable(found)
    if report:
        for warning in catalog.dataset_warnings(found):
            warn(warning)
    return found


LEFT_OUT_SHOWN = 10


def report_left_out(left_out: dict[str, str], where: str | None = None) -> None:
    """Name the items a command left out on stderr: the count, then each one, or with ``where``
    (what lists them all) only the first few."""
    if not left_out:
        return
    warn(f"{len(left_out)} item{'s' if len(left_out) != 1 else ''} left out:")
    shown = list(left_out.items())[: LEFT_OUT_SHOWN if where else None]
    for path, reason in shown:
        click.echo(f"  {path}: {reason}" if not reason.startswith(path) else f"  {reason}", err=True)
    if len(left_out) > len(shown):
        click.echo(f"  ... and {len(left_out) - len(shown)} more; {where}", err=True)


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


def parse_pretrained(value: str) -> bool:
    from vidclass.errors import ConfigError

    if value not in ("imagenet", "none"):
        raise ConfigError(f"--pretrained must be imagenet or none, got {value!r}")
    return value == "imagenet"


def report_engine(engine: str | None) -> None:
    """Say on stderr what ran the frame encoder (nothing when every feature came from the cache)."""
    if engine is not None:
        shown = {"onnxruntime": "ONNX Runtime", "torch": "PyTorch"}.get(engine, engine)
        click.echo(f"vidclass: frames encoded by {shown}", err=True)


def report_no_people(paths: list[str]) -> None:
    """Name the videos in which the pose estimator never found anybody (their pose steps are all masked)."""
    if paths:
        print(f"nobody found in {len(paths)} videos (pose inputs all masked): {', '.join(paths[:10])}"
              + (" ..." if len(paths) > 10 else ""))
