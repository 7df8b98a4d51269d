"""A timeline's CSV written row by row as windows complete, for long and live runs.

A live timeline may run for hours and end by a signal or a crash; its ``--csv`` then holds
every window done so far, one flushed line each (``tail -f`` works). The columns are those
of :meth:`vidclass.use.timeline.TimelineResult.write_csv`, which replaces the file atomically
with the final version when the run ends normally.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import TextIO

import numpy as np


class TimelineCsvLog:
    """``with TimelineCsvLog(path, labels) as log: log.window(start, end, raw, smoothed)``."""

    def __init__(self, path: str | Path, labels: list[str]) -> None:
        self.path, self.labels = Path(path), list(labels)
        self._file: TextIO | None = None

    def __enter__(self) -> TimelineCsvLog:
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(
            ["start", "end", "label"] + [f"raw_{c}" for c in self.labels] + [f"smooth_{c}" for c in self.labels]
        )
        self._file.flush()
        return self

    def window(self, start: float, end: float, raw: np.ndarray, smoothed: np.ndarray) -> None:
        """Append one window (its smoothed top label, then raw and smoothed probabilities) and flush."""
        assert self._file is not None, "use TimelineCsvLog in a with block"
        label = self.labels[int(np.argmax(smoothed))]
        self._writer.writerow([float(start), float(end), label, *np.asarray(raw).tolist(),
                               *np.asarray(smoothed).tolist()])
        self._file.flush()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._file is not None:
            self._file.close()
