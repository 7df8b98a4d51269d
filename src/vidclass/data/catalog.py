"""Labeled video datasets: ``load_catalog(source)`` finds the clips, their labels and groups.

The layouts it reads (folders, split folders, CSV, UCF101, MMAction2 lists) are in
:mod:`vidclass.data.formats`; a CSV with ``start`` and ``end`` columns is a segment CSV
(:mod:`vidclass.data.segments`).

Groups (clips that share a source: same scene, camera, people) keep a split honest. They come
from a group column, else from ``group_regex`` over the file name (its first capture group, or
the whole match). When neither is given and every file name looks like UCF101's
``v_<Class>_gNN_cNN.ext``, the UCF101 group regex is used; ``group_regex=""`` turns that off.

After reading, ``drop_unreadable`` probes every file and leaves out what cannot be decoded;
``check_trainable`` and ``dataset_warnings`` say what stops or weakens training. Splits are in
:mod:`vidclass.data.splits`, descriptions in :mod:`vidclass.data.summary`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vidclass.data import segments
from vidclass.data.formats import (
    FORMATS,
    UCF_GROUP_REGEX,
    Read,
    catalog_csvs,
    check_columns,
    detect_format,
    read_csvs,
    read_folders,
    read_mmaction,
    read_split_folders,
    read_ucf101,
    why_nothing_found,
)
from vidclass.data.items import Catalog, Problem, VideoItem
from vidclass.errors import ConfigError, DatasetError, VideoReadError
from vidclass.media.video import VideoInfo
from vidclass.media.video import probe as probe_video

_UCF_NAME = re.compile(r"^v_.+_g\d+_c\d+\.\w+$")


def load_catalog(
    source: str | Path,
    *,
    format: str = "auto",
    columns: dict[str, str] | None = None,
    group_regex: str | None = None,
    labels: Sequence[str] | None = None,
    ucf_split: int = 1,
    video_root: str | Path | None = None,
    background: str | None = None,
) -> Catalog:
    """Read the labeled videos of ``source`` (a folder, CSV or list file); see the module doc.

    A CSV with ``start`` and ``end`` columns is a segment CSV (:mod:`vidclass.data.segments`): its
    items are time ranges, and ``background`` names the class of unlabeled time (None: ignored).

    ``columns`` maps ``path``/``label``/``split``/``group`` to CSV column names; ``labels`` fixes
    the class list and its order (a label outside it is an error); ``ucf_split`` picks UCF101's
    official split 1-3; ``video_root`` is the folder relative paths in a CSV or list file start from.
    Raises ``DatasetError`` naming the file or folder when nothing usable is found.
    """
    source = Path(source).expanduser()
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"format must be 'auto' or one of {', '.join(FORMATS)}; got {format!r}")
    columns = check_columns(columns)
    regex = _compile_group_regex(group_regex)
    if labels is not None:
        labels = list(labels)
        if len(set(labels)) != len(labels) or not all(labels):
            raise ConfigError(f"labels must be distinct, non-empty names; got {labels}")
    if ucf_split not in (1, 2, 3):
        raise ConfigError(f"ucf_split must be 1, 2 or 3; got {ucf_split!r}")
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder")
    source = source.resolve()
    base = Path(video_root).expanduser().resolve() if video_root is not None else None
    if base is not None and not base.is_dir():
        raise DatasetError(f"{base}: video_root is not a folder")

    fmt, csvs = (format, None) if format != "auto" else detect_format(source, columns)
    if fmt == "ucf101":
        read = read_ucf101(source, ucf_split, base, labels)
    elif fmt == "csv":
        paths = csvs or catalog_csvs(source, columns)[0]
        if len(paths) == 1 and segments.is_segment_csv(paths[0]):
            return segments.load_segments(paths[0], video_root=base, labels=labels, background=background)
        read = read_csvs(source, paths, columns, base, labels)
    elif fmt == "mmaction":
        read = read_mmaction(source, base, labels)
    elif fmt == "split_folders":
        read = read_split_folders(source, labels)
    elif fmt == "folders":
        read = read_folders(source, labels)
    else:  # auto found nothing
        read = Read(source, [], [], nothing_found=why_nothing_found(source, columns))
    return _finish(read, fmt, regex, auto_groups=group_regex is None)


def _compile_group_regex(group_regex: str | None) -> re.Pattern[str] | None:
    if not group_regex:
        return None
    try:
        return re.compile(group_regex)
    except re.error as error:
        raise ConfigError(f"group_regex {group_regex!r} is not a valid regular expression: {error}") from None


# --- common checks ----------------------------------------------------------------------------


def _finish(read: Read, fmt: str, regex: re.Pattern[str] | None, *, auto_groups: bool) -> Catalog:
    """Checks shared by all formats: labels, missing and repeated files, groups; then the Catalog."""
    fixed = read.labels
    allowed = set(fixed) if fixed is not None else None
    items, problems, seen = [], list(read.problems), {}
    for row in read.rows:
        if allowed is not None and row.label not in allowed:
            shown = ", ".join(fixed[:10]) + (", ..." if len(fixed) > 10 else "")
            raise DatasetError(f"{row.origin}: label {row.label!r} is not one of the given labels ({shown})")
        if not row.path.exists():
            problems.append(Problem(row.path, f"missing (listed in {row.origin}); skipped"))
        elif row.path.is_dir():
            problems.append(Problem(row.path, f"a folder, not a video (listed in {row.origin}); skipped"))
        elif row.path.resolve() in seen:
            first = seen[row.path.resolve()]
            clash = f" with label {row.label!r}, but first as {first.label!r}" if row.label != first.label else ""
            problems.append(Problem(row.path, f"listed again in {row.origin}{clash}; first entry kept"))
        else:
            seen[row.path.resolve()] = row
            items.append(VideoItem(Path(os.path.abspath(row.path)), row.label, row.group, row.split))
    if not items:
        raise DatasetError(f"{read.root}: no videos found: {read.nothing_found or 'nothing matched'}")
    if regex is None and auto_groups:
        regex = _default_group_regex(items, read.default_group_regex)
    if regex is not None:
        items = [_with_group(item, regex) for item in items]
    items.sort(key=lambda item: (item.label, str(item.path)))
    return Catalog(
        root=read.root,
        items=items,
        labels=list(fixed) if fixed is not None else sorted({item.label for item in items}),
        source_format=fmt,
        problems=problems,
        annotation=read.annotation,
    )


def _default_group_regex(items: list[VideoItem], default: str | None) -> re.Pattern[str] | None:
    """The format's group regex, else UCF101's when every ungrouped file has a UCF101 name."""
    ungrouped = [item for item in items if item.group is None]
    if default is None and ungrouped and all(_UCF_NAME.match(item.path.name) for item in ungrouped):
        default = UCF_GROUP_REGEX
    return re.compile(default) if default is not None else None


def _with_group(item: VideoItem, regex: re.Pattern[str]) -> VideoItem:
    """``item`` with its group read from its file name, unless it already has one."""
    match = regex.search(item.path.name) if item.group is None else None
    if match is None:
        return item
    group = match.group(1) if match.groups() else match.group(0)
    return dataclasses.replace(item, group=group)


# --- readability and warnings ------------------------------------------------------------------


def drop_unreadable(
    catalog: Catalog, *, probe: Callable[[Path], VideoInfo] | None = None, workers: int = 4
) -> Catalog:
    """The readable part of ``catalog``: every item is probed (``workers`` threads) before any split.

    A split made before the broken files are dropped can leave a part with no clip of a class;
    probing first means splits are made of videos that can be read. Unreadable items join
    ``problems`` with the reason; their probe results are kept in ``infos``. Raises
    ``DatasetError`` when no item can be read.
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers!r}")
    unprobed = [item for item in catalog.items if item.path not in catalog.infos]
    infos, unreadable = probe_all(unprobed, probe or probe_video, workers)
    bad = {path for path, _ in unreadable}
    readable = [item for item in catalog.items if item.path not in bad]
    if unreadable and not readable:
        path, reason = unreadable[0]
        raise DatasetError(
            f"{catalog.root}: none of its {len(catalog.items)} videos can be read (the first, {path}: {reason})"
        )
    return dataclasses.replace(
        catalog,
        items=readable,
        problems=list(catalog.problems) + [Problem(path, reason) for path, reason in unreadable],
        infos={**catalog.infos, **infos},
    )


