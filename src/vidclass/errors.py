"""One exception family for everything vidclass reports to a user.

Every message names the file (or option) and the problem, and says what to do where
that is not obvious. The CLI prints ``str(error)`` on one line and exits non-zero.
"""

from __future__ import annotations

import errno
from pathlib import Path


class VidclassError(Exception):
    """Base class of every error vidclass raises on purpose."""


class ConfigError(VidclassError, ValueError):
    """An option has a value outside the allowed ones."""


class VideoReadError(VidclassError):
    """A video file is missing, empty, not a video, or cannot be decoded."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DatasetError(VidclassError):
    """A dataset root, CSV or list file cannot be read as a labeled set of videos."""


class WeightsUnavailableError(VidclassError):
    """Pretrained weights were asked for but cannot be had offline or online."""


class BundleError(VidclassError):
    """A model bundle is missing, incomplete, of an unknown format, or invalid."""


class DiskFullError(VidclassError):
    """A write found no space left on its device; what was finished before stays usable."""

    @classmethod
    def while_writing(cls, folder: str | Path, what: str) -> DiskFullError:
        return cls(f"{folder}: no space left on its device while writing {what}; entries finished before are "
                   "complete and kept: free space (or choose another folder) and rerun, which resumes")


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says a write found no space (OSError ENOSPC or EDQUOT, or safetensors' wrapped
    io error, which is no OSError)."""
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error)
    return "No space left on device" in text or "os error 28" in text
