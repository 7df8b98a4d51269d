"""Long recordings and labeled segments cut into clips, split honestly, without clip files.

A catalog item is a *source*: a whole recording (one label per file) or a labeled segment
of one (:mod:`vidclass.data.segments`). A :class:`ClipPlan` says how sources become clips:

``random:N:2-4s``  N clips of 2 to 4 s per source at random positions; training draws new
                   positions every epoch (inside the clip's time block);
``fixed:3s``       consecutive 3 s windows, as ``ffmpeg -f segment`` cuts them.

Splits never put clips of one recording on both sides. With at least
:data:`MIN_RECORDINGS_PER_CLASS` recordings (groups) per class the split is by recording
(a stratified group split). With fewer, every source is cut into contiguous time blocks
(train, val, test, train: training time at both ends), and wherever blocks of different parts
meet in a recording a gap at least one clip long is left out, so no test clip overlaps (or
touches) a training clip.
Sources too short for three blocks go whole to the part that most needs their class.

What the clips are made of (feature tracks, cut per clip) is in :mod:`vidclass.inputs.tracks`.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidclass.data.items import SPLITS, Catalog, VideoItem
from vidclass.data.splits import group_split
from vidclass.errors import ConfigError, DatasetError
from vidclass.media import video

MIN_RECORDINGS_PER_CLASS = 3  # fewer recordings (groups) of a class: split by time blocks
_PLAN = re.compile(r"^(?:random:(\d+):([\d.]+)(?:-([\d.]+))?s?|fixed:([\d.]+)s?)$")


# --- clip plans -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipPlan:
    """How sources become clips: ``random`` (``count`` per source, ``shortest``-``longest`` s) or ``fixed``."""

    mode: str
    shortest: float
    longest: float
    count: int = 0

    @classmethod
    def parse(cls, text: str) -> ClipPlan:
        """``random:N:2-4s``, ``random:N:3s`` or ``fixed:3s``; ConfigError naming the forms otherwise."""
        match = _PLAN.match(text.strip().lower())
        if not match:
            raise ConfigError(f"--clips must look like random:N:2-4s (N clips of 2-4 s per recording) or fixed:3s; "
                              f"got {text!r}")
        count, low, high, fixed = match.groups()
        if fixed is not None:
            plan = cls("fixed", float(fixed), float(fixed))
        else:
            plan = cls("random", float(low), float(high if high is not None else low), int(count))
        if not 0 < plan.shortest <= plan.longest or (plan.mode == "random" and plan.count < 1):
            raise ConfigError(f"--clips {text!r}: lengths must be positive (shortest first) and N at least 1")
        return plan

    def __str__(self) -> str:
        if self.mode == "fixed":
            return f"fixed:{self.longest:g}s"
        span = f"{self.shortest:g}" + (f"-{self.longest:g}" if self.longest != self.shortest else "")
        return f"random:{self.count}:{span}s"

    @property
    def seconds(self) -> float:
        """The typical clip length (the middle of the range): the window a timeline uses."""
        return (self.shortest + self.longest) / 2


def default_plan(catalog: Catalog) -> ClipPlan:
    """Segment datasets without ``--clips``: consecutive 2 s windows inside the segments."""
    return ClipPlan("fixed", 2.0, 2.0)


# --- sources, blocks and clips ----------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A labeled time range the features are cached for: a whole recording or one segment of it."""

    path: Path
    start: float
    end: float
    label: str
    group: str  # the recording, unless the dataset gives groups
    split: str | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Block:
    """A contiguous part of a source that one split part owns: clips are drawn inside it."""

    source: int  # index into the sources
    start: float
    end: float
    part: str


@dataclass(frozen=True)
class Clip:
    """One clip: a time range of a block (a training clip may move inside its block each epoch)."""

    block: Block
    start: float
    end: float


@dataclass
class RecordingSplits:
    """Sources, their blocks per part, the clips, and how the split was made."""

    sources: list[Source]
    blocks: list[Block]
    clips: dict[str, list[Clip]]
    plan: ClipPlan
    method: str
    seed: int
    gap: float = 0.0

    def label(self, clip: Clip) -> str:
        return self.sources[clip.block.source].label

    def path(self, clip: Clip) -> Path:
        return self.sources[clip.block.source].path


def sources_of(catalog: Catalog) -> list[Source]:
    """The catalog's items as sources (a whole file spans 0 to its probed duration)."""
    sources = []
    for item in catalog.items:
        start, end = item.span or (0.0, _duration(catalog.infos.get(item.path) or video.probe(item.path)))
        if end - start <= 0:
            continue
        sources.append(Source(item.path, start, end, item.label, item.group or str(item.path), item.split))
    if not sources:
        raise DatasetError(f"{catalog.root}: no recording has a positive duration")
    return sources


