"""The frame callback of a timeline that draws the current labels and writes them to video.

Shared by ``vidclass timeline --out/--gif`` and ``vidclass serve``: given to
:func:`vidclass.use.predict.run_timeline` as ``annotate``, it draws the top labels of the
latest smoothed prediction on each frame and writes the frame to an mp4 and / or a GIF.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vidclass.estimator.tasks import ranked
from vidclass.media import video
from vidclass.media.render import AnnotatedVideoWriter, GifWriter, draw_label

FrameCallback = Callable[[np.ndarray, float, "np.ndarray | None"], None]


@contextlib.contextmanager
def annotation(
    labels: Sequence[str],
    source: str | Path,
    *,
    out: Path | None = None,
    gif: Path | None = None,
    gif_range: tuple[float, float] | None = None,
    top_k: int = 3,
    pose: Callable[[np.ndarray, float], np.ndarray] | None = None,
    values: bool = False,
) -> Iterator[FrameCallback | None]:
    """The callback writing annotated frames of ``source`` to ``out`` (mp4) and ``gif``; None when neither.

    ``pose(frame, time)`` (:class:`vidclass.inputs.pose.overlay.PoseOverlay`) draws skeletons first.
    With ``values`` (a regression model's timeline) the box shows ``name value`` instead of ranked labels.

    The files appear when the ``with`` block ends normally; an exception inside it
    leaves none behind (the writers are atomic). A live source is written at 30 fps.
    """
    if out is None and gif is None:
        yield None
        return
    fps = 30.0 if video.is_live_source(source) else video.probe(source).fps
    with contextlib.ExitStack() as stack:
        writers = []
        if out is not None:
            writers.append(stack.enter_context(AnnotatedVideoWriter(out, fps)))
        if gif is not None:
            writers.append(stack.enter_context(GifWriter(gif, fps, time_range=gif_range)))

        def annotate(frame: np.ndarray, time: float, probabilities: np.ndarray | None) -> None:
            if pose is not None:
                frame = pose(frame, time)
            if probabilities is not None and values:
                frame = draw_label(frame, f"{labels[0]} {float(probabilities[0]):.3g}", [])
            elif probabilities is not None:
                top = ranked(probabilities, labels, top_k)
                frame = draw_label(frame, top[0][0], top)
            for writer in writers:
                writer.write(frame)

        yield annotate
