"""Putting a finished file or directory in place of another in one step, so readers see the old or the
new one, never half of one, and a failed write leaves the old one intact."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: str | Path, content: str | bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``content`` (text as UTF-8, bytes, or a function that writes into the open file) to a temporary
    file beside ``path``, then rename it over ``path``; the folder is made when missing.

    The temporary file is created with ``open(..., "xb")`` so it gets the usual permissions (umask), unlike
    ``tempfile``'s private 0600 files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with open(tmp, "xb") as file:
            if callable(content):
                content(file)
            else:
                file.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def replace_directory(staging: Path, final: Path) -> None:
    """Move the complete ``staging`` directory to ``final``, replacing what ``final`` held (kept aside as
    ``.NAME.old`` for the instant of the swap, then removed)."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
