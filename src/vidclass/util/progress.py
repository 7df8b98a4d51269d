"""Progress of feature extraction on standard error: one bar for `extract`, `train` and the API.

Progress is a log, not a result, so it goes to stderr and never mixes into what a command
prints on stdout (tables, JSON). The bar counts videos and shows the rate in clips/s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

OnVideo = Callable[[str, str], None]  # (path, status) as extract_features calls it


@contextmanager
def extraction_progress(total: int | None, *, enabled: bool = True,
                        description: str = "extracting") -> Iterator[OnVideo]:
    """An ``on_video`` callback for ``extract_features`` that advances a bar on stderr (of ``total`` videos, or
    a count without an end when None: the caller does not know it before the estimator reads the dataset).

    With ``enabled`` false (or nothing to do) the callback does nothing and nothing is drawn.
    """
    if not enabled or (total is not None and total < 1):
        yield lambda path, status: None
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, rate="")
        started = time.perf_counter()

        def advance(path: str, status: str) -> None:
            bar.advance(task)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / max(time.perf_counter() - started, 1e-9):.2f} clips/s")

        yield advance
