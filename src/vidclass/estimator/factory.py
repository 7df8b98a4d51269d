"""Which model class serves: the model a bundle holds (by the task and kind its config records), and the
regressor ``vidclass train --task regression`` builds from the classifier's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidclass.errors import ConfigError
from vidclass.estimator.bundle import bundle_kind, bundle_task

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



def describe(model) -> str:
    """What a fitted regressor trained, for train's summary: ``mean head`` or ``frame model``."""
    from vidclass.estimator.pixel_regressor import PixelRegressor

    return f"{model.model_.name} model" if isinstance(model, PixelRegressor) else f"{model.head} head"
