"""Labeled video datasets: find the clips, their labels and groups, split them honestly, describe them.

``load_catalog(source)`` reads one of five layouts (``format="auto"`` picks the first that fits,
in this order):

``ucf101``         ``classInd.txt`` + ``trainlist0N.txt`` / ``testlist0N.txt`` in ROOT or in one
                   folder below it (``ucfTrainTestlist/``), or one of those files as ``source``.
                   Classes keep classInd order; groups come from ``_g(\\d+)_`` in the file name.
``csv``            a CSV file, or a ROOT holding CSVs with ``path`` and ``label`` columns (names
                   matched case-insensitively, or mapped by ``columns=``) and optional ``split``
                   and ``group`` columns. Paths are relative to the CSV's folder (or
                   ``video_root``). One such CSV is the catalog; several named after splits
                   (``train.csv``, ``val.csv``, ``test.csv``) are read together, each giving its
                   split, and their paths may also sit in the split's folder (``ROOT/train/x.mp4``).
``split_folders``  ``ROOT/{train,val,test}/<label>/...``: the split comes from the folder.
``folders``        ``ROOT/<label>/...``: one folder per class.
``mmaction``       an MMAction2 list file (``relative/path label_index`` per line) as ``source``;
                   ``labels=`` names the indices; the split comes from ``train``/``val``/``test``
                   in the file name.

Why a CSV wins over folders in the same ROOT: a CSV can carry groups and splits that the folder
names cannot (fight_surv has ``fight/``, ``noFight/`` and ``groups.csv``; only the CSV knows that
clips cut from one source video must stay together). Pass ``format="folders"`` to ignore it. A CSV
without path/label columns is not a catalog and is passed over (the "no videos" error names it).

Videos in folders are files with a video extension (case-insensitive), found recursively;
hidden files and folders and ``__MACOSX`` are ignored. Files listed in a CSV or list file that are
missing, listed twice, or folders, and class folders without videos, are skipped and reported as
``Problem`` entries; the catalog carries on without them. A folder layout with no videos but
images (jpg, png, webp, bmp) is an image dataset (``Catalog.is_images``), as the PyImageSearch
tutorial trains a frame classifier on: each image is a one-frame clip.

Groups (clips that share a source: same scene, camera, people) keep a split honest. They come
from a group column, else from ``group_regex`` over the file name (its first capture group, or
the whole match). When neither is given and every file name looks like UCF101's
``v_<Class>_gNN_cNN.ext``, the UCF101 group regex is used; ``group_regex=""`` turns that off.

``split_catalog`` keeps a split the dataset brings and makes the missing parts group-aware and
stratified; ``describe`` probes every file and summarises the set for a table or JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from vidclass.errors import ConfigError, DatasetError, VideoReadError
from vidclass.media.video import VideoInfo
from vidclass.media.video import probe as probe_video

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})  # folders of images: a frame model's data
FORMATS = ("folders", "split_folders", "csv", "ucf101", "mmaction")
SPLITS = ("train", "val", "test")
UCF_GROUP_REGEX = r"_g(\d+)_"

_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
_COLUMNS = ("path", "label", "split", "group")
_UCF_NAME = re.compile(r"^v_.+_g\d+_c\d+\.\w+$")
_IGNORED_DIRS = {"__MACOSX"}


@dataclass(frozen=True)
class VideoItem:
    """One labeled clip."""

    path: Path  # absolute
    label: str
    group: str | None = None
    split: str | None = None  # "train" / "val" / "test" when the dataset brings its own
    start: float | None = None  # seconds: the item is this time range of the file (vidclass.data.segments)
    end: float | None = None

    @property
    def span(self) -> tuple[float, float] | None:
        """``(start, end)`` seconds when the item is part of its file, else None (the whole file)."""
        return (self.start, self.end) if self.start is not None and self.end is not None else None


@dataclass(frozen=True)
class Problem:
    """A file or folder that was skipped, and why."""

    path: Path
    reason: str


@dataclass
class Catalog:
    """The labeled clips of a dataset, its class names and what was skipped."""

    root: Path
    items: list[VideoItem]
    labels: list[str]  # index = class id
    source_format: str
    problems: list[Problem] = field(default_factory=list)
    annotation: list[Path] = field(default_factory=list)  # CSV / list files read, if any
    infos: dict[Path, VideoInfo] = field(default_factory=dict, repr=False)  # items probed by drop_unreadable

    @property
    def grouped(self) -> bool:
        """True when every item has a group."""
        return bool(self.items) and all(item.group is not None for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def segmented(self) -> bool:
        """True when items are time ranges of longer files (a segment CSV: many items per file)."""
        return any(item.span is not None for item in self.items)

    @property
    def is_images(self) -> bool:
        """True when every item is an image (a folder of images per class), not a video."""
        return bool(self.items) and all(is_image(item.path) for item in self.items)


def is_image(path: Path) -> bool:
    """Whether ``path`` names an image file (each image is a one-frame clip)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