def split_recordings(
    catalog: Catalog, plan: ClipPlan, *, val: float = 0.15, test: float = 0.15, seed: int = 0
) -> RecordingSplits:
    """Blocks per part and their clips: by recording with enough of them, else by time blocks."""
    if val + test >= 1 or val < 0 or test < 0:
        raise ConfigError(f"val and test must be fractions with val + test < 1; got {val} and {test}")
    sources = sources_of(catalog)
    fractions = {name: f for name, f in (("train", 1 - val - test), ("val", val), ("test", test)) if f > 0}
    given = [s.split for s in sources]
    groups_per_class = {label: len({s.group for s in sources if s.label == label}) for label in catalog.labels}
    fewest = min((n for n in groups_per_class.values() if n), default=0)
    if all(given):
        blocks = [Block(i, s.start, s.end, s.split) for i, s in enumerate(sources)]  # type: ignore[arg-type]
        method = "given (split column)"
    elif any(given):
        raise DatasetError(f"{catalog.root}: {given.count(None)} of {len(given)} segments have no split; "
                           "give every segment a split, or none")
    elif fewest >= MIN_RECORDINGS_PER_CLASS:
        items = [VideoItem(s.path, s.label, s.group) for s in sources]
        parts, how = group_split(items, fractions, seed)
        part_of = {id(item): name for name, part in parts.items() for item in part}
        blocks = [Block(i, s.start, s.end, part_of[id(items[i])]) for i, s in enumerate(sources)]
        method = f"by recording: {how.replace('stratified group split', 'stratified split of recordings')}"
    else:
        blocks = _time_blocks(sources, fractions, plan.longest)
        method = (f"by time blocks: {fewest} recording{'s' if fewest != 1 else ''} of the rarest class "
                  f"(< {MIN_RECORDINGS_PER_CLASS}), so each recording or segment is cut into contiguous time blocks "
                  f"(train, val, test, train) with gaps of {plan.longest:g} s (one clip) between parts")
    blocks = _with_gaps(blocks, sources, plan.longest, plan.shortest)
    clips = draw_clips(blocks, sources, plan, seed)
    return RecordingSplits(sources, blocks, clips, plan, method, seed, gap=plan.longest)


def _time_blocks(sources: list[Source], fractions: dict[str, float], clip: float) -> list[Block]:
    """Each source long enough cut into train (first half), val, test, train (second half) by
    ``fractions``, room left for the gaps between parts; the others whole to the part whose share
    of their class lags most. Training time at both ends means that sources which meet in a
    recording (segments) meet train to train, with no time lost to a gap there."""
    names = list(fractions)
    layout = ["train", *[name for name in names if name != "train"], "train"] if len(names) > 1 else names
    gaps = (len(layout) - 1) * clip
    blocks: list[Block] = []
    short = []
    for i, source in enumerate(sources):
        usable = source.seconds - gaps
        lengths = [usable * fractions[name] / layout.count(name) for name in layout]
        if usable <= 0 or min(lengths) < clip:
            short.append(i)
            continue
        t = source.start
        for name, length in zip(layout, lengths):
            blocks.append(Block(i, t, t + length, name))
            t += length + clip  # the gap is cut out of the following block by _with_gaps
        blocks[-1] = Block(i, blocks[-1].start, source.end, blocks[-1].part)
    have: dict[str, Counter[str]] = {name: Counter() for name in names}
    for block in blocks:
        have[block.part][sources[block.source].label] += block.end - block.start
    for i in sorted(short, key=lambda i: -sources[i].seconds):
        label = sources[i].label
        total = sum(have[name][label] for name in names) + sources[i].seconds
        name = max(names, key=lambda n: fractions[n] * total - have[n][label])
        have[name][label] += sources[i].seconds
        blocks.append(Block(i, sources[i].start, sources[i].end, name))
    return blocks


def _with_gaps(blocks: list[Block], sources: list[Source], gap: float, shortest: float) -> list[Block]:
    """Blocks trimmed so that blocks of different parts in one recording lie ``gap`` apart (the
    non-training block gives up the time); blocks left shorter than one clip are dropped."""
    by_recording: dict[Path, list[Block]] = defaultdict(list)
    for block in blocks:
        by_recording[sources[block.source].path].append(block)
    kept = []
    for recording in by_recording.values():
        recording.sort(key=lambda b: b.start)
        out: list[Block] = []
        for block in recording:
            start, end = block.start, block.end
            previous = next((b for b in reversed(out) if b.part != block.part), None)
            if previous is not None and start < previous.end + gap:
                if block.part != "train" or previous.part == "train":
                    start = previous.end + gap
                else:  # keep the training block whole where it follows: trim the one before it
                    out[out.index(previous)] = Block(previous.source, previous.start, start - gap, previous.part)
            if end - start >= shortest - 1e-9:
                out.append(Block(block.source, start, end, block.part))
        kept += [b for b in out if b.end - b.start >= shortest - 1e-9]
    return sorted(kept, key=lambda b: (b.source, b.start))


