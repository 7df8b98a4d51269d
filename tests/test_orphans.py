"""Worker processes die with their parent: kill -9 leaves no orphan behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vidclass.util import workers


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # dead, waiting for whoever adopted it to reap it
    except psutil.NoSuchProcess:
        return True


_SLOW_ITEMS = """
import time
from vidclass.util.workers import in_order

class Slow:
    def __len__(self):
        return 1000

    def __getitem__(self, i):
        time.sleep(0.2)
        return i

for item in in_order(Slow(), 2):
    print(item, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_worker_processes_die_when_their_parent_is_killed(tmp_path: Path) -> None:
    """The worker processes of ``in_order`` (pose estimation's, and any DataLoader given ``die_with_parent``)
    end when their parent gets SIGKILL; decoding itself runs in threads, which die with the process."""
    parent = subprocess.Popen([sys.executable, "-c", _SLOW_ITEMS], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        parent.stdout.readline()  # the workers run
        children = psutil.Process(parent.pid).children()
        assert len(children) == 2
        os.kill(parent.pid, signal.SIGKILL)  # the parent only, as an OOM killer or `kill -9 PID` would
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(_gone(child) for child in children):
            time.sleep(0.1)
        alive = [child.pid for child in children if not _gone(child)]
    finally:
        _kill_group(parent)  # never leave a worker behind, even when the test fails
    assert alive == [], f"workers {alive} outlived their killed parent"


# The parent-id watch alone (as on macOS, where there is no PDEATHSIG): a forked child that
# calls die_with_parent without the kernel's help, then a SIGKILL of its parent.
_WATCH_ONLY = """
import os, sys, time
from vidclass.util import workers
workers._kernel_death_signal = lambda: None
child = os.fork()
if child == 0:
    workers.die_with_parent()
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_parent_watch_ends_a_child_without_pdeathsig() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _WATCH_ONLY], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        time.sleep(0.3)
        assert not _gone(child)  # alive while its parent is
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 3 * workers.CHECK_SECONDS + 2
        while time.monotonic() < deadline and not _gone(child):
            time.sleep(0.05)
        assert _gone(child), "the child outlived its killed parent"
    finally:
        _kill_group(parent)


def _kill_group(parent: subprocess.Popen) -> None:
    """SIGKILL whatever is left of the process group started for ``parent``."""
    try:
        os.killpg(parent.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    parent.wait()
