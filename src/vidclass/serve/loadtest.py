"""A real ``vidclass serve`` process on the loopback interface, and a bounded load test of it.

Used by the tests and ``benchmarks/serve.py``. :func:`running_server` starts the server
in its own process on a free 127.0.0.1 port and stops it afterwards; :func:`load_test`
sends a fixed number of uploads from a few concurrent clients, honouring 503 +
Retry-After, and measures latency and the server's peak memory. Every loop is bounded
in count and time, and traffic only ever goes to the address it is given.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vidclass.errors import VidclassError


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(
    model_dir: str | Path, *options: str, log: Path, env: dict[str, str] | None = None, timeout: float = 120.0,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``vidclass serve MODEL --port P OPTIONS...`` in a child process: yields (base URL, process).

    Waits until ``/healthz`` answers (at most ``timeout`` seconds); the server's log goes
    to ``log``. The process is stopped (SIGTERM, then SIGKILL) when the block ends.
    """
    port = free_port()
    command = [sys.executable, "-m", "vidclass", "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
               *options]
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise VidclassError(f"vidclass serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise VidclassError(f"vidclass serve did not answer /healthz within {timeout:g} s:\n"
                                    f"{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class LoadReport:
    """What a load test saw: every upload's outcome, latencies of the answers, the server's peak memory."""

    uploads: int
    clients: int
    seconds: float
    statuses: Counter = field(default_factory=Counter)  # HTTP status of every response, 503s included
    outcomes: list[int] = field(default_factory=list)  # final status per upload (-1: no answer)
    labels: Counter = field(default_factory=Counter)  # top label of every 200
    latencies: list[float] = field(default_factory=list)  # seconds of each 200 response
    turnarounds: list[float] = field(default_factory=list)  # seconds from an upload's first try to its 200
    peak_rss_mb: float | None = None

    @property
    def answered(self) -> int:
        return sum(1 for status in self.outcomes if status > 0)

    def percentile(self, q: float, *, turnaround: bool = False) -> float:
        """The ``q``-th percentile (0-100) of the 200 latencies (or of the turnarounds), in seconds."""
        values = self.turnarounds if turnaround else self.latencies
        if len(values) < 2:
            return values[0] if values else float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def load_test(
    url: str, clip: Path, *, uploads: int = 50, clients: int = 8, headers: dict[str, str] | None = None,
    server_pid: int | None = None, max_attempts: int = 60, deadline_s: float = 300.0,
) -> LoadReport:
    """POST ``clip`` to ``url``/v1/predict ``uploads`` times from ``clients`` threads.

    A 503 is retried after its Retry-After (at most ``max_attempts`` tries per upload, and
    never past ``deadline_s``); every response's status is counted. With ``server_pid``
    the server's resident memory is sampled, and its peak (VmHWM on Linux) reported.
    """
    data = Path(clip).read_bytes()
    report = LoadReport(uploads=uploads, clients=clients, seconds=0.0, outcomes=[-1] * uploads)
    lock = threading.Lock()
    end = time.monotonic() + deadline_s
    sampler = _MemorySampler(server_pid) if server_pid is not None else None

    def upload(index: int, client: httpx.Client) -> None:
        first = time.perf_counter()
        for _ in range(max_attempts):
            if time.monotonic() > end:
                return
            started = time.perf_counter()
            response = client.post(f"{url}/v1/predict", files={"file": (Path(clip).name, data, "video/mp4")},
                                   headers=headers)
            seconds = time.perf_counter() - started
            with lock:
                report.statuses[response.status_code] += 1
                report.outcomes[index] = response.status_code
                if response.status_code == 200:
                    report.latencies.append(seconds)
                    report.turnarounds.append(time.perf_counter() - first)
                    report.labels[response.json()["label"]] += 1
            if response.status_code != 503:
                return
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))

    def client_loop(indices: Sequence[int]) -> None:
        with httpx.Client(timeout=120) as client:
            for index in indices:
                upload(index, client)

    started = time.perf_counter()
    with sampler or contextlib.nullcontext():
        with ThreadPoolExecutor(max_workers=clients) as pool:
            for result in [pool.submit(client_loop, range(c, uploads, clients)) for c in range(clients)]:
                result.result()
    report.seconds = time.perf_counter() - started
    report.peak_rss_mb = sampler.peak_mb if sampler is not None else None
    return report


class _MemorySampler:
    """The peak resident memory of a process while the ``with`` block runs (VmHWM where Linux has it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> float:
        import psutil

        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return psutil.Process(self.pid).memory_info().rss / 2**20

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mb = max(self.peak_mb, self._read())

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._read())
