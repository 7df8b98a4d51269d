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
    "WeightsUnavailableError",
    "__version__",
]
