"""Background workers: threads for work that releases the GIL (decoding), and processes that die with the
process that started them.

A DataLoader worker whose parent is killed with SIGKILL (``kill -9``, the OOM killer) is
otherwise adopted by init and waits forever on its queue, holding its memory. Pass
:func:`die_with_parent` as a DataLoader's ``worker_init_fn`` (or call it first thing in
any child process): on Linux the kernel sends the child SIGKILL when its parent exits
(``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread also checks once a second
whether the parent is still the one it started with, and ends the child if not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
CHECK_SECONDS = 1.0


def in_order(dataset, workers: int, *, prefetch: int = 2) -> Iterator:
    """``dataset[0], dataset[1], ...`` computed by ``workers`` processes that die with this one
    (0: here, in this process), each item as ``__getitem__`` returned it."""
    if workers == 0:
        yield from (dataset[i] for i in range(len(dataset)))
        return
    from torch.utils.data import DataLoader

    yield from DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=_as_is, prefetch_factor=prefetch,
                          worker_init_fn=die_with_parent)


def in_threads(dataset, workers: int, *, prefetch: int = 2) -> Iterator:
    """``dataset[0], dataset[1], ...`` computed by ``workers`` threads of this process, ``prefetch`` items each
    ahead of the one being used (0 workers: here, one after another).

    For work that releases the GIL (PyAV decoding and swscale, OpenCV): a thread costs no memory of its own,
    where a forked worker process carries the parent's address space (torch, the model) and copies every page
    whose reference counts it touches (``benchmarks/extract.py`` measures both). Leaving early cancels the
    items not yet started."""
    if workers == 0:
        yield from (dataset[i] for i in range(len(dataset)))
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="vidclass-decode")
    ahead: deque[Future] = deque()
    count, started = len(dataset), 0
    try:
        while started < min(count, workers * prefetch):
            ahead.append(pool.submit(dataset.__getitem__, started))
            started += 1
        while ahead:
            item = ahead.popleft().result()
            if started < count:
                ahead.append(pool.submit(dataset.__getitem__, started))
                started += 1
            yield item
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _as_is(item):
    """The DataLoader's collate: module-level, so spawned workers can unpickle it."""
    return item


def die_with_parent(worker_id: int = 0) -> None:
    """End this process as soon as its parent process is gone (``worker_id`` is DataLoader's, unused)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        _kernel_death_signal()
    if os.getppid() != parent:  # the parent died while we asked
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="vidclass-parent-watch", daemon=True).start()


def _kernel_death_signal() -> None:
    """Ask Linux to SIGKILL this process when its parent exits; a no-op where libc has no prctl."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch(parent: int) -> None:
    """Poll the parent id: it changes (to init or a subreaper) once the parent has died."""
    while os.getppid() == parent:
        time.sleep(CHECK_SECONDS)
    os._exit(1)
