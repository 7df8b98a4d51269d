"""Which model class serves: the model a bundle holds (by the task its config records), and how train's summary
names what a model trained."""

from __future__ import annotations

from pathlib import Path

from vidclass.estimator.bundle import FEATURES, bundle_task


def load_model(directory: str | Path, *, cache_dir: str | Path | None = None, workers: int = 1,
               runtime: str = "auto"):
    """The model of a bundle: a VideoRegressor when it records task regression, else a VideoClassifier."""
    if bundle_task(directory) == "regression":
        from vidclass.estimator.regressor import VideoRegressor

        return VideoRegressor.load(directory, cache_dir=cache_dir, workers=workers, runtime=runtime)
    from vidclass.estimator.classifier import VideoClassifier

    return VideoClassifier.load(directory, cache_dir=cache_dir, workers=workers, runtime=runtime)


def describe(model) -> str:
    """What a fitted model trained, for train's summary: ``gru head`` or ``frame model``."""
    return f"{model.head_.name} head" if model.kind_ == FEATURES else f"{model.kind_} model"
