"""A bounded queue of work run in worker threads, and the timeline jobs a client polls.

At most ``workers`` jobs run at once and ``waiting`` more may hold a place; a request
beyond those gets :class:`QueueFull` (503 with Retry-After) at once, before its upload is
read, so a busy server neither queues without bound nor fills its disk. A place is held
from the moment a request is accepted until its work has finished; a timeline job gives its
place (and its files) back before it reports itself finished, so a client told that its job
ended, or was cancelled, finds the place free.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vidclass.serve.schemas import ErrorDetail, JobStatus, Timeline


class QueueFull(Exception):
    """Every place in the queue is taken; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the job queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class Cancelled(Exception):
    """Raised inside a job's work when the client cancelled it."""


class Slot:
    """One place in the queue; ``release`` is idempotent."""

    def __init__(self, queue: WorkQueue) -> None:
        self._queue = queue
        self._released = False

    def release(self) -> None:
        with self._queue._lock:
            if not self._released:
                self._released = True
                self._queue._taken -= 1


class WorkQueue:
    """``workers`` threads and ``waiting`` more places; the mean job time sets Retry-After."""

    def __init__(self, workers: int, waiting: int) -> None:
        self.workers = workers
        self.capacity = workers + waiting
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vidclass-job")
        self._lock = threading.Lock()
        self._taken = 0
        self._running = 0
        self._mean_seconds = 1.0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return max(0, self._taken - self._running)

    def reserve(self) -> Slot:
        """A place in the queue, or QueueFull."""
        with self._lock:
            if self._taken >= self.capacity:
                raise QueueFull(max(1, min(60, math.ceil(self._mean_seconds / self.workers))))
            self._taken += 1
        return Slot(self)

    def submit(self, slot: Slot, work: Callable[[], Any]) -> Future:
        """Run ``work`` in a worker thread; ``slot`` is released when it ends, however it ends (or is cancelled)."""

        def run() -> Any:
            started = time.perf_counter()
            with self._lock:
                self._running += 1
            try:
                return work()
            finally:
                with self._lock:
                    self._running -= 1
                    self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * (time.perf_counter() - started)

        try:
            future = self._executor.submit(run)
        except RuntimeError:  # shutting down
            slot.release()
            raise
        future.add_done_callback(lambda _: slot.release())  # also when cancelled before it started
        return future

    def close(self) -> None:
        """Drop the jobs that have not started and wait for the running ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class TimelineJob:
    """The state of one timeline a client polls; its folder holds the upload and the annotated video,
    ``slot`` its place in the queue."""

    def __init__(self, source: str, duration: float, folder: Path, slot: Slot | None = None) -> None:
        self.id = uuid.uuid4().hex
        self.source = source
        self.duration = duration
        self.folder = folder
        self.status: JobStatus = "queued"
        self.progress = 0.0
        self.result: Timeline | None = None
        self.error: ErrorDetail | None = None
        self.video: Path | None = None
        self.finished_at: float | None = None
        self._slot = slot
        self._cancel = threading.Event()
        self._lock = threading.RLock()  # a cancel from a request and the start in a worker: one at a time

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def tick(self, seconds: float) -> None:
        """Record progress at ``seconds`` into the video; raises Cancelled once the job is cancelled."""
        if self._cancel.is_set():
            raise Cancelled
        self.progress = min(1.0, max(self.progress, seconds / self.duration if self.duration > 0 else 0.0))

    def cancel(self) -> None:
        """Stop the job: at once when it waits; a running one stops at its next frame."""
        with self._lock:
            self._cancel.set()
            if self.status == "queued":
                self._finish("cancelled")

    def start(self) -> bool:
        """Mark the job running; False when it was cancelled while it waited."""
        with self._lock:
            if self._cancel.is_set():
                self._finish("cancelled")
                return False
            self.status = "running"
            return True

    def succeed(self, result: Timeline, video: Path | None) -> None:
        self.result, self.video, self.progress = result, video, 1.0
        self._finish("done")

    def fail(self, error: ErrorDetail) -> None:
        self.error = error
        self._finish("failed")

    def stop(self) -> None:
        self._finish("cancelled")

    def _finish(self, status: JobStatus) -> None:
        """The upload (and the folder, unless it holds the annotated video) and the queue place go
        first, then the status says the job ended."""
        with self._lock:
            if self.finished:
                return
            if self.video is None:
                shutil.rmtree(self.folder, ignore_errors=True)
            else:
                (self.folder / "upload").unlink(missing_ok=True)
            if self._slot is not None:
                self._slot.release()
            self.status = status
            self.finished_at = time.monotonic()


class JobStore:
    """Timeline jobs by id; finished ones are forgotten, with their files, after ``ttl`` seconds."""

    def __init__(self, ttl: float, keep: int = 256) -> None:
        self.ttl = ttl
        self.keep = keep
        self._jobs: dict[str, TimelineJob] = {}
        self._lock = threading.Lock()

    def add(self, job: TimelineJob) -> None:
        self.expire()
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> TimelineJob | None:
        self.expire()
        with self._lock:
            return self._jobs.get(job_id)

    def remove(self, job: TimelineJob) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def expire(self) -> None:
        """Forget finished jobs older than ``ttl`` and the oldest finished ones beyond ``keep``."""
        now = time.monotonic()
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.finished_at is not None), key=lambda j: j.finished_at)
            old = [j for j in finished if now - j.finished_at > self.ttl] + finished[: max(0, len(finished) - self.keep)]
        for job in old:
            self.remove(job)

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
