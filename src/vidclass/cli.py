"""The ``vidclass`` command line: parses options, calls the Python API, prints.

No logic lives here. Every ``VidclassError`` becomes one clean line on stderr and exit
code 1; ``--verbose`` shows the traceback too.
"""

from __future__ import annotations

import json
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

    columns = {
        key: value
        for key, value in (("path", path_column), ("label", label_column), ("group", group_column))
        if value is not None
    }
    found = catalog.load_catalog(root, format=format, columns=columns or None, group_regex=group_regex)
    splits = catalog.split_catalog(found, val=val, test=test, seed=seed)
    summary = catalog.describe(found, splits).to_dict()
    if as_json:
        _print_json(summary)
    else:
        _print_dataset_summary(summary)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo dataset and outputs.")] = Path("vidclass-demo"),
) -> None:
    """Build the synthetic demo dataset and summarise it."""
    from vidclass import catalog, synthetic

    root = synthetic.make_direction_dataset(out / "dataset")
    found = catalog.load_catalog(root)
    splits = catalog.split_catalog(found)
    _print_dataset_summary(catalog.describe(found, splits).to_dict())
    console.print(f"demo dataset: {root}")
