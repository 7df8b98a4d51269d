"""A training run's folder: staged beside its final place (``.NAME.partial``), resumable after a kill,
swapped in whole when the run completes, so a crash never leaves half a run where a finished one was.

Every fit (classifier or regressor, frozen features or pixels, whole files or clips of recordings) writes
through one :class:`RunFolder`, so they share the staging, ``--resume`` / ``--overwrite`` and the rule that
under DDP only the primary rank writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidclass.errors import ConfigError
from vidclass.training.distributed import is_primary
from vidclass.util.atomic import replace_directory, write_atomic


def start_run(final: Path, *, resume: bool, overwrite: bool) -> Path:
    """The staging folder of a run that will become ``final``: new, or the killed one to resume."""
    if final.exists() and not final.is_dir():
        raise ConfigError(f"{final}: --out must be a folder for the run, and this is a file")
    if not final.parent.is_dir():
        raise ConfigError(f"{final.parent}: no such folder for the run folder {final.name}; create it first")
    staging = staging_folder(final)
    if resume:
        if not staging.is_dir():
            raise ConfigError(f"{final}: no interrupted run to resume (no {staging.name} beside it)")
        return staging
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise ConfigError(f"{final}: the run folder is not empty; pass --overwrite to replace it "
                          f"(or --resume to continue an interrupted run)")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def staging_folder(final: Path) -> Path:
    """Where the run that becomes ``final`` is built: ``.NAME.partial`` beside it."""
    return final.with_name(f".{final.name}.partial")


def finish_run(staging: Path, final: Path) -> None:
    """Swap the complete run in place of ``final`` (and of the run it replaces)."""
    replace_directory(staging, final)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON at ``path``, written atomically (anything JSON cannot hold as its text)."""
    write_atomic(path, json.dumps(data, indent=2, default=str))


class RunFolder:
    """Where one fit writes its run (``out_dir``; none: nothing is written).

    ``path`` is the staging folder the trainer keeps its checkpoints and metrics in (None without a run
    folder); on a DDP rank other than the primary it names the same folder and nothing is written there by
    this class. :meth:`finish` writes the model and evaluation and swaps the run in place.
    """

    def __init__(self, out_dir: str | Path | None, *, resume: bool = False, overwrite: bool = False) -> None:
        self.final = Path(out_dir) if out_dir is not None else None
        self.primary = is_primary()  # under DDP only rank 0 writes the run folder; the others train beside it
        if self.final is None:
            self.path: Path | None = None
        elif self.primary:
            self.path = start_run(self.final, resume=resume, overwrite=overwrite)
        else:
            self.path = staging_folder(self.final)

    @property
    def writes(self) -> bool:
        """Whether this process writes the run (a run folder was asked for and this is the primary rank)."""
        return self.path is not None and self.primary

    def write_config(self, config: dict[str, Any]) -> None:
        """The run's ``config.json``: the estimator's parameters and what they resolved to."""
        if self.writes:
            write_json(self.path / "config.json", config)  # type: ignore[operator]

    def finish(self, metrics_csv: Path | None, write: Callable[[Path], Any]) -> None:
        """Draw the training curves of ``metrics_csv``, let ``write(folder)`` put the model and evaluation in
        the staging folder, and swap the complete run in place of ``out_dir``."""
        if not self.writes:
            return
        assert self.path is not None and self.final is not None
        if metrics_csv is not None and metrics_csv.is_file():
            from vidclass.evaluation.metrics import plot_training_curves

            plot_training_curves(metrics_csv, self.path / "curves.png")
        write(self.path)
        finish_run(self.path, self.final)
