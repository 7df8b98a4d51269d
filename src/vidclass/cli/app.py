"""The ``vidclass`` Typer app and what every command shares: results on stdout (JSON, tables that stay whole
when piped), warnings and progress on stderr, and every ``VidclassError`` (or a full disk) as one clean line
on stderr with exit code 1 (``--verbose`` shows the traceback too)."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from vidclass.errors import VidclassError, is_disk_full
from vidclass.util.memory import cap_malloc_arenas

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
            click.echo(f"vidclass: error: {error_line(error)}", err=True)
            raise typer.Exit(1) from None


def error_line(error: Exception) -> str:
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
    cap_malloc_arenas()  # before any decoding thread allocates (vidclass.util.memory)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 0) -> None:
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


def warn(message: str) -> None:
    click.echo(f"vidclass: warning: {message}", err=True)
