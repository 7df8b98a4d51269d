"""Decode workers die with their parent: kill -9 of `vidclass extract` leaves no orphan behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.util import workers


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # dead, waiting for whoever adopted it to reap it
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_decode_workers_die_when_extract_is_killed(tmp_path: Path) -> None:
    dataset = make_direction_dataset(tmp_path / "set", SyntheticSpec(clips_per_class=60, seconds=1.0, fps=8, size=96))
    args = [
        sys.executable, "-m", "vidclass", "extract", str(dataset), "--backbone", "timm:mobilenetv3_small_050",
        "--pretrained", "none", "--frames", "4", "--workers", "2", "--cache", str(tmp_path / "cache"),
    ]
    with open(tmp_path / "extract.log", "wb") as log:
        parent = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and parent.poll() is None and len(workers) < 2:
            workers = psutil.Process(parent.pid).children()
            time.sleep(0.05)
        assert len(workers) == 2, (tmp_path / "extract.log").read_text()
        os.kill(parent.pid, signal.SIGKILL)  # the parent only, as an OOM killer or `kill -9 PID` would
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(_gone(worker) for worker in workers):
            time.sleep(0.1)
        alive = [worker.pid for worker in workers if not _gone(worker)]
    finally:
        _kill_group(parent)  # never leave a worker behind, even when the test fails
    assert alive == [], f"decode workers {alive} outlived their killed parent"


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
