"""Numeric targets: a temporal head on cached features that estimates a number per video.

``VideoRegressor`` is the regression twin of ``VideoClassifier`` for the frozen-feature seam:
the same backbones, feature cache, views and heads, with one output, an MSE or Huber loss on
standardised targets, and a report of MAE, RMSE and R² with a predicted-vs-true scatter PNG.
The head's inputs are standardised per feature from the training set (its ``standardize`` option)
rather than LayerNorm'd per frame, which would divide out how much moved. Its ``stream()`` gives
timelines a value per window (:mod:`vidclass.use.predict`), and :mod:`vidclass.estimator.tasks` loads either kind of bundle.
Like a classifier it runs on ``runtime`` (``auto``: ONNX Runtime on a CPU when installed, and an exported
bundle's own graphs: ``vidclass export``).
Targets are read by :mod:`vidclass.data.targets`, scored by :mod:`vidclass.evaluation.regression_scores`. The bundle records ``task: regression`` and the target
scale, so it cannot be mistaken for a classifier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin

from vidclass.data.targets import Target, read_targets, split_targets
from vidclass.errors import ConfigError, VidclassError
from vidclass.estimator.bundle import Bundle, load_bundle, package_versions, save_bundle
from vidclass.estimator.tasks import REGRESSION, Task
from vidclass.evaluation.regression_scores import RegressionEvaluation, regression_scores, write_evaluation
from vidclass.inputs.features import FeatureCache, FeatureSpec, extract_features, load_features
from vidclass.inputs.views import DEFAULT_INPUTS, ViewSpec, cut_view, view_averaged
from vidclass.models.backbones import create_backbone
from vidclass.models.heads import create_head
from vidclass.training.run_folder import RunFolder

TASK = "regression"
VALUE = "value"  # the name of a regression model's one output
LOSSES = ("mse", "huber")
# Inputs standardised per feature from the training set instead of LayerNorm per frame: the norm of a
# frame's features (how much moved) is what a number like a speed is read from, and LayerNorm divides it out.
HEAD_OPTIONS = {"standardize": True, "input_norm": False}


class ValueModel(RegressorMixin, BaseEstimator):
    """What every regressor shares: one output named ``value``, predict, evaluate and the timeline window.

    Subclasses give ``predict_many(paths) -> (values, failed)``, ``_check_fitted`` and ``training_``."""

    task: ClassVar[Task] = REGRESSION  # what its outputs are: one value per video

    @property
    def labels_(self) -> list[str]:
        """The one output's name (a timeline's column)."""
        return [VALUE]

    @property
    def clip_seconds_(self) -> float:
        """The median training clip length: a timeline's default window."""
        return float(self.training_.get("clip_seconds", 2.0))

    def predict(self, paths) -> np.ndarray:
        """The estimated value of each video (an unreadable one raises naming it)."""
        values, failed = self.predict_many(paths)
        if failed:
            path, reason = next(iter(failed.items()))
            raise VidclassError(reason if path in reason else f"{path}: {reason}")
        return values

    def _write_run(self, folder: Path, true: np.ndarray, predicted: np.ndarray | None, test: list[Target]) -> None:
        """The model bundle and, when there was a test split, its evaluation, into a run folder."""
        self.save(folder / "model")
        if predicted is not None:
            write_evaluation(folder / "evaluation", true, predicted, [t.path for t in test])

    def evaluate(self, dataset, *, out_dir: str | Path | None = None) -> RegressionEvaluation:
        """MAE, RMSE and R² on a dataset of numeric targets; with ``out_dir`` also metrics.json, scatter.png and
        predictions.csv (path, true, predicted)."""
        targets = dataset if isinstance(dataset, list) else read_targets(dataset, column=self.column)
        true = np.array([t.value for t in targets])
        predicted = self.predict([t.path for t in targets])
        if out_dir is not None:
            write_evaluation(Path(out_dir), true, predicted, [t.path for t in targets])
        return regression_scores(true, predicted)


