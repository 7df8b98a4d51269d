"""One exception family for everything vidclass reports to a user.

Every message names the file (or option) and the problem, and says what to do where
that is not obvious. The CLI prints ``str(error)`` on one line and exits non-zero.
"""

from __future__ import annotations

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