class _Row(NamedTuple):
    """An item before checks: where it was read (``origin``) names it in messages."""

    path: Path
    label: str
    split: str | None
    group: str | None
    origin: str


@dataclass
class _Read:
    """What a format reader found, before the common checks of ``_finish``."""

    root: Path
    rows: list[_Row]
    problems: list[Problem]
    labels: list[str] | None = None  # fixed class list (classInd, labels=), else sorted found labels
    annotation: list[Path] = field(default_factory=list)
    default_group_regex: str | None = None
    nothing_found: str = ""  # why no item was found, for the error message


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
    columns = _check_columns(columns)
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

    fmt, csvs = (format, None) if format != "auto" else _detect(source, columns)
    if fmt == "ucf101":
        read = _read_ucf101(source, ucf_split, base, labels)
    elif fmt == "csv":
        from vidclass.data import segments  # many labeled time ranges per file

        paths = csvs or _catalog_csvs(source, columns)[0]
        if len(paths) == 1 and segments.is_segment_csv(paths[0]):
            return segments.load_segments(paths[0], video_root=base, labels=labels, background=background)
        read = _read_csvs(source, paths, columns, base, labels)
    elif fmt == "mmaction":
        read = _read_mmaction(source, base, labels)
    elif fmt == "split_folders":
        read = _read_split_folders(source, labels)
    elif fmt == "folders":
        read = _read_folders(source, labels)
    else:  # auto found nothing
        read = _Read(source, [], [], nothing_found=_why_nothing(source, columns))
    return _finish(read, fmt, regex, auto_groups=group_regex is None)


# --- options ----------------------------------------------------------------------------------


def _check_columns(columns: dict[str, str] | None) -> dict[str, str]:
    columns = dict(columns or {})
    unknown = set(columns) - set(_COLUMNS)
    if unknown:
        raise ConfigError(f"columns keys must be among {', '.join(_COLUMNS)}; got {', '.join(sorted(unknown))}")
    return columns


def _compile_group_regex(group_regex: str | None) -> re.Pattern[str] | None:
    if not group_regex:
        return None
    try:
        return re.compile(group_regex)
    except re.error as error:
        raise ConfigError(f"group_regex {group_regex!r} is not a valid regular expression: {error}") from None


# --- detection --------------------------------------------------------------------------------


def _detect(source: Path, columns: dict[str, str]) -> tuple[str, list[Path] | None]:
    """The format of ``source`` (and the CSVs to read for ``csv``); ``("", None)`` if none fits."""
    if source.is_file():
        name = source.name.lower()
        if name == "classind.txt" or re.fullmatch(r"(train|test)list0\d\.txt", name):
            return "ucf101", None
        if source.suffix.lower() in (".csv", ".tsv"):
            return "csv", [source]
        if source.suffix.lower() == ".txt":
            return "mmaction", None
        raise DatasetError(f"{source}: not a folder, CSV, UCF101 or MMAction2 list file")
    if _find_class_ind(source) is not None:
        return "ucf101", None
    found, _ = _catalog_csvs(source, columns)
    if found:
        return "csv", found
    if _split_dirs(source):
        return "split_folders", None
    if _class_dirs(source) or _class_dirs(source, IMAGE_EXTENSIONS):
        return "folders", None
    return "", None


def _catalog_csvs(root: Path, columns: dict[str, str]) -> tuple[list[Path], list[str]]:
    """CSVs directly in ``root`` that have path and label columns, and notes on those that don't.

    One CSV is the catalog; several are read together only when each is named after a split.
    """
    if root.is_file():
        return [root], []
    found, notes = [], []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in (".csv", ".tsv") or not path.is_file():
            continue
        try:
            header = _read_header(path)
            _column_indices(path, header, columns)
        except DatasetError as error:
            notes.append(str(error))
            continue
        found.append(path)
    if len(found) > 1 and not all(split_of_name(path.stem) for path in found):
        names = ", ".join(path.name for path in found)
        raise DatasetError(
            f"{root}: several CSV catalogs ({names}); pass the one to use as the source, "
            "or name them train.csv / val.csv / test.csv"
        )
    return found, notes


