"""Numeric targets for the models trained on pixels: a clip model with one output.

``PixelRegressor`` is the pixel-seam twin of :class:`vidclass.estimator.regressor.VideoRegressor`: any clip
model (``frame``, ``lrcn``, ``early_fusion``, ``3d``, ``convlstm``) built with one output and trained
end to end on cached decoded frames with an MSE or Huber loss on standardised targets. It takes its
model settings as a :class:`vidclass.estimator.classifier.VideoClassifier` holds them (``settings``), so the clip
models' own defaults, the frame cache and the evaluation views are the classifier's, and everything
numeric is the frozen regressor's: the same targets (numeric CSV column or folder names), split, MAE /
RMSE / R² with a scatter PNG, a bundle recording ``task: regression`` and the target scale, and a stream
giving a value per window. A frame model values a clip as the mean of its frames' values.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
from sklearn.base import clone

from vidclass.data.targets import Target, read_targets, split_targets
from vidclass.errors import ConfigError, VidclassError
from vidclass.estimator.bundle import ClipBundle, bundle_task, load_bundle, package_versions, save_bundle
from vidclass.estimator.regressor import LOSSES, TASK, VALUE, ValueModel, dataset_name
from vidclass.evaluation.regression_scores import regression_scores
from vidclass.training.run_folder import RunFolder


class PixelRegressor(ValueModel):
    """A number per video from a clip model trained on pixels (see the module doc).

    ``settings``: a VideoClassifier with ``model`` one of the clip models and the pixel settings
    (backbone, frames, size, inputs, optimisation, hardware, split fractions and seed); ``loss`` ``mse``
    or ``huber``; ``column``: the CSV column of the targets.
    """

    def __init__(self, settings=None, *, loss: str = "mse", column: str = "target") -> None:
        self.settings, self.loss, self.column = settings, loss, column

    def _settings(self):
        from vidclass.estimator.classifier import VideoClassifier

        pixels = clone(self.settings) if self.settings is not None else VideoClassifier(model="frame")
        if not pixels._pixels:
            raise ConfigError("PixelRegressor trains a clip model (frame, lrcn, early_fusion, 3d, convlstm); "
                              "for --model features use vidclass.estimator.regressor.VideoRegressor")
        return pixels

    def fit(self, dataset: str | Path | list[Target], y: None = None, *, out_dir: str | Path | None = None,
            resume: bool = False, overwrite: bool = False):
        """Train on a CSV / folder of numeric targets (or a list of :class:`Target`); returns self. ``out_dir``,
        ``resume``, ``overwrite``: the run folder, as :meth:`VideoRegressor.fit`'s."""
        from vidclass.training.loop import fit_clip_model

        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        pixels = self._settings()
        pixels.check_params()
        targets = dataset if isinstance(dataset, list) else read_targets(dataset, column=self.column)
        parts = split_targets(targets, pixels.val, pixels.test, pixels.seed)
        run = RunFolder(out_dir, resume=resume, overwrite=overwrite)
        run.write_config({"params": pixels.get_params(), "loss": self.loss, "column": self.column, "task": TASK,
                          "dataset": dataset_name(dataset)})
        pixels.model_ = pixels._new_clip_model(1)
        pixels._set_pixel_views(images=False)
        entries, failed = pixels._frames([t.path for t in targets])
        parts = {name: [t for t in part if t.path in entries] for name, part in parts.items()}
        if not parts["train"]:
            raise ConfigError("no training videos: the training split is empty")
        values = np.array([t.value for t in parts["train"]])
        self.target_mean_, self.target_std_ = float(values.mean()), float(values.std() or 1.0)
        self.pixels_, self.model_ = pixels, pixels.model_
        config = pixels._train_config()
        train, val = (self._clips([entries[t.path] for t in parts[name]], [t.value for t in parts[name]],
                                  train=name == "train") for name in ("train", "val"))
        fit = fit_clip_model(self.model_, train, val, train.labels, config, backbone_lr=pixels._backbone_lr(),
                             out_dir=run.path, progress=pixels.progress, resume=resume, loss=self.loss)
        from vidclass.inputs.pixels import entry_duration

        self.training_ = {"task": TASK, "loss": self.loss, "column": self.column, "target_mean": self.target_mean_,
                          "target_std": self.target_std_, "model": self.model_.name,
                          "videos": {n: len(p) for n, p in parts.items()}, "epochs_run": fit.epochs_run,
                          "best_epoch": fit.best_epoch, "unreadable": failed,
                          "clip_seconds": statistics.median(entry_duration(entries[t.path]) for t in parts["train"])}
        true = np.array([t.value for t in parts["test"]])
        predicted = self._predict_entries([entries[t.path] for t in parts["test"]]) if parts["test"] else None
        self.evaluation_ = regression_scores(true, predicted) if predicted is not None else None
        run.finish(fit.metrics_csv, lambda folder: self._write_run(folder, true, predicted, parts["test"]))
        return self

    def _clips(self, entries: list[Path], values: list[float], *, train: bool, view_index: int = 0):
        """Clips of frame-cache ``entries`` with their standardised ``values`` (a random view and augmentation
        per epoch when ``train``, else evaluation view ``view_index``)."""
        from vidclass.inputs.pixels import ClipDataset

        pixels = self.pixels_
        scaled = [np.float32((value - self.target_mean_) / self.target_std_) for value in values]
        return ClipDataset(entries, scaled, pixels.frame_spec_, pixels.view_,
                           self.model_.spec.size, train=train, pair_image=self.model_.spec.pair_image, flip=pixels.flip,
                           seed=pixels.seed, view_index=view_index)

    def _predict_entries(self, entries: list[Path]) -> np.ndarray:
        """The value of each cached video, averaged over its evaluation views (as a classifier averages probabilities)."""
        from vidclass.inputs.pixels import clip_model_outputs

        views = [self._clips(entries, [self.target_mean_] * len(entries), train=False, view_index=view)
                 for view in range(self.pixels_.view_.test_views)]
        return clip_model_outputs(self.model_, views, self.task.outputs)[:, 0] * self.target_std_ + self.target_mean_

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise VidclassError("this PixelRegressor is not fitted yet: call fit(dataset) or PixelRegressor.load(dir)")

    def predict_many(self, paths) -> tuple[np.ndarray, dict[str, str]]:
        """Values of the readable videos of ``paths`` (in order) and the reason per failed one."""
        self._check_fitted()
        paths = [Path(p) for p in paths]
        entries, failed = self.pixels_._frames(paths)
        readable = [entries[p] for p in paths if p in entries]
        return (self._predict_entries(readable) if readable else np.zeros(0)), failed

    def stream(self):
        """How this model values a stream window by window (:class:`vidclass.estimator.stream.FrameStream` with values)."""
        from vidclass.estimator.stream import clip_stream

        self._check_fitted()
        return clip_stream(self.model_, self.clip_seconds_, self.labels_, scale=(self.target_mean_, self.target_std_))

    def save(self, directory: str | Path) -> Path:
        """A clip-model bundle whose config records ``task: regression`` and the target scale."""
        self._check_fitted()
        metrics = self.evaluation_.to_dict() if self.evaluation_ else getattr(self, "bundle_metrics_", {})
        bundle = ClipBundle(model=self.model_, labels=[VALUE], clip_seconds=self.clip_seconds_, training=self.training_,
                            versions=package_versions(), metrics=metrics)
        return save_bundle(bundle, directory)

    @classmethod
    def load(cls, directory: str | Path, *, cache_dir: str | Path | None = None, workers: int = 1) -> PixelRegressor:
        """A fitted regressor from a bundle saved by :meth:`save` (safetensors + JSON; refuses other bundles)."""
        from vidclass.estimator.classifier import VideoClassifier

        if bundle_task(directory) != TASK:
            raise ConfigError(f"{directory}: a classifier's bundle, not a regression model (no task: regression)")
        bundle = load_bundle(directory)
        if not isinstance(bundle, ClipBundle):
            raise ConfigError(f"{directory}: a frozen-feature regression model; load it with VideoRegressor")
        spec = bundle.model.spec
        settings = VideoClassifier(model=bundle.kind, backbone=spec.backbone, frames=spec.frames, inputs=spec.inputs,
                                   size=spec.size, arch=bundle.model.options().get("arch"), cache_dir=cache_dir,
                                   workers=workers)
        model = cls(settings, loss=bundle.training.get("loss", "mse"), column=bundle.training.get("column", "target"))
        model.pixels_ = clone(settings)
        model.pixels_.model_ = model.model_ = bundle.model
        model.pixels_._set_pixel_views(images=False)
        model.training_ = bundle.training
        model.target_mean_, model.target_std_ = bundle.training["target_mean"], bundle.training["target_std"]
        model.evaluation_, model.bundle_metrics_, model.bundle_dir_ = None, bundle.metrics, Path(directory)
        return model

