"""``VideoClassifier``: the scikit-learn-like facade over the whole pipeline.

``__init__`` only stores parameters; ``fit`` catalogs and splits the dataset, extracts
(cached) frame features, trains the head and evaluates it on the held-back split;
``predict`` / ``predict_proba`` / ``score`` / ``evaluate`` label other videos with the
model's own sampling and preprocessing; ``save`` / ``load`` go through a model bundle.
The CLI is a thin layer over this class.
"""

from __future__ import annotations

import inspect
import json
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidclass import catalog as catalog_
from vidclass import metrics
from vidclass.backbones import FrameEncoder, create_backbone
from vidclass.bundle import Bundle, load_bundle, package_versions, save_bundle
from vidclass.errors import ConfigError, VidclassError
from vidclass.features import FeatureCache, FeatureSpec, VideoFeatures, extract_features, fingerprint, load_features
from vidclass.heads import TemporalHead, create_head
from vidclass.views import DEFAULT_INPUTS, ViewSpec, predict_proba

Dataset = str | Path | catalog_.Catalog


class VideoClassifier:
    """Frame encoder + temporal head, trained and used on whole videos.

    Parameters mirror ``vidclass train``: ``backbone`` (see ``vidclass backbones``),
    ``head`` (see ``vidclass.heads.list_heads``), ``frames`` per view, ``grid`` frames
    cached per video (default ``2 * frames``), ``inputs`` (``appearance``,
    ``appearance+motion``, ``appearance+rgbdiff`` or ``appearance+motion+rgbdiff``, see
    :mod:`vidclass.views`), the optimisation settings of ``TrainConfig``, the split
    fractions ``val`` / ``test`` and its ``seed``, the feature ``cache_dir`` and decode
    ``workers``.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        head: str = "attention",
        frames: int = 16,
        *,
        grid: int | None = None,
        inputs: str = DEFAULT_INPUTS,
        head_options: dict[str, Any] | None = None,
        pretrained: bool = True,
        weights: str | Path | None = None,
        epochs: int = 60,
        batch_size: int = 16,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        patience: int = 10,
        label_smoothing: float = 0.0,
        class_weights: bool = False,
        seed: int = 0,
        val: float = 0.15,
        test: float = 0.15,
        cache_dir: str | Path | None = None,
        workers: int = 1,
        progress: bool = False,
    ) -> None:
        self.backbone = backbone
        self.head = head
        self.frames = frames
        self.grid = grid
        self.inputs = inputs
        self.head_options = head_options
        self.pretrained = pretrained
        self.weights = weights
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.label_smoothing = label_smoothing
        self.class_weights = class_weights
        self.seed = seed
        self.val = val
        self.test = test
        self.cache_dir = cache_dir
        self.workers = workers
        self.progress = progress

    # --- configuration ---------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as scikit-learn's ``get_params`` gives them."""
        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters if name != "self"}

    def _view_spec(self) -> ViewSpec:
        return ViewSpec(frames=self.frames, grid=self.grid or 2 * self.frames, inputs=self.inputs)  # type: ignore[arg-type]

    def _train_config(self):
        from vidclass.training import TrainConfig

        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            label_smoothing=self.label_smoothing,
            class_weights=self.class_weights,
            seed=self.seed,
        )

    def _cache(self) -> FeatureCache:
        return FeatureCache(self.cache_dir)

    # --- fitting ---------------------------------------------------------------------

    def fit(self, dataset: Dataset, *, out_dir: str | Path | None = None) -> VideoClassifier:
        """Train on ``dataset`` (a folder, CSV, list file or Catalog); returns self.

        With ``out_dir``: the resolved configuration, per-epoch metrics CSV, training-curve
        PNG, the model bundle (``model/``) and the evaluation of the test split
        (``evaluation/``) are written there.
        """
        from vidclass.training import Example, fit_head  # Lightning is only needed to fit

        view, config = self._view_spec(), self._train_config()
        found = _as_catalog(dataset)
        splits = catalog_.split_catalog(found, val=self.val, test=self.test, seed=self.seed)
        out = Path(out_dir) if out_dir is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            _write_json(out / "config.json", {"params": _jsonable(self.get_params()), "dataset": str(found.root)})
        encoder = create_backbone(self.backbone, pretrained=self.pretrained, weights=self.weights)
        grids, failed = self._features(encoder, [item.path for item in found.items], view)
        labels = list(found.labels)
        parts = {
            name: [Example(grids[item.path], labels.index(item.label)) for item in items if item.path in grids]
            for name, items in splits.parts().items()
        }
        with torch.random.fork_rng(devices=[]):  # the head's initial weights follow the seed
            torch.manual_seed(self.seed)
            head = create_head(
                self.head,
                in_dim=view.input_dim(encoder.spec.dim),
                num_classes=len(labels),
                **(self.head_options or {}),
            )
        fit = fit_head(head, parts["train"], parts["val"], view, config, out_dir=out, progress=self.progress)
        self.labels_ = labels
        self.encoder_ = encoder
        self.head_ = fit.head
        self.view_ = view
        used = [item for name in ("train", "val") for item in splits.parts()[name] if item.path in grids]
        self.clip_seconds_ = statistics.median(grids[item.path].duration for item in used)
        self.training_videos_ = sorted(fingerprint(item.path) for item in used)
        self.training_ = {
            "dataset": str(found.root),
            "format": found.source_format,
            "split": splits.method,
            "split_seed": self.seed,
            "videos": {name: len(examples) for name, examples in parts.items()},
            "groups": sorted({item.group for item in used if item.group is not None}),
            "unreadable": failed,
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "best_val_loss": fit.best_val_loss,
            "config": asdict(config),
        }
        self.evaluation_ = None
        test_items = [item for item in splits.test if item.path in grids]
        if test_items:
            self.evaluation_ = self._evaluate_items(test_items, grids, split="test")
        if out is not None:
            if fit.metrics_csv is not None and fit.metrics_csv.is_file():
                metrics.plot_training_curves(fit.metrics_csv, out / "curves.png")
            self.save(out / "model")
            if self.evaluation_ is not None:
                self._write_evaluation(self.evaluation_, test_items, grids, out / "evaluation")
        return self

    def _features(
        self, encoder: FrameEncoder, paths: Sequence[Path], view: ViewSpec
    ) -> tuple[dict[Path, VideoFeatures], dict[str, str]]:
        """Cached grid features of ``paths`` (extracting what is missing) and the failures."""
        cache = self._cache()
        report = extract_features(paths, encoder, view.grid, cache=cache, workers=self.workers, rgbdiff=view.rgbdiff)
        spec = FeatureSpec.for_encoder(encoder, view.grid, rgbdiff=view.rgbdiff)
        return load_features(paths, spec, cache), report.failed

    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            raise VidclassError("this VideoClassifier is not fitted yet: call fit(dataset) or VideoClassifier.load(dir)")

    # --- prediction ------------------------------------------------------------------

    def predict_proba(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Class probabilities (N x C, columns in ``labels_`` order).

        An unreadable video raises VideoReadError naming it; use ``predict_many`` to go on
        past bad files.
        """
        probabilities, failed = self.predict_many(paths)
        if failed:
            path, reason = next(iter(failed.items()))
            raise VidclassError(reason if path in reason else f"{path}: {reason}")
        return probabilities

    def predict_many(self, paths: Sequence[str | Path]) -> tuple[np.ndarray, dict[str, str]]:
        """Probabilities for the readable videos of ``paths`` (in order) and the reason per failed one."""
        self._check_fitted()
        paths = [Path(p) for p in paths]
        grids, failed = self._features(self.encoder_, paths, self.view_)
        readable = [p for p in paths if p in grids]
        if not readable:
            return np.zeros((0, len(self.labels_)), dtype=np.float32), failed
        return predict_proba(self.head_, [grids[p] for p in readable], self.view_), failed

    def predict(self, paths: Sequence[str | Path]) -> list[str]:
        """The most probable label of each video."""
        return [self.labels_[i] for i in self.predict_proba(paths).argmax(axis=1)]

    def score(self, dataset: Dataset) -> float:
        """Accuracy on the videos of ``dataset`` the model was not trained on."""
        return self.evaluate(dataset).accuracy

    # --- evaluation ------------------------------------------------------------------

    def evaluate(self, dataset: Dataset, *, out_dir: str | Path | None = None) -> metrics.Evaluation:
        """Evaluate on the videos of ``dataset`` that the model never saw in training.

        Videos whose content was used for training or early stopping, and videos of a
        group the model was trained on, are left out, so evaluating on the training
        dataset scores exactly its held-back part. The result says which videos remain.
        """
        self._check_fitted()
        found = _as_catalog(dataset)
        seen = set(self.training_videos_)
        seen_groups = set(self.training_.get("groups", []))
        unknown = sorted({item.label for item in found.items} - set(self.labels_))
        if unknown:
            raise ConfigError(
                f"{found.root}: labels {', '.join(unknown)} are not among the model's labels ({', '.join(self.labels_)})"
            )
        kept = [
            item
            for item in found.items
            if item.group not in seen_groups and _safe_fingerprint(item.path) not in seen
        ]
        if not kept:
            raise VidclassError(f"{found.root}: every video of this dataset was used in training; nothing left to evaluate")
        grids, failed = self._features(self.encoder_, [item.path for item in kept], self.view_)
        items = [item for item in kept if item.path in grids]
        left_out = len(found.items) - len(kept)
        split = "held-out" if left_out else "all"
        evaluation = self._evaluate_items(items, grids, split=split)
        evaluation.notes = [f"{left_out} videos seen in training left out"] if left_out else []
        evaluation.notes += [f"{len(failed)} unreadable videos skipped"] if failed else []
        if out_dir is not None:
            self._write_evaluation(evaluation, items, grids, Path(out_dir))
        return evaluation

    def _evaluate_items(
        self, items: Sequence[catalog_.VideoItem], grids: dict[Path, VideoFeatures], *, split: str
    ) -> metrics.Evaluation:
        probabilities = predict_proba(self.head_, [grids[item.path] for item in items], self.view_)
        return metrics.evaluate_predictions(
            [self.labels_.index(item.label) for item in items],
            probabilities,
            self.labels_,
            split=split,
            groups=[item.group for item in items],
        )

    def _write_evaluation(
        self,
        evaluation: metrics.Evaluation,
        items: Sequence[catalog_.VideoItem],
        grids: dict[Path, VideoFeatures],
        out_dir: Path,
    ) -> dict[str, Path]:
        probabilities = predict_proba(self.head_, [grids[item.path] for item in items], self.view_)
        return metrics.write_evaluation(
            evaluation,
            out_dir,
            paths=[item.path for item in items],
            y_true=[self.labels_.index(item.label) for item in items],
            probabilities=probabilities,
        )

    # --- persistence -----------------------------------------------------------------

    def to_bundle(self) -> Bundle:
        self._check_fitted()
        return Bundle(
            labels=self.labels_,
            encoder=self.encoder_,
            head=self.head_,
            view=self.view_,
            clip_seconds=self.clip_seconds_,
            training=self.training_,
            metrics=self.evaluation_.to_dict() if self.evaluation_ is not None else {},
            training_videos=self.training_videos_,
            versions=package_versions(),
        )

    def save(self, directory: str | Path) -> Path:
        """Write the fitted model as a bundle directory (config.json + safetensors)."""
        return save_bundle(self.to_bundle(), directory)

    @classmethod
    def load(cls, directory: str | Path, *, cache_dir: str | Path | None = None, workers: int = 1) -> VideoClassifier:
        """A fitted classifier from a bundle directory; never unpickles."""
        bundle = load_bundle(directory)
        model = cls(
            backbone=bundle.encoder.spec.name,
            head=bundle.head.name,
            frames=bundle.view.frames,
            grid=bundle.view.grid,
            inputs=bundle.view.inputs,
            cache_dir=cache_dir,
            workers=workers,
        )
        model._set_fitted(bundle)
        return model

    def _set_fitted(self, bundle: Bundle) -> None:
        self.labels_ = list(bundle.labels)
        self.encoder_ = bundle.encoder
        self.head_ = bundle.head
        self.view_ = bundle.view
        self.clip_seconds_ = bundle.clip_seconds
        self.training_ = bundle.training
        self.training_videos_ = bundle.training_videos
        self.evaluation_ = None
        self.bundle_metrics_ = bundle.metrics


def _as_catalog(dataset: Dataset) -> catalog_.Catalog:
    return dataset if isinstance(dataset, catalog_.Catalog) else catalog_.load_catalog(dataset)


def _safe_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(path)
    except OSError:
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