def _csvs_note(root: Path, columns: dict[str, str]) -> str:
    """Why the CSVs in ``root`` (if any) were not read as a catalog."""
    return "; ".join(_catalog_csvs(root, columns)[1]) if root.is_dir() else ""


def _why_nothing(root: Path, columns: dict[str, str]) -> str:
    """The error detail when auto-detection finds no layout in ``root``."""
    why = "no class folders with videos and no CSV catalog"
    loose = sum(1 for path in root.iterdir() if path.is_file() and _is_video(path))
    if loose:
        why += f"; videos lie directly in it ({loose}): put each class in its own folder, or list them in a CSV"
    notes = _csvs_note(root, columns)
    return why + (f" ({notes})" if notes else "")


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_dir() and not path.name.startswith(".") and path.name not in _IGNORED_DIRS
    )


def _split_dirs(root: Path) -> dict[str, Path]:
    """``{split: folder}`` when ROOT has a train folder and a val or test folder."""
    found = {}
    for folder in _visible_dirs(root):
        split = split_of_name(folder.name)
        if split and split not in found:
            found[split] = folder
    return found if "train" in found and len(found) > 1 else {}


def _class_dirs(root: Path, extensions: frozenset[str] = VIDEO_EXTENSIONS) -> list[Path]:
    """Folders of ``root`` that hold at least one video (or file of ``extensions``) at any depth."""
    return [folder for folder in _visible_dirs(root) if any(True for _ in _videos_under(folder, extensions))]


def _media_extensions(root: Path) -> frozenset[str]:
    """Videos, unless ``root`` holds none and holds images: then an image dataset."""
    if any(True for _ in _videos_under(root)) or not any(True for _ in _videos_under(root, IMAGE_EXTENSIONS)):
        return VIDEO_EXTENSIONS
    return IMAGE_EXTENSIONS


def split_of_name(name: str) -> str | None:
    """The split (train / val / test) a folder or column value names (``training``, ``dev``, ...), or None."""
    return _SPLIT_NAMES.get(name.strip().lower())


def _is_video(path: Path, extensions: frozenset[str] = VIDEO_EXTENSIONS) -> bool:
    return path.suffix.lower() in extensions and not path.name.startswith(".")


def _videos_under(folder: Path, extensions: frozenset[str] = VIDEO_EXTENSIONS) -> Iterable[Path]:
    """Video files below ``folder`` (symlinks followed), skipping hidden files and folders.

    Each real folder is walked once and a link back to a folder above is not followed, so a
    symlink loop (``a/loop -> ..``) ends at once rather than after the OS's 40 levels of
    bogus nested copies.
    """
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = Path(os.path.realpath(dirpath))
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        kept = []
        for name in sorted(dirnames):
            target = Path(os.path.realpath(Path(dirpath) / name))
            if not name.startswith(".") and name not in _IGNORED_DIRS and target not in seen:
                if not real.is_relative_to(target):  # not a link to this folder or one above it
                    kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if _is_video(path, extensions):
                yield path


# --- folder layouts ---------------------------------------------------------------------------


def _read_folders(root: Path, labels: list[str] | None) -> _Read:
    if not root.is_dir():
        raise DatasetError(f"{root}: the folders format needs a folder of class folders")
    rows, problems = _rows_of_class_dirs(root, None, _media_extensions(root))
    return _Read(root, rows, problems, labels=labels, nothing_found=f"no class folders with videos in {root}")


def _read_split_folders(root: Path, labels: list[str] | None) -> _Read:
    if not root.is_dir():
        raise DatasetError(f"{root}: the split_folders format needs a folder with train/val/test folders")
    splits = _split_dirs(root)
    if not splits:
        raise DatasetError(f"{root}: no train folder beside a val or test folder")
    rows, problems = [], []
    for folder in _visible_dirs(root):
        split = split_of_name(folder.name)
        if split is None or splits[split] != folder:
            problems.append(Problem(folder, "not a train/val/test folder; skipped"))
            continue
        found, skipped = _rows_of_class_dirs(folder, split, _media_extensions(root))
        rows += found
        problems += skipped
    return _Read(root, rows, problems, labels=labels, nothing_found=f"no videos in the split folders of {root}")


