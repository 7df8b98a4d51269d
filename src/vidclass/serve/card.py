"""The model card ``/v1/model`` shows: the bundle's training record and metrics without the host's
paths. The record keeps absolute paths for the owner (the dataset folder, the files left out);
a client learns names relative to the dataset (``fight/fi001.mp4``) or bare file names, never
where the server keeps its data."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

# the folders of an absolute path (POSIX or Windows) inside any text: "/srv/data/a.mp4: unreadable"
_FOLDERS = re.compile(r"(?<![\w.~:/-])(?:[A-Za-z]:[\\/]|/)(?:[^\\/\s:'\"]+[\\/])+")


def without_host_paths(record: Any, dataset: str | None) -> Any:
    """``record`` (JSON-like) with each path under ``dataset`` made relative to it, ``dataset`` itself
    reduced to its name, and the folders of any other absolute path dropped, in keys and values alike."""
    root = dataset.rstrip("/\\") if dataset else None

    def text(value: str) -> str:
        if root and value == root:
            return PurePosixPath(root.replace("\\", "/")).name
        if root:
            value = value.replace(root + "/", "").replace(root + "\\", "")
        return _FOLDERS.sub("", value)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return {walk(key) if isinstance(key, str) else key: walk(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(item) for item in value]
        return value

    return walk(record)
