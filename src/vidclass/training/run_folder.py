"""A training run's folder: staged beside its final place (``.NAME.partial``), resumable after a kill,
swapped in whole when the run completes, so a crash never leaves half a run where a finished one was."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from vidclass.errors import ConfigError
from vidclass.util.atomic import replace_directory


def start_run(final: Path, *, resume: bool, overwrite: bool) -> Path:
    """The staging folder of a run that will become ``final``: new, or the killed one to resume."""
    if final.exists() and not final.is_dir():
        raise ConfigError(f"{final}: --out must be a folder for the run, and this is a file")
    if not final.parent.is_dir():
        raise ConfigError(f"{final.parent}: no such folder for the run folder {final.name}; create it first")
    staging = final.with_name(f".{final.name}.partial")
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


def finish_run(staging: Path, final: Path) -> None:
    """Swap the complete run in place of ``final`` (and of the run it replaces)."""
    replace_directory(staging, final)


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