def _rows_of_class_dirs(
    root: Path, split: str | None, extensions: frozenset[str] = VIDEO_EXTENSIONS
) -> tuple[list[_Row], list[Problem]]:
    rows, problems = [], []
    for path in sorted(root.iterdir()):
        if path.is_file() and _is_video(path, extensions):
            problems.append(Problem(path, f"video outside a class folder of {root}; skipped"))
    for folder in _visible_dirs(root):
        videos = list(_videos_under(folder, extensions))
        if not videos:
            problems.append(Problem(folder, "class folder without videos; skipped"))
        rows += [_Row(path, folder.name, split, None, f"folder {folder}") for path in videos]
    return rows, problems


# --- CSV --------------------------------------------------------------------------------------


def _read_header(path: Path) -> list[str]:
    text = read_text_file(path)
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise DatasetError(f"{path}: empty CSV file")
    return next(csv.reader([first], delimiter=csv_delimiter(path, first)))


def read_text_file(path: Path) -> str:
    """A CSV or list file's text (UTF-8, a BOM dropped); DatasetError naming the file when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text ({error})") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error.strerror})") from None


def csv_delimiter(path: Path, header: str) -> str:
    """Tab for .tsv, else whichever of , ; or tab the header line uses most (comma on a tie)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    return max((",", ";", "\t"), key=header.count)


def _column_indices(path: Path, header: list[str], columns: dict[str, str]) -> dict[str, int]:
    """``{canonical name: column index}``; raises naming the columns the CSV has."""
    names = [name.strip().casefold() for name in header]
    indices = {}
    for key in _COLUMNS:
        wanted = columns.get(key, key).strip().casefold()
        if wanted in names:
            indices[key] = names.index(wanted)
        elif key in columns:
            raise DatasetError(
                f"{path}: no column {columns[key]!r} (given for {key}); the columns are {', '.join(header)}"
            )
    missing = [key for key in ("path", "label") if key not in indices]
    if missing:
        options = " and ".join(f"--{key}-column NAME" for key in missing)
        example = ", ".join(f"'{key}': NAME" for key in missing)
        raise DatasetError(
            f"{path}: no {' or '.join(missing)} column; the columns are {', '.join(header) or '(none)'}; "
            f"name the right ones with {options} (Python: columns={{{example}}})"
        )
    return indices


def _read_csvs(
    source: Path, paths: list[Path], columns: dict[str, str], base: Path | None, labels: list[str] | None
) -> _Read:
    if not paths:
        notes = _csvs_note(source, columns) or "no CSV files"
        raise DatasetError(f"{source}: no CSV with path and label columns ({notes})")
    rows, problems = [], []
    for path in paths:
        split = split_of_name(path.stem) if len(paths) > 1 else None
        found, skipped = _rows_of_csv(path, columns, base or path.parent, split)
        rows += found
        problems += skipped
    root = source if source.is_dir() else source.parent
    where = base or paths[0].parent
    return _Read(
        root,
        rows,
        problems,
        labels=labels,
        annotation=list(paths),
        nothing_found=f"no rows in {', '.join(map(str, paths))} name an existing video (paths are read relative to "
        f"{where}; pass video_root= if they live elsewhere)",
    )


def _rows_of_csv(
    path: Path, columns: dict[str, str], base: Path, file_split: str | None
) -> tuple[list[_Row], list[Problem]]:
    """Rows of one CSV; ``file_split`` is the split its name gives (train.csv), if any."""
    text = read_text_file(path)
    if not text.strip():
        raise DatasetError(f"{path}: empty CSV file")
    header_line = text.splitlines()[0]
    delimiter = csv_delimiter(path, header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    header = next(reader, [])
    indices = _column_indices(path, header, columns)
    rows, problems = [], []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path.name} line {line}"
        if len(row) <= max(indices.values()):
            problems.append(Problem(path, f"line {line}: {len(row)} fields, expected {len(header)}; row skipped"))
            continue
        value = {key: row[index].strip() for key, index in indices.items()}
        if not value["path"] or not value["label"]:
            empty = "path" if not value["path"] else "label"
            problems.append(Problem(path, f"line {line}: empty {empty}; row skipped"))
            continue
        split = file_split
        if value.get("split"):
            split = split_of_name(value["split"])
            if split is None:
                raise DatasetError(f"{where}: split {value['split']!r} is not one of train, val, test")
        video = base / value["path"]
        if not video.exists() and file_split is not None and (base / file_split / value["path"]).exists():
            video = base / file_split / value["path"]
        rows.append(_Row(video, value["label"], split, value.get("group") or None, where))
    return rows, problems


# --- UCF101 -----------------------------------------------------------------------------------