def draw_clips(blocks: list[Block], sources: list[Source], plan: ClipPlan, seed: int) -> dict[str, list[Clip]]:
    """The clips of every part: consecutive windows (``fixed``), or ``count`` random clips per source
    shared among its blocks by their length (``random``)."""
    clips: dict[str, list[Clip]] = {name: [] for name in SPLITS}
    rng = np.random.default_rng(seed)
    by_source: dict[int, list[Block]] = defaultdict(list)
    for block in blocks:
        by_source[block.source].append(block)
    for index in sorted(by_source):
        own = by_source[index]
        if plan.mode == "fixed":
            for block in own:
                n = int((block.end - block.start + 1e-9) // plan.longest)
                clips[block.part] += [Clip(block, block.start + k * plan.longest, block.start + (k + 1) * plan.longest)
                                      for k in range(n)]
            continue
        lengths = np.array([b.end - b.start for b in own])
        counts = _largest_remainder(plan.count, lengths)
        for block, n in zip(own, counts):
            clips[block.part] += [random_clip(block, plan, rng) for _ in range(n)]
    return clips


def random_clip(block: Block, plan: ClipPlan, rng: np.random.Generator) -> Clip:
    """A clip of ``plan.shortest``-``plan.longest`` s at a random position inside ``block``."""
    room = block.end - block.start
    length = min(room, float(rng.uniform(plan.shortest, plan.longest)))
    start = block.start + float(rng.uniform(0, room - length))
    return Clip(block, start, start + length)


def _largest_remainder(total: int, weights: np.ndarray) -> list[int]:
    share = total * weights / weights.sum()
    counts = np.floor(share).astype(int)
    for i in np.argsort(-(share - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def overlapping(a: Sequence[tuple[Path, float, float]], b: Sequence[tuple[Path, float, float]]) -> int:
    """How many pairs of time ranges, one from each list, of the same file overlap (a test aid, and
    the summary's proof)."""
    by_file: dict[Path, list[tuple[float, float]]] = defaultdict(list)
    for path, start, end in b:
        by_file[path].append((start, end))
    return sum(start < e and s < end for path, start, end in a for s, e in by_file.get(path, ()))


# --- describing ------------------------------------------------------------------------------


@dataclass
class RecordingSummary:
    """What ``vidclass data`` says of a dataset of recordings or segments cut into clips."""

    root: Path
    source_format: str
    labels: list[str]
    plan: str
    recordings: int
    sources: int
    hours: float
    clips_per_class_and_split: dict[str, dict[str, int]]
    seconds_per_class: dict[str, float]
    split_method: str
    gap_s: float
    overlaps_across_parts: int
    problems: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["root"] = str(self.root)
        return data


def describe(catalog: Catalog, splits: RecordingSplits) -> RecordingSummary:
    """Recordings, sources, hours, clips per class and part, and how the split was made."""
    per = {label: {name: 0 for name in SPLITS} for label in catalog.labels}
    for name, clips in splits.clips.items():
        for clip in clips:
            per[splits.label(clip)][name] += 1
    seconds = Counter()
    for source in splits.sources:
        seconds[source.label] += source.seconds
    ranges = {name: [(splits.path(c), c.block.start, c.block.end) for c in clips] for name, clips in splits.clips.items()}
    crossing = overlapping(ranges["test"] + ranges["val"], ranges["train"]) + overlapping(ranges["test"], ranges["val"])
    return RecordingSummary(
        root=catalog.root, source_format=catalog.source_format, labels=list(catalog.labels), plan=str(splits.plan),
        recordings=len({s.path for s in splits.sources}), sources=len(splits.sources),
        hours=sum(seconds.values()) / 3600, clips_per_class_and_split=per,
        seconds_per_class={label: round(seconds[label], 3) for label in catalog.labels},
        split_method=splits.method, gap_s=splits.gap, overlaps_across_parts=crossing,
        problems=[{"path": str(p.path), "reason": p.reason} for p in catalog.problems],
    )


def format_summary(summary: dict[str, Any]) -> Iterator[str]:
    """Lines of the table and notes ``vidclass data`` prints for recordings."""
    width = max(len(label) for label in summary["labels"] + ["class"])
    yield f"{summary['root']}  ({summary['source_format']}, clips {summary['plan']})"
    yield f"{'class':<{width}}  {'train':>6} {'val':>6} {'test':>6}  {'minutes':>8}"
    for label in summary["labels"]:
        row = summary["clips_per_class_and_split"][label]
        yield (f"{label:<{width}}  {row['train']:>6} {row['val']:>6} {row['test']:>6}  "
               f"{summary['seconds_per_class'][label] / 60:>8.1f}")
    clips = sum(sum(row.values()) for row in summary["clips_per_class_and_split"].values())
    yield (f"{summary['recordings']} recordings, {summary['sources']} labeled ranges, {clips} clips, "
           f"{summary['hours']:.2f} hours")
    yield f"split: {summary['split_method']}"
    yield f"clip time ranges overlapping across parts: {summary['overlaps_across_parts']}"
    for problem in summary["problems"]:
        yield f"left out {problem['path']}: {problem['reason']}"


def _duration(info: video.VideoInfo) -> float:
    if info.duration and math.isfinite(info.duration):
        return float(info.duration)
    return float(info.num_frames) / float(info.fps) if info.num_frames and info.fps else 0.0


def median_seconds(clips: Sequence[Clip]) -> float:
    return statistics.median(c.end - c.start for c in clips)
