"""The data shape strategy: how a dataset becomes units to train on and score, whatever the task and seam.

Two shapes: :class:`WholeFiles` (each video one unit, split by group) and :class:`RecordingClips` (long
recordings or labeled segments cut into clips, split by recording or by time blocks,
:mod:`vidclass.data.recordings`). The estimator core runs one fit for both
(:meth:`vidclass.estimator.core.VideoEstimator._fit_shape`): build the seam's network, ``prepare`` the units
(caching what the seam reads: per video, or per source as a track from which clips are cut, new clip
positions every epoch for random plans), learn the task's targets, train, record, score the test part and
write the run. A model fitted on clips is an ordinary model of its kind: its bundle, ``predict`` and
timelines are the usual ones, with the clip length as the timeline's window; ``training_["clips"]`` records
the plan, the split and the test blocks, so a later segment evaluation scores only time the model never
trained on.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vidclass.data.catalog import left_out
from vidclass.data.items import Catalog
from vidclass.data.recordings import ClipPlan, RecordingSplits, default_plan, split_recordings
from vidclass.errors import ConfigError
from vidclass.estimator.seams import Progress, Seam
from vidclass.inputs.features import fingerprint
from vidclass.inputs.units import TrackClips, Units, entries


@dataclass
class Prepared:
    """The units of every part (train, val, test) whose inputs could be prepared, as the core trains and scores
    them: ``examples`` (what the seam's datasets read), ``labels`` (classes or numbers), ``readable(part)``
    (what the model's outputs read), the failures, the timeline's window, the videos and groups trained on,
    and the test units' names and groups."""

    units: dict[str, list[Any]]
    examples: dict[str, Units]
    labels: dict[str, list[Any]]
    readable: Callable[[str], list[Any]]
    failed: dict[str, str]
    seconds: float
    used: list[Path]
    groups: list[str]
    names: list[str]
    test_groups: list[str | None]


class Shape(Protocol):
    """What the core asks of a data shape."""

    config: dict[str, Any]  # what the run's config.json says of the dataset and split
    record: dict[str, Any]  # what the bundle's training record says of them
    left_out: dict[str, str]  # items dropped before preparing (path -> reason)
    notes: list[str]  # what the evaluation says of the shape
    images: bool  # a folder of images (one frame per item)
    scored_groups: bool  # the evaluation files name each test unit's group

    def prepare(self, model, seam: Seam, on_video: Progress | None) -> Prepared: ...


@dataclass
class WholeFiles:
    """Each video one unit: ``parts`` maps train / val / test to units (a ``path`` and a ``group`` each: catalog
    items, or numeric targets) whose ``label(unit)`` is a class or a number."""

    paths: list[Path]
    parts: dict[str, list[Any]]
    label: Callable[[Any], Any]
    config: dict[str, Any]
    record: dict[str, Any]
    left_out: dict[str, str]
    images: bool = False
    notes: list[str] = field(default_factory=list)
    scored_groups: bool = False

    def prepare(self, model, seam: Seam, on_video: Progress | None) -> Prepared:
        """The seam's inputs of every video (cached; the units whose video cannot be prepared are left out)."""
        inputs, failed = seam.inputs(model, self.paths, on_video)
        parts = {name: [unit for unit in units if unit.path in inputs] for name, units in self.parts.items()}
        if not parts["train"]:
            raise ConfigError("no training videos: the training split is empty")
        used = parts["train"] + parts["val"]
        return Prepared(
            units=parts,
            examples={name: seam.units(model, [inputs[unit.path] for unit in units]) for name, units in parts.items()},
            labels={name: [self.label(unit) for unit in units] for name, units in parts.items()},
            readable=lambda name: [inputs[unit.path] for unit in parts[name]],
            failed=failed,
            seconds=statistics.median(seam.duration(model, inputs[unit.path]) for unit in used),
            used=[unit.path for unit in used],
            groups=sorted({unit.group for unit in used if unit.group is not None}),
            names=[str(unit.path) for unit in parts["test"]],
            test_groups=[unit.group for unit in parts["test"]],
        )


class RecordingClips:
    """Clips of ``found``'s recordings or segments (``plan``: the model's ``clips`` option, else the dataset's
    default), split by recording or by time blocks."""

    images, scored_groups = False, True

    def __init__(self, found: Catalog, plan: ClipPlan | None, *, val: float, test: float, seed: int) -> None:
        self.found, self.plan = found, plan or default_plan(found)
        self.splits = split_recordings(found, self.plan, val=val, test=test, seed=seed)
        self.config = {"dataset": str(found.root), "clips": str(self.plan), "split": self.splits.method}
        self.record = {"dataset": str(found.root), "format": found.source_format, "split": self.splits.method,
                       "split_seed": seed, "clips": clips_record(self.splits), "clip_seconds": self.plan.seconds}
        self.left_out = left_out(found)
        self.notes = [f"clips {self.plan}; split {self.splits.method}"]

    def prepare(self, model, seam: Seam, on_video: Progress | None) -> Prepared:
        """The tracks of the model's seam (feature tracks, with pose beside them for pose inputs, or decoded-frame
        tracks) of every source, and the clips whose source has one."""
        splits = self.splits
        tracks, failed = seam.tracks(model, splits, on_video)
        parts = {name: [c for c in clips if c.block.source in tracks] for name, clips in splits.clips.items()}
        if not parts["train"]:
            raise ConfigError(f"{self.found.root}: no training clip: the recordings are too short for clips "
                              f"{splits.plan}")
        clips = {name: TrackClips(parts[name], tracks, splits.plan, model.view_.grid) for name in parts}
        return Prepared(
            units=parts,
            examples=dict(clips),
            labels={name: [splits.label(c) for c in units] for name, units in parts.items()},
            readable=lambda name: entries(clips[name]),
            failed=failed,
            seconds=self.plan.seconds,
            used=sorted({splits.sources[c.block.source].path for name in ("train", "val") for c in parts[name]}),
            groups=[],
            names=[f"{splits.path(c)}#t={c.start:.2f},{c.end:.2f}" for c in parts["test"]],
            test_groups=[splits.sources[c.block.source].group for c in parts["test"]],
        )


def clips_record(splits: RecordingSplits) -> dict[str, Any]:
    """What a bundle keeps of a clip split: the plan, the method, and every block per part by
    recording fingerprint, so evaluations know which time the model trained on."""
    prints = {s.path: fingerprint(s.path) for s in splits.sources}
    return {
        "plan": str(splits.plan), "method": splits.method, "gap_s": splits.gap,
        "blocks": [{"fingerprint": prints[splits.sources[b.source].path], "start": round(b.start, 3),
                    "end": round(b.end, 3), "part": b.part} for b in splits.blocks],
    }


def recording_shape(model, found: Catalog) -> RecordingClips:
    """The recordings shape of ``model``'s settings (its ``clips`` plan, split fractions and seed)."""
    plan = ClipPlan.parse(model.clips) if model.clips else None
    return RecordingClips(found, plan, val=model.val, test=model.test, seed=model.seed)