def _find_class_ind(root: Path) -> Path | None:
    if root.is_file():
        return root.parent / "classInd.txt" if (root.parent / "classInd.txt").is_file() else None
    candidates = [root / "classInd.txt"] + [folder / "classInd.txt" for folder in _visible_dirs(root)]
    found = [path for path in candidates if path.is_file()]
    return found[0] if found else None


def _list_lines(path: Path) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line.strip()


def _read_ucf101(source: Path, ucf_split: int, base: Path | None, labels: list[str] | None) -> _Read:
    if labels is not None:
        raise ConfigError("labels= does not apply to ucf101: classInd.txt names the classes")
    class_ind = _find_class_ind(source)
    if class_ind is None:
        raise DatasetError(f"{source}: no classInd.txt here or in a folder just below (UCF101 split files)")
    names: dict[int, str] = {}
    for number, line in _list_lines(class_ind):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(f"{class_ind} line {number}: expected '<index> <ClassName>', got {line!r}")
        names[int(parts[0])] = parts[1].strip()
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DatasetError(f"{class_ind}: class indices must run 1..{len(names)}")
    classes = [names[i] for i in range(1, len(names) + 1)]
    lists = {split: class_ind.parent / f"{split}list{ucf_split:02d}.txt" for split in ("train", "test")}
    for path in lists.values():
        if not path.is_file():
            raise DatasetError(f"{path}: missing (UCF101 split {ucf_split} needs trainlist and testlist files)")
    root = source if source.is_dir() else class_ind.parent
    entries = []
    for split, path in lists.items():
        for number, line in _list_lines(path):
            entries.append((split, path, number, *_ucf_entry(path, number, line, classes)))
    videos = base or _ucf_video_root(root, class_ind.parent, entries[0][3] if entries else "")
    rows = [_Row(videos / rel, label, split, None, f"{path.name} line {n}") for split, path, n, rel, label in entries]
    return _Read(
        root,
        rows,
        [],
        labels=classes,
        annotation=[class_ind, *lists.values()],
        default_group_regex=UCF_GROUP_REGEX,
        nothing_found=f"none of the videos listed in {class_ind.parent} exist under {videos}; "
        "pass video_root= (the UCF-101 folder)",
    )


def _ucf_entry(path: Path, number: int, line: str, classes: list[str]) -> tuple[str, str]:
    """``(relative path, label)`` of a trainlist (``Class/v.avi 1``) or testlist (``Class/v.avi``) line."""
    parts = line.split()
    rel = parts[0]
    folder = rel.replace("\\", "/").split("/")[0]
    if len(parts) > 1:
        if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
            raise DatasetError(f"{path} line {number}: class index {parts[1]!r} is not in 1..{len(classes)}")
        label = classes[int(parts[1]) - 1]
        if "/" in rel and folder.casefold() != label.casefold():
            raise DatasetError(f"{path} line {number}: folder {folder!r} does not match class {parts[1]} ({label})")
        return rel, label
    by_name = {name.casefold(): name for name in classes}
    if folder.casefold() not in by_name:
        raise DatasetError(f"{path} line {number}: class folder {folder!r} is not in classInd.txt")
    return rel, by_name[folder.casefold()]


def _ucf_video_root(root: Path, annotations: Path, first: str) -> Path:
    """The folder list paths start from: the first of ROOT, ROOT/UCF-101 (and the same beside the
    annotation folder) that holds the first listed video."""
    candidates = [root, root / "UCF-101", annotations.parent, annotations.parent / "UCF-101"]
    return next((folder for folder in candidates if first and (folder / first).is_file()), root)


# --- MMAction2 --------------------------------------------------------------------------------


def _read_mmaction(source: Path, base: Path | None, labels: list[str] | None) -> _Read:
    if not source.is_file():
        raise DatasetError(f"{source}: the mmaction format needs a list file ('relative/path label_index' per line)")
    tokens = re.split(r"[^a-z]+", source.stem.lower())
    splits = {_SPLIT_NAMES[token] for token in tokens if token in _SPLIT_NAMES}
    split = splits.pop() if len(splits) == 1 else None
    videos = base or source.parent
    rows, top = [], -1
    for number, line in _list_lines(source):
        parts = line.rsplit(maxsplit=1)
        where = f"{source.name} line {number}"
        if len(parts) != 2 or not parts[1].isdigit():
            raise DatasetError(f"{source} line {number}: expected '<path> <label index>', got {line!r}")
        index = int(parts[1])
        if labels is not None and index >= len(labels):
            raise DatasetError(f"{source} line {number}: label index {index} but only {len(labels)} labels were given")
        top = max(top, index)
        rows.append(_Row(videos / parts[0], labels[index] if labels is not None else str(index), split, None, where))
    return _Read(
        source.parent,
        rows,
        [],
        labels=labels if labels is not None else [str(i) for i in range(top + 1)],
        annotation=[source],
        nothing_found=f"no line of {source} names an existing video under {videos}; pass video_root=",
    )


