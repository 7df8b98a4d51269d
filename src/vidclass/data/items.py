"""What a dataset is made of: labeled items (a video, an image or a time range of a video), the
problems met while reading them, and the catalog that holds both; the split names and file types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidclass.media.video import VideoInfo

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})  # folders of images: a frame model's data
SPLITS = ("train", "val", "test")

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

    @property
    def fold_group(self) -> str:
        """What a grouped split keeps on one side: the item's group, or the clip itself when it has none."""
        return self.group if self.group is not None else str(self.path)


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


def split_of_name(name: str) -> str | None:
    """The split (train / val / test) a folder or column value names (``training``, ``dev``, ...), or None."""
    return _SPLIT_NAMES.get(name.strip().lower())