def dataset_warnings(catalog: Catalog) -> list[str]:
    """What looks wrong in a dataset that can still be read: too few classes, empty classes,
    labels that differ only by case or spaces (``Fight`` and ``fight ``: two classes)."""
    clips = Counter(item.label for item in catalog.items)
    warnings = []
    with_clips = [label for label in catalog.labels if clips[label]]
    if len(with_clips) < 2:
        only = f" ({with_clips[0]!r})" if with_clips else ""
        warnings.append(f"{catalog.root}: only {len(with_clips)} class{only} has clips; a classifier needs at least two")
    empty = [label for label in catalog.labels if not clips[label]]
    if empty:
        warnings.append(f"{catalog.root}: no readable clip of class {', '.join(map(repr, empty))}")
    variants: dict[str, list[str]] = defaultdict(list)
    for label in catalog.labels:
        variants[" ".join(label.split()).casefold()].append(label)
    for labels in variants.values():
        if len(labels) > 1:
            counted = " and ".join(f"{label!r} ({clips[label]} clips)" for label in labels)
            warnings.append(
                f"{catalog.root}: labels {counted} differ only by case or spaces and are separate classes; "
                "fix the labels if they mean the same class"
            )
    return warnings


def left_out(catalog: Catalog, failed: dict[str, str] | None = None) -> dict[str, str]:
    """Every item a run left out, path -> reason: the catalog's problems, then ``failed`` (later steps)."""
    reasons = {str(problem.path): problem.reason for problem in catalog.problems}
    reasons.update(failed or {})
    return reasons


def check_trainable(catalog: Catalog) -> None:
    """Refuse, before any feature is extracted, a dataset a classifier cannot be trained on."""
    clips = Counter(item.label for item in catalog.items)
    with_clips = [label for label in catalog.labels if clips[label]]
    if len(with_clips) < 2:
        found = f"only {with_clips[0]!r}" if with_clips else "none"
        raise DatasetError(
            f"{catalog.root}: training needs clips of at least two classes; found {found} "
            "(see `vidclass data` for what was read and left out)"
        )


def probe_all(
    items: list[VideoItem], probe: Callable[[Path], VideoInfo], workers: int
) -> tuple[dict[Path, VideoInfo], list[tuple[Path, str]]]:
    def one(path: Path) -> tuple[Path, VideoInfo | None, str | None]:
        try:
            return path, probe(path), None
        except VideoReadError as error:
            return path, None, error.problem

    infos, unreadable = {}, []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, info, problem in pool.map(one, [item.path for item in items]):
            if problem is None:
                infos[path] = info
            else:
                unreadable.append((path, problem))
    return infos, unreadable
