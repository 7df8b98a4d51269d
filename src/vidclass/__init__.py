"""vidclass: video classification from labeled folders to labeled timelines."""

from vidclass.errors import (
    BundleError,
    ConfigError,
    DatasetError,
    VidclassError,
    VideoReadError,
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
    "VideoRegressor",
    "WeightsUnavailableError",
    "__version__",
]


def __getattr__(name: str):
    """``vidclass.VideoClassifier`` and ``vidclass.VideoRegressor`` without importing torch for ``import vidclass``
    alone."""
    if name == "VideoClassifier":
        from vidclass.estimator.classifier import VideoClassifier

        return VideoClassifier
    if name == "VideoRegressor":
        from vidclass.estimator.regressor import VideoRegressor

        return VideoRegressor
    raise AttributeError(f"module 'vidclass' has no attribute {name!r}")