class VideoRegressor(ValueModel):
    """A number per video from a temporal head on cached frozen features (see the module doc)."""

    def __init__(self, backbone: str = "efficientnet_lite0", head: str = REGRESSION.default_head, frames: int = 16, *,
                 grid: int | None = None, inputs: str = DEFAULT_INPUTS, loss: str = "mse",
                 head_options: dict[str, Any] | None = None, pretrained: bool = True, epochs: int = 60,
                 batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 0.05, patience: int = 10,
                 seed: int = 0, val: float = 0.15, test: float = 0.15, cache_dir: str | Path | None = None,
                 workers: int = 1, column: str = "target", size: int | None = None, runtime: str = "auto") -> None:
        self.backbone, self.head, self.frames, self.grid, self.inputs = backbone, head, frames, grid, inputs
        self.loss, self.head_options, self.pretrained = loss, head_options, pretrained
        self.epochs, self.batch_size, self.lr, self.weight_decay, self.patience = epochs, batch_size, lr, weight_decay, patience
        self.seed, self.val, self.test, self.cache_dir, self.workers, self.column = seed, val, test, cache_dir, workers, column
        self.size = size  # frames the backbone sees, in px (None: its own; smaller costs quadratically less)
        self.runtime = runtime  # torch, onnxruntime or auto (vidclass.models.runtime)

    def _grids(self, paths):
        cache, encoder = FeatureCache(self.cache_dir), self._run("encoder")
        report = extract_features(paths, encoder, self.view_.grid, cache=cache, workers=self.workers,
                                  pair_image=self.view_.pair_image, appearance=self.view_.frame_features)
        spec = FeatureSpec.for_encoder(encoder, self.view_.grid, appearance=self.view_.frame_features,
                                       pair_image=self.view_.pair_image)
        return load_features(paths, spec, cache), report.failed

    def _run(self, part: str):
        """What runs ``encoder_`` or ``head_`` under ``runtime``: the module, or its ONNX Runtime graph
        (an exported bundle's, else the encoder's exported on demand): :func:`vidclass.estimator.engine.runtime_part`."""
        from vidclass.estimator.engine import runtime_part

        return runtime_part(self, part)  # type: ignore[arg-type]

    def fit(self, dataset: str | Path | list[Target], y: None = None, *, out_dir: str | Path | None = None,
            resume: bool = False, overwrite: bool = False):
        """Train on a CSV / folder of numeric targets (or a list of :class:`Target`); returns self.

        With ``out_dir``: a run folder as a classifier's (:class:`vidclass.training.run_folder.RunFolder`: staged,
        ``resume`` from the last checkpoint, ``overwrite`` to replace a finished run) with config.json, the
        per-epoch metrics and curves, the model bundle (``model/``) and the test split's evaluation."""
        from vidclass.training.loop import Example, TrainConfig, fit_head

        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        targets = dataset if isinstance(dataset, list) else read_targets(dataset, column=self.column)
        run = RunFolder(out_dir, resume=resume, overwrite=overwrite)
        run.write_config({"params": self.get_params(), "task": TASK, "dataset": dataset_name(dataset)})
        self.view_ = ViewSpec(frames=self.frames, grid=self.grid or 2 * self.frames, inputs=self.inputs)
        self.encoder_ = create_backbone(self.backbone, pretrained=self.pretrained, size=self.size)
        self.__dict__.pop("_runtime_parts", None)  # a refit: no engine parts of the earlier model
        self.bundle_dir_ = None
        parts = split_targets(targets, self.val, self.test, self.seed)
        grids, failed = self._grids([t.path for t in targets])
        parts = {name: [t for t in part if t.path in grids] for name, part in parts.items()}
        values = np.array([t.value for t in parts["train"]])
        self.target_mean_, self.target_std_ = float(values.mean()), float(values.std() or 1.0)
        scaled = {name: [(t.value - self.target_mean_) / self.target_std_ for t in part] for name, part in parts.items()}
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             weight_decay=self.weight_decay, patience=self.patience, seed=self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            options = {**HEAD_OPTIONS, **(self.head_options or {})}
            self.head_ = create_head(self.head, in_dim=self.view_.input_dim(self.encoder_.spec.dim), num_classes=1,
                                     **options)
        if options["standardize"]:
            self.head_.set_standardization(*_input_statistics([grids[t.path] for t in parts["train"]], self.view_))
        train, val = ([Example(grids[t.path], value) for t, value in zip(parts[name], scaled[name])]
                      for name in ("train", "val"))
        fit = fit_head(self.head_, train, val, self.view_, config, out_dir=run.path, resume=resume, loss=self.loss)
        self.head_.eval()
        self.training_ = {"task": TASK, "loss": self.loss, "column": self.column, "target_mean": self.target_mean_,
                          "target_std": self.target_std_, "videos": {n: len(p) for n, p in parts.items()},
                          "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch, "unreadable": failed,
                          "clip_seconds": float(np.median([grids[t.path].duration for t in parts["train"]]))}
        true = np.array([t.value for t in parts["test"]])
        predicted = self._predict_grids([grids[t.path] for t in parts["test"]]) if parts["test"] else None
        self.evaluation_ = regression_scores(true, predicted) if predicted is not None else None
        run.finish(fit.metrics_csv, lambda folder: self._write_run(folder, true, predicted, parts["test"]))
        return self

    def _predict_grids(self, grids) -> np.ndarray:
        """The value of each grid, averaged over its evaluation views (as a classifier averages probabilities)."""
        standardised = view_averaged(self._run("head"), grids, self.view_, self.task.outputs)[:, 0]
        return standardised * self.target_std_ + self.target_mean_

    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            raise VidclassError("this VideoRegressor is not fitted yet: call fit(dataset) or VideoRegressor.load(dir)")

    def predict_many(self, paths) -> tuple[np.ndarray, dict[str, str]]:
        """Values of the readable videos of ``paths`` (in order) and the reason per failed one."""
        self._check_fitted()
        paths = [Path(p) for p in paths]
        grids, failed = self._grids(paths)
        readable = [grids[p] for p in paths if p in grids]
        return (self._predict_grids(readable) if readable else np.zeros(0)), failed

    def stream(self):
        """How this model values a stream window by window (:class:`vidclass.estimator.stream.FrameStream` with values)."""
        from vidclass.estimator.stream import features_stream

        self._check_fitted()
        return features_stream(self._run("encoder"), self._run("head"), self.view_, self.clip_seconds_, self.labels_,
                               scale=(self.target_mean_, self.target_std_))

    def to_bundle(self) -> Bundle:
        """The fitted model as a bundle whose config records ``task: regression`` and the target scale."""
        self._check_fitted()
        metrics = self.evaluation_.to_dict() if self.evaluation_ else getattr(self, "bundle_metrics_", {})
        return Bundle(encoder=self.encoder_, head=self.head_, view=self.view_, labels=[VALUE],
                      clip_seconds=self.training_.get("clip_seconds", 2.0), training=self.training_,
                      versions=package_versions(), metrics=metrics)

    def save(self, directory: str | Path) -> Path:
        """Write :meth:`to_bundle` as a bundle directory (config.json + safetensors)."""
        return save_bundle(self.to_bundle(), directory)

    @classmethod
    def load(cls, directory: str | Path, *, cache_dir: str | Path | None = None, workers: int = 1,
             runtime: str = "auto") -> VideoRegressor:
        """A fitted regressor from a bundle saved by :meth:`save` (refuses a classifier's bundle); an exported
        bundle (``vidclass export``) runs its own ONNX graphs under ONNX Runtime."""
        from vidclass.estimator.engine import runs_exported
        from vidclass.models.runtime import check_runtime

        try:  # the task first: a classifier's bundle is refused as such, before its schema is checked as ours
            task = json.loads((Path(directory) / "config.json").read_text()).get("training", {}).get("task")
        except (OSError, ValueError, AttributeError):
            task = None
        if task != TASK:
            raise ConfigError(f"{directory}: a classifier's bundle, not a regression model (no task: regression)")
        check_runtime(runtime)
        bundle = load_bundle(directory, defer_encoder=runs_exported(directory, runtime))
        model = cls(backbone=bundle.encoder.spec.name, head=bundle.head.name, frames=bundle.view.frames,
                    grid=bundle.view.grid, inputs=bundle.view.inputs, loss=bundle.training.get("loss", "mse"),
                    cache_dir=cache_dir, workers=workers, column=bundle.training.get("column", "target"),
                    size=bundle.encoder.spec.preprocess.crop, runtime=runtime)
        model.encoder_, model.head_, model.view_, model.training_ = bundle.encoder, bundle.head, bundle.view, bundle.training
        model.target_mean_, model.target_std_ = bundle.training["target_mean"], bundle.training["target_std"]
        model.evaluation_, model.bundle_metrics_, model.bundle_dir_ = None, bundle.metrics, Path(directory)
        return model


def _input_statistics(grids, spec: ViewSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of the head's inputs over every real frame of the training grids."""
    every = [cut_view(g.features, g.mask, ViewSpec(g.mask.size, g.mask.size, spec.inputs, spec.people),
                      rgbdiff=g.rgbdiff, pose=g.pose) for g in grids]
    frames = np.concatenate([x[mask] for x, mask in every])
    return frames.mean(axis=0), frames.std(axis=0)


def dataset_name(dataset: str | Path | list[Target]) -> str:
    """What a run's config.json records as its dataset: the CSV or folder, or how many targets were given."""
    return f"{len(dataset)} targets given in Python" if isinstance(dataset, list) else str(dataset)
