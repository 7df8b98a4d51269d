"""Read a live source (pipe, URL, camera) in a background thread into a small bounded buffer.

Two reasons to read in a thread. First, a consumer can then tell how far *it* is behind the
frames that have arrived (the buffer's depth, in seconds of the source), which is the only
honest reason to skip work on a live source: comparing the wall clock with media timestamps
counts every frame of a source that is merely slower than real time (a slow network, a
paced pipe) as late. Second, the source's blocking reads (and PyAV's Python read callback
for standard input) never run in the main thread, so SIGINT and SIGTERM reach the program
at once, and a stop request ends the stream between two frames.

Only a source that pushes frames in real time whether or not they are read (a camera, RTSP,
RTP/UDP, SRT) reports a lag. A pipe or an HTTP stream waits for its reader (a file piped with
``cat``, a recording fetched over HTTP, or ``ffmpeg`` capturing into a pipe, which does its
own dropping): the full buffer holds the reader back, nothing is lost by waiting, and the
frames are the same as the file's. The buffer is bounded, so memory stays flat either way.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av

CAPACITY = 32  # decoded frames held at most
PUSH_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtp", "udp", "srt", "tcp")  # sources that do not wait for their reader


def pushes_in_real_time(source: str) -> bool:
    """A camera number or a URL of a protocol that sends in real time, read or not."""
    return source.isdigit() or source.split("://", 1)[0].lower() in PUSH_SCHEMES


@dataclass(frozen=True)
class Arrived:
    """A decoded frame, its time in the source (seconds from its first frame), the source's
    frame rate (0 when it does not say) and, for a source that pushes in real time, how far the
    consumer is behind the newest arrived frame (else 0)."""

    frame: av.VideoFrame
    time: float
    behind: float
    fps: float = 0.0


Opener = Callable[[], "tuple[av.container.InputContainer, av.video.stream.VideoStream]"]


class LiveReader:
    """Open a source with ``opener`` and demux and decode it in a daemon thread; iterate
    :meth:`frames` to get them.

    Opening happens in the thread too: FFmpeg probes a source by reading it, which blocks on a
    silent pipe. The thread owns the container and closes it when it ends. ``close()`` (or
    leaving the iteration) asks it to end; a read blocked on a silent source cannot be
    interrupted, so the thread is left to end with that read, never waited for.
    """

    def __init__(self, opener: Opener, *, push: bool) -> None:
        self._opener, self._push = opener, push
        self._fps = 0.0
        self._buffer: deque[tuple[av.VideoFrame, float]] = deque()
        self._done = False  # the reader ended (source finished or failed)
        self._error: BaseException | None = None
        self._closed = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="vidclass-live-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        container = None
        try:
            container, stream = self._opener()
            self._fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            start: float | None = None
            index = -1
            for packet in container.demux(stream):
                for frame in packet.decode():
                    index += 1
                    if frame.time is not None:  # a live source's clock: its timestamps
                        start = frame.time if start is None else start
                        time = float(frame.time - start)
                    else:
                        time = index / self._fps if self._fps else float(index)
                    if not self._put(frame, time):
                        return
                if self._closed.is_set():
                    return
        except BaseException as error:  # handed to the consumer, raised in its thread
            self._error = error
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()
            if container is not None:
                container.close()

    def _put(self, frame: av.VideoFrame, time: float) -> bool:
        with self._changed:
            while len(self._buffer) >= CAPACITY and not self._closed.is_set():
                self._changed.wait(0.1)
            if self._closed.is_set():
                return False
            self._buffer.append((frame, time))
            self._changed.notify_all()
            return True

    def frames(self, stop: threading.Event | None = None) -> Iterator[Arrived]:
        """The frames in order, until the source ends, ``stop`` is set, or the iteration is left.

        An error of the source (opening, demuxing, decoding) is raised here, once the frames
        before it have been given.
        """
        try:
            while True:
                with self._changed:
                    while not self._buffer and not self._done and not (stop is not None and stop.is_set()):
                        self._changed.wait(0.1)
                    if stop is not None and stop.is_set():
                        return
                    if not self._buffer:  # done and drained
                        if self._error is not None:
                            raise self._error
                        return
                    frame, time = self._buffer.popleft()
                    behind = self._buffer[-1][1] - time if self._push and self._buffer else 0.0
                    self._changed.notify_all()
                yield Arrived(frame, time, behind, self._fps)
        finally:
            self.close()

    def close(self) -> None:
        """Ask the reading thread to end (it closes the container); returns at once."""
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
