"""Process-wide memory settings for the command line.

glibc gives each thread that allocates its own malloc arena, and freed memory stays in the arena it came
from; with the decoding threads of :func:`vidclass.util.workers.in_threads` beside ONNX Runtime's and FFmpeg's
own, a default ``vidclass extract`` of 40 fight_surv clips grew from 0.70 to 0.77 GB (PSS) as it went, and
stayed flat at 0.74 GB with two arenas (``MALLOC_ARENA_MAX=2``: same run time). The CLI sets that cap at
start; as a library vidclass leaves the process's allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_ARENA_MAX = -8  # from glibc's <malloc.h>
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` unless ``MALLOC_ARENA_MAX`` says otherwise; whether it was set.
    A no-op off Linux and where the C library has no ``mallopt`` (musl)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