# --- common checks ----------------------------------------------------------------------------


def _finish(read: _Read, fmt: str, regex: re.Pattern[str] | None, *, auto_groups: bool) -> Catalog:
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
    infos, unreadable = _probe_all(unprobed, probe or probe_video, workers)
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


# --- splits -----------------------------------------------------------------------------------


@dataclass
class Splits:
    """Train/val/test items and how they were made (``method`` says whether groups were used)."""

    train: list[VideoItem]
    val: list[VideoItem]
    test: list[VideoItem]
    method: str
    seed: int

    def parts(self) -> dict[str, list[VideoItem]]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}


def split_catalog(catalog: Catalog, *, val: float = 0.15, test: float = 0.15, seed: int = 0) -> Splits:
    """Split ``catalog`` into train/val/test with every group on one side, stratified by label.

    ``val`` and ``test`` are fractions of all clips. A split the dataset brings is kept; a
    missing val or test part is carved out of its train part (group-aware, stratified, the
    same fractions of all clips). Without groups each clip is its own unit, and ``method`` says
    so. The same catalog and seed always give the same split.
    """
    for name, value in (("val", val), ("test", test)):
        if not (isinstance(value, (int, float)) and 0 <= value < 1):
            raise ConfigError(f"{name} must be a fraction in [0, 1); got {value!r}")
    if val + test >= 1:
        raise ConfigError(f"val + test must be below 1 to leave clips for training; got {val} + {test}")
    given = [item for item in catalog.items if item.split is not None]
    if not given:
        parts, how = group_split(catalog.items, {"train": 1 - val - test, "val": val, "test": test}, seed)
        return Splits(parts["train"], parts["val"], parts["test"], how, seed)
    if len(given) != len(catalog.items):
        raise DatasetError(
            f"{catalog.root}: {len(catalog.items) - len(given)} of {len(catalog.items)} clips have no split; "
            "give every clip a split, or none"
        )
    parts = {name: [item for item in catalog.items if item.split == name] for name in SPLITS}
    if not parts["train"]:
        raise DatasetError(f"{catalog.root}: the dataset's own split has no train clips")
    total = len(catalog.items)
    wanted = {name: fraction for name, fraction in (("val", val), ("test", test)) if fraction and not parts[name]}
    method = f"given {'/'.join(name for name in SPLITS if parts[name])}"
    if wanted:
        train_share = 1 - sum(fraction * total / len(parts["train"]) for fraction in wanted.values())
        if train_share <= 0:
            raise DatasetError(
                f"{catalog.root}: the given train part ({len(parts['train'])} clips) is too small to carve "
                f"{', '.join(wanted)} of {total} clips from it"
            )
        fractions = {"train": train_share}
        fractions.update({name: fraction * total / len(parts["train"]) for name, fraction in wanted.items()})
        carved, how = group_split(parts["train"], fractions, seed)
        parts.update({name: carved[name] for name in ("train", *wanted)})
        method += f"; {' and '.join(wanted)} carved from train by {how}"
    leaked = _groups_on_several_sides(parts)
    if leaked:
        method += f"; warning: {leaked} groups appear in more than one part"
    return Splits(parts["train"], parts["val"], parts["test"], method, seed)


def _groups_on_several_sides(parts: dict[str, list[VideoItem]]) -> int:
    sides: dict[str, set[str]] = defaultdict(set)
    for name, items in parts.items():
        for item in items:
            if item.group is not None:
                sides[item.group].add(name)
    return sum(len(names) > 1 for names in sides.values())


