"""The data shape, as the training datasets of both seams see it: what the ``index``-th unit's entry is.

A whole file is an entry of its own (its cached feature grid, or its decoded-frame cache entry read
from disk); a clip of a long recording or segment is cut from its source's track (a feature track,
:mod:`vidclass.inputs.tracks`, or a frame track, :mod:`vidclass.inputs.frame_cache`), at a new
position inside its block every epoch for random clip plans. The seams' datasets
(:class:`vidclass.inputs.views.GridViews`, :class:`vidclass.inputs.pixels.ClipTensors`) take units and
targets, so one dataset per seam serves both shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from vidclass.data.recordings import Clip, ClipPlan, random_clip

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Units(Protocol[T_co]):
    """What a dataset draws from: ``len`` units, each giving its entry (``rng``: a training draw, else None)."""

    def __len__(self) -> int: ...

    def entry(self, index: int, rng: np.random.Generator | None) -> T_co: ...


class Files(Generic[T]):
    """Whole files: each unit's entry as given, or read by ``read`` (entries on disk, read when drawn)."""

    def __init__(self, entries: Sequence[Any], read: Callable[[Any], T] | None = None) -> None:
        self.entries, self.read = list(entries), read

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, index: int, rng: np.random.Generator | None) -> T:
        return self.read(self.entries[index]) if self.read is not None else self.entries[index]


class Track(Protocol[T_co]):
    """A source's track: the entry of ``grid`` frames spread over ``start``-``end`` seconds."""

    def grid(self, start: float, end: float, grid: int) -> T_co: ...


class TrackClips(Generic[T]):
    """Clips cut from their sources' tracks, ``grid`` frames each: with ``rng`` (a training draw) and a random
    plan, a new clip position inside the clip's block; else the clip as drawn."""

    def __init__(self, clips: Sequence[Clip], tracks: dict[int, Track[T]], plan: ClipPlan, grid: int) -> None:
        self.clips, self.tracks, self.plan, self.grid = list(clips), tracks, plan, grid

    def __len__(self) -> int:
        return len(self.clips)

    def drawn(self, index: int, rng: np.random.Generator | None) -> Clip:
        """The clip unit ``index`` shows for this draw."""
        clip = self.clips[index]
        return random_clip(clip.block, self.plan, rng) if rng is not None and self.plan.mode == "random" else clip

    def entry(self, index: int, rng: np.random.Generator | None) -> T:
        clip = self.drawn(index, rng)
        return self.tracks[clip.block.source].grid(clip.start, clip.end, self.grid)


def entries(units: Units[T]) -> list[T]:
    """Every unit's entry as it is (no training draw): what evaluation and input statistics see."""
    return [units.entry(i, None) for i in range(len(units))]
