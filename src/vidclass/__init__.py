"""vidclass: video classification from labeled folders to labeled timelines."""

from vidclass.errors import (
    BundleError,
    ConfigError,
    DatasetError,
    VideoReadError,
    VidclassError,
    WeightsUnavailableError,
)

__version__ = "0.1.0"

__all__ = [
    "BundleError",
    "ConfigError",
    "DatasetError",
    "VideoReadError",
    "VidclassError",
    "VideoClassifier",
    "WeightsUnavailableError",
    "__version__",
]


def __getattr__(name: str):
    """``vidclass.VideoClassifier`` without importing torch for ``import vidclass`` alone."""
    if name == "VideoClassifier":
        from vidclass.api import VideoClassifier

        return VideoClassifier
    raise AttributeError(f"module 'vidclass' has no attribute {name!r}")
