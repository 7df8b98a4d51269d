"""Classification or regression: the model a bundle holds, and what predicting with it gives.

A bundle records its task (``training.task``: ``regression`` for :class:`vidclass.estimator.regressor.VideoRegressor`
and, with a clip model, :class:`vidclass.estimator.pixel_regressor.PixelRegressor`; none for a classifier);
:func:`load_model` reads it and returns the matching model, so the commands that
load a bundle (predict, timeline) serve both. :func:`prediction_records` turns either model's predictions into the
per-video records ``vidclass predict`` prints: ranked labels with probabilities, or a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidclass.estimator.bundle import bundle_kind, bundle_task
from vidclass.errors import ConfigError

TASKS = ("classification", "regression")

# VideoClassifier settings a regressor takes over as they are (the rest are classification's or the pixel path's)
_REGRESSOR_PARAMS = ("backbone", "head", "frames", "inputs", "head_options", "pretrained", "epochs", "batch_size", "lr",
                     "weight_decay", "patience", "seed", "val", "test", "cache_dir", "workers", "size")


def load_model(directory: str | Path, *, cache_dir: str | Path | None = None, workers: int = 1,
               runtime: str = "auto"):
    """The model of a bundle: a VideoRegressor (frozen features) or PixelRegressor (a clip model) when it
    records task regression, else a VideoClassifier."""
    if bundle_task(directory) == "regression":
        if bundle_kind(directory) != "features":
            from vidclass.estimator.pixel_regressor import PixelRegressor

            return PixelRegressor.load(directory, cache_dir=cache_dir, workers=workers)
        from vidclass.estimator.regressor import VideoRegressor

        return VideoRegressor.load(directory, cache_dir=cache_dir, workers=workers, runtime=runtime)
    from vidclass.estimator.classifier import VideoClassifier

    return VideoClassifier.load(directory, cache_dir=cache_dir, workers=workers, runtime=runtime)


def regressor(params: dict[str, Any], *, loss: str = "mse", column: str = "target"):
    """A regressor from ``vidclass train``'s VideoClassifier settings (None: the regressor's default):
    a VideoRegressor for ``model="features"``, else a PixelRegressor of that clip model."""
    from vidclass.estimator.regressor import VideoRegressor

    if params.get("model", "features") != "features":
        from vidclass.estimator.classifier import VideoClassifier
        from vidclass.estimator.pixel_regressor import PixelRegressor

        return PixelRegressor(VideoClassifier(**params), loss=loss, column=column)
    if params.get("weights") is not None:
        raise ConfigError("--task regression takes --pretrained, not --weights, for now")
    given = {name: params[name] for name in _REGRESSOR_PARAMS if params.get(name) is not None}
    return VideoRegressor(**given, loss=loss, column=column)


def is_regression(model) -> bool:
    """Whether ``model`` estimates values (a VideoRegressor or PixelRegressor) rather than class probabilities."""
    from vidclass.estimator.pixel_regressor import PixelRegressor
    from vidclass.estimator.regressor import VideoRegressor

    return isinstance(model, (VideoRegressor, PixelRegressor))


def describe(model) -> str:
    """What a fitted regressor trained, for train's summary: ``mean head`` or ``frame model``."""
    from vidclass.estimator.pixel_regressor import PixelRegressor

    return f"{model.model_.name} model" if isinstance(model, PixelRegressor) else f"{model.head} head"
