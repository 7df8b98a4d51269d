"""The dataset layouts a catalog is read from, each reader returning rows and problems.

A catalog source is one of five layouts (``format="auto"`` picks the first that fits,
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
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from vidclass.data.items import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Problem, split_of_name
from vidclass.errors import ConfigError, DatasetError

FORMATS = ("folders", "split_folders", "csv", "ucf101", "mmaction")
UCF_GROUP_REGEX = r"_g(\d+)_"
_COLUMNS = ("path", "label", "split", "group")
_IGNORED_DIRS = {"__MACOSX"}


class Row(NamedTuple):
    """An item before checks: where it was read (``origin``) names it in messages."""

    path: Path
    label: str
    split: str | None
    group: str | None
    origin: str


@dataclass
class Read:
    """What a format reader found, before the common checks of ``_finish``."""

    root: Path
    rows: list[Row]
    problems: list[Problem]
    labels: list[str] | None = None  # fixed class list (classInd, labels=), else sorted found labels
    annotation: list[Path] = field(default_factory=list)
    default_group_regex: str | None = None
    nothing_found: str = ""  # why no item was found, for the error message


# --- options ----------------------------------------------------------------------------------


def check_columns(columns: dict[str, str] | None) -> dict[str, str]:
    columns = dict(columns or {})
    unknown = set(columns) - set(_COLUMNS)
    if unknown:
        raise ConfigError(f"columns keys must be among {', '.join(_COLUMNS)}; got {', '.join(sorted(unknown))}")
    return columns


# --- detection --------------------------------------------------------------------------------


def detect_format(source: Path, columns: dict[str, str]) -> tuple[str, list[Path] | None]:
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
    found, _ = catalog_csvs(source, columns)
    if found:
        return "csv", found
    if _split_dirs(source):
        return "split_folders", None
    if _class_dirs(source) or _class_dirs(source, IMAGE_EXTENSIONS):
        return "folders", None
    return "", None


def catalog_csvs(root: Path, columns: dict[str, str]) -> tuple[list[Path], list[str]]:
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
    return "; ".join(catalog_csvs(root, columns)[1]) if root.is_dir() else ""


def why_nothing_found(root: Path, columns: dict[str, str]) -> str:
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


def read_folders(root: Path, labels: list[str] | None) -> Read:
    if not root.is_dir():
        raise DatasetError(f"{root}: the folders format needs a folder of class folders")
    rows, problems = _rows_of_class_dirs(root, None, _media_extensions(root))
    return Read(root, rows, problems, labels=labels, nothing_found=f"no class folders with videos in {root}")


def read_split_folders(root: Path, labels: list[str] | None) -> Read:
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
    return Read(root, rows, problems, labels=labels, nothing_found=f"no videos in the split folders of {root}")


def _rows_of_class_dirs(
    root: Path, split: str | None, extensions: frozenset[str] = VIDEO_EXTENSIONS
) -> tuple[list[Row], list[Problem]]:
    rows, problems = [], []
    for path in sorted(root.iterdir()):
        if path.is_file() and _is_video(path, extensions):
            problems.append(Problem(path, f"video outside a class folder of {root}; skipped"))
    for folder in _visible_dirs(root):
        videos = list(_videos_under(folder, extensions))
        if not videos:
            problems.append(Problem(folder, "class folder without videos; skipped"))
        rows += [Row(path, folder.name, split, None, f"folder {folder}") for path in videos]
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


def read_csvs(
    source: Path, paths: list[Path], columns: dict[str, str], base: Path | None, labels: list[str] | None
) -> Read:
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
    return Read(
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
) -> tuple[list[Row], list[Problem]]:
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
        rows.append(Row(video, value["label"], split, value.get("group") or None, where))
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


def read_ucf101(source: Path, ucf_split: int, base: Path | None, labels: list[str] | None) -> Read:
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
    rows = [Row(videos / rel, label, split, None, f"{path.name} line {n}") for split, path, n, rel, label in entries]
    return Read(
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


def read_mmaction(source: Path, base: Path | None, labels: list[str] | None) -> Read:
    if not source.is_file():
        raise DatasetError(f"{source}: the mmaction format needs a list file ('relative/path label_index' per line)")
    tokens = re.split(r"[^a-z]+", source.stem.lower())
    splits = {split for split in map(split_of_name, tokens) if split}
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
        rows.append(Row(videos / parts[0], labels[index] if labels is not None else str(index), split, None, where))
    return Read(
        source.parent,
        rows,
        [],
        labels=labels if labels is not None else [str(i) for i in range(top + 1)],
        annotation=[source],
        nothing_found=f"no line of {source} names an existing video under {videos}; pass video_root=",
    )
