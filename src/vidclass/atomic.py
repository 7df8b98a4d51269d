"""Putting a finished directory in place of another in one step, so readers see the old or the new one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_directory(staging: Path, final: Path) -> None:
    """Move the complete ``staging`` directory to ``final``, replacing what ``final`` held (kept aside as
    ``.NAME.old`` for the instant of the swap, then removed)."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