def group_split(
    items: list[VideoItem], fractions: dict[str, float], seed: int
) -> tuple[dict[str, list[VideoItem]], str]:
    """Assign whole groups (or single clips without a group) to parts; the description of how."""
    units: dict[tuple[int, str], list[VideoItem]] = defaultdict(list)
    for item in items:
        units[(0, item.group) if item.group is not None else (1, str(item.path))].append(item)
    keys = sorted(units)
    wanted = [name for name, fraction in fractions.items() if fraction > 0]
    if len(keys) < len(wanted):
        raise DatasetError(
            f"only {len(keys)} {'groups' if any(k[0] == 0 for k in keys) else 'clips'} to share among "
            f"{', '.join(wanted)}; add data or set the unused fractions to 0"
        )
    counts = [Counter(item.label for item in units[key]) for key in keys]
    chosen = _fill_empty_parts(_assign(counts, {name: fractions[name] for name in wanted}, seed), counts, wanted)
    parts: dict[str, list[VideoItem]] = {name: [] for name in fractions}
    for key, name in zip(keys, chosen):
        parts[name] += units[key]
    groups = sum(key[0] == 0 for key in keys)
    singles = len(keys) - groups
    if groups == 0:
        how = "stratified clip split: no groups known"
    elif singles:
        how = f"stratified group split ({groups} groups; {singles} clips without a group split as single clips)"
    else:
        how = f"stratified group split ({groups} groups)"
    return parts, how


def _fill_empty_parts(chosen: list[str], units: list[Counter[str]], wanted: list[str]) -> list[str]:
    """Give every wanted part at least one unit: a tiny fraction of few units can round to nothing,
    which would leave, say, an empty validation part described as carved from train."""
    chosen = list(chosen)
    for name in wanted:
        if name in chosen:
            continue
        sizes = Counter(chosen)
        donor = max(wanted, key=lambda part: sizes[part])  # the part with the most units
        index = min((i for i, part in enumerate(chosen) if part == donor), key=lambda i: units[i].total())
        chosen[index] = name
    return chosen


