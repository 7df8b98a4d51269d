"""Stop a long run cleanly on Ctrl-C or SIGTERM: the first signal asks, a second one insists.

A live timeline never ends by itself (a camera, an RTSP stream), so an interruption is its
normal end: the first SIGINT or SIGTERM only sets an event that the stream checks between
frames, and the run finishes its current batch and writes every output. A second signal
raises ``KeyboardInterrupt`` as usual, for a run that does not stop quickly enough.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StopRequest:
    """Set by the first signal: ``event`` for the run to check, ``signal`` the one that came."""

    event: threading.Event = field(default_factory=threading.Event)
    signal: signal.Signals | None = None

    @property
    def exit_code(self) -> int:
        """The shell's code for a run ended by this signal (130 for SIGINT, 143 for SIGTERM), else 0."""
        return 128 + int(self.signal) if self.signal is not None else 0


@contextmanager
def stop_on_signals(signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[StopRequest]:
    """Within the block, the first of ``signals`` sets the request; a second raises KeyboardInterrupt.

    Handlers can only be installed from the main thread; elsewhere the request never fires.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(number: int, frame: object) -> None:
        if request.event.is_set():
            raise KeyboardInterrupt
        request.signal = signal.Signals(number)
        request.event.set()

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