def _assign(units: list[Counter[str]], fractions: dict[str, float], seed: int) -> list[str]:
    """A part for each unit (its label counts) so every part's label counts match its fraction.

    Greedy: units in a seeded random order each go to the part where they most reduce the squared
    shortfall (per label, relative to the label's size, plus the part's total size). Several
    seeded orders are tried and the best kept, so large groups seen late cannot spoil the result.
    """
    names = list(fractions)
    per_label = Counter()
    for counts in units:
        per_label.update(counts)
    total = sum(per_label.values())
    target = {name: {label: f * n for label, n in per_label.items()} for name, f in fractions.items()}
    size_target = {name: f * total for name, f in fractions.items()}
    rng = random.Random(seed)
    best: tuple[float, list[str]] | None = None
    for _ in range(max(1, min(64, 50_000 // len(units)))):
        order = list(range(len(units)))
        rng.shuffle(order)
        have = {name: Counter() for name in names}
        size = dict.fromkeys(names, 0)
        chosen = [""] * len(units)
        for index in order:
            counts = units[index]
            gains = [_gain(have[n], size[n], target[n], size_target[n], counts, per_label, total) for n in names]
            name = names[gains.index(min(gains))]
            chosen[index] = name
            have[name].update(counts)
            size[name] += counts.total()
        cost = sum(
            (have[name][label] - target[name][label]) ** 2 / per_label[label] for name in names for label in per_label
        ) + sum((size[name] - size_target[name]) ** 2 / total for name in names)
        cost += 1e9 * sum(size[name] == 0 for name in names)
        if best is None or cost < best[0]:
            best = (cost, chosen)
    assert best is not None
    return best[1]


def _gain(
    have: Counter[str],
    size: int,
    target: dict[str, float],
    size_target: float,
    counts: Counter[str],
    per_label: Counter[str],
    total: int,
) -> float:
    """Change of a part's squared shortfall (per label, relative to its size) if it takes ``counts``."""
    by_label = sum(
        ((have[label] + k - target[label]) ** 2 - (have[label] - target[label]) ** 2) / per_label[label]
        for label, k in counts.items()
    )
    n = counts.total()
    return by_label + ((size + n - size_target) ** 2 - (size - size_target) ** 2) / total


# --- description ------------------------------------------------------------------------------


@dataclass
class ClassSummary:
    """One class: clips per part, groups, readable duration, frame rates and frame sizes seen."""

    label: str
    clips: dict[str, int]  # per part ("train"/"val"/"test"); empty when unsplit
    total: int
    groups: int
    duration_s: float
    fps_range: tuple[float, float] | None
    sizes: dict[str, int]  # "WxH" as the probe reports it -> clips, most common first


@dataclass
class DatasetSummary:
    """What ``describe`` found: enough for a table, and ``to_dict()`` for JSON."""

    root: Path
    source_format: str
    annotation: list[Path]
    labels: list[str]
    classes: list[ClassSummary]
    clips: int
    groups: int
    clips_per_split: dict[str, int]
    groups_per_split: dict[str, int]
    split_method: str | None
    seed: int | None
    total_duration_s: float
    readable: int
    unreadable: list[tuple[Path, str]]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        return {
            "root": str(self.root),
            "format": self.source_format,
            "annotation": [str(path) for path in self.annotation],
            "labels": list(self.labels),
            "clips": self.clips,
            "groups": self.groups,
            "clips_per_class": {c.label: c.total for c in self.classes},
            "clips_per_split": dict(self.clips_per_split),
            "clips_per_class_and_split": {c.label: dict(c.clips) for c in self.classes},
            "groups_per_class": {c.label: c.groups for c in self.classes},
            "groups_per_split": dict(self.groups_per_split),
            "split_method": self.split_method,
            "seed": self.seed,
            "total_duration_s": round(self.total_duration_s, 3),
            "duration_per_class_s": {c.label: round(c.duration_s, 3) for c in self.classes},
            "fps_range_per_class": {c.label: list(c.fps_range) if c.fps_range else None for c in self.classes},
            "sizes_per_class": {c.label: dict(c.sizes) for c in self.classes},
            "readable": self.readable,
            "unreadable": [{"path": str(path), "reason": reason} for path, reason in self.unreadable],
            "warnings": list(self.warnings),
        }


def describe(
    catalog: Catalog,
    splits: Splits | None = None,
    *,
    probe: Callable[[Path], VideoInfo] | None = None,
    workers: int = 4,
) -> DatasetSummary:
    """Probe every clip (``workers`` threads) and summarise classes, parts, groups and duration.

    ``probe`` defaults to ``vidclass.media.video.probe``; files it refuses with ``VideoReadError`` are
    listed as unreadable after ``catalog.problems`` (items :func:`drop_unreadable` probed are not
    probed again). Parts come from ``splits``, else from the dataset's own split, else the
    summary is unsplit.
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers!r}")
    unprobed = [item for item in catalog.items if item.path not in catalog.infos]
    infos, unreadable = _probe_all(unprobed, probe or probe_video, workers)
    infos.update({item.path: catalog.infos[item.path] for item in catalog.items if item.path in catalog.infos})
    part_of = _parts_of(catalog, splits)
    names = [name for name in SPLITS if name in set(part_of.values())]
    classes = []
    for label in catalog.labels:
        items = [item for item in catalog.items if item.label == label]
        read = [infos[item.path] for item in items if item.path in infos]
        clips = Counter(part_of[item.path] for item in items if part_of.get(item.path))
        rates = [float(info.fps) for info in read if info.fps]
        classes.append(
            ClassSummary(
                label=label,
                clips={name: clips[name] for name in names},
                total=len(items),
                groups=len(_groups(items)),
                duration_s=sum(_duration(info) for info in read),
                fps_range=(min(rates), max(rates)) if rates else None,
                sizes=dict(Counter(f"{info.width}x{info.height}" for info in read).most_common()),
            )
        )
    return DatasetSummary(
        root=catalog.root,
        source_format=catalog.source_format,
        annotation=list(catalog.annotation),
        labels=list(catalog.labels),
        classes=classes,
        clips=len(catalog.items),
        groups=len(_groups(catalog.items)),
        clips_per_split={name: sum(part == name for part in part_of.values()) for name in names},
        groups_per_split={
            name: len(_groups(item for item in catalog.items if part_of.get(item.path) == name)) for name in names
        },
        split_method=splits.method if splits else ("given" if part_of else None),
        seed=splits.seed if splits else None,
        total_duration_s=sum(c.duration_s for c in classes),
        readable=len(infos),
        unreadable=[(problem.path, problem.reason) for problem in catalog.problems] + unreadable,
        warnings=dataset_warnings(catalog),
    )


def _groups(items: Iterable[VideoItem]) -> set[str]:
    return {item.group for item in items if item.group is not None}


def _probe_all(
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


def _parts_of(catalog: Catalog, splits: Splits | None) -> dict[Path, str]:
    if splits is not None:
        return {item.path: name for name, items in splits.parts().items() for item in items}
    return {item.path: item.split for item in catalog.items if item.split is not None}


def _duration(info: VideoInfo) -> float:
    """Seconds of a probed clip: its duration, else frames / fps, else 0."""
    if info.duration and math.isfinite(info.duration):
        return float(info.duration)
    return float(info.num_frames) / float(info.fps) if info.num_frames and info.fps else 0.0
