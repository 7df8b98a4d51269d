"""Grouped cross-validation of vidclass recipes on cached feature grids (helper of ``accuracy.py``).

Features are extracted once per (dataset, backbone, grid) into a feature cache; every recipe
is then trained and scored on the same outer folds (``StratifiedGroupKFold`` over the clips'
groups), with its early-stopping validation part carved group-aware from the training part
of each fold only, so nothing is tuned on a test fold. The logistic-regression baseline on
pooled features runs on the same folds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vidclass.data.items import Catalog, VideoItem
from vidclass.data.splits import split_catalog
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache, FeatureSpec, VideoFeatures, load_features
from vidclass.inputs.pose import PoseReport, PoseSpec, pose_features
from vidclass.inputs.pose import with_pose as attach_pose
from vidclass.inputs.views import DEFAULT_INPUTS, ViewSpec, view_averaged, view_positions
from vidclass.models.backbones import FrameEncoder
from vidclass.models.heads import create_head
from vidclass.training.config import Example, TrainConfig
from vidclass.training.loop import fit_head


@dataclass(frozen=True)
class Recipe:
    """One trainable configuration: head, views, inputs and optimisation settings."""

    head: str
    frames: int = 16
    grid: int = 32
    inputs: str = DEFAULT_INPUTS
    options: tuple[tuple[str, Any], ...] = ()  # head options, as sorted (name, value) pairs
    # the optimisation settings default to TrainConfig's (train_config passes the shared fields on)
    epochs: int = TrainConfig.epochs
    lr: float = TrainConfig.lr
    weight_decay: float = TrainConfig.weight_decay
    patience: int = TrainConfig.patience
    label_smoothing: float = TrainConfig.label_smoothing
    batch_size: int = TrainConfig.batch_size

    @staticmethod
    def make(head: str, *, options: dict[str, Any] | None = None, **settings: Any) -> Recipe:
        return Recipe(head, options=tuple(sorted((options or {}).items())), **settings)

    @property
    def view(self) -> ViewSpec:
        return ViewSpec(frames=self.frames, grid=self.grid, inputs=self.inputs)  # type: ignore[arg-type]

    def train_config(self, seed: int) -> TrainConfig:
        """The recipe's optimisation settings (the fields it shares with TrainConfig) and ``seed``."""
        shared = {f.name for f in fields(TrainConfig)} & {f.name for f in fields(self)}
        return TrainConfig(**{name: getattr(self, name) for name in shared}, seed=seed)

    def describe(self) -> str:
        """``head motion f16/g32 opt=value ...``: the head, inputs, views and every non-default setting."""
        base = Recipe(self.head)
        parts = [self.head, _INPUTS.get(self.inputs, self.inputs), f"f{self.frames}/g{self.grid}"]
        parts += [f"{name}={value}" for name, value in self.options]
        for name in ("epochs", "lr", "weight_decay", "patience", "label_smoothing", "batch_size"):
            if getattr(self, name) != getattr(base, name):
                parts.append(f"{_SHORT.get(name, name)}={getattr(self, name)}")
        return " ".join(parts)


_SHORT = {"weight_decay": "wd", "label_smoothing": "ls", "batch_size": "bs"}
_INPUTS = {"appearance": "appear", "appearance+motion": "motion", "appearance+rgbdiff": "rgbdiff",
           "appearance+motion+rgbdiff": "motion+rgbdiff", "pose": "pose", "pose+velocity": "pose+vel",
           "appearance+pose": "appear+pose", "appearance+pose+velocity": "appear+pose+vel",
           "appearance+motion+pose": "motion+pose", "appearance+rgbdiff+pose": "rgbdiff+pose",
           "appearance+rgbdiff+pose+velocity": "rgbdiff+pose+vel"}


@dataclass
class Score:
    """Accuracy per outer fold (averaged over training seeds) and training seconds per fit."""

    name: str
    fold_accuracy: list[float]
    fit_seconds: list[float] = field(default_factory=list)
    seed_accuracy: list[float] = field(default_factory=list)  # mean over folds, one per seed
    epochs: list[int] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.fold_accuracy)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.fold_accuracy)

    @property
    def low(self) -> float:
        return min(self.fold_accuracy)

    @property
    def high(self) -> float:
        return max(self.fold_accuracy)

    @property
    def seconds(self) -> float:
        return statistics.fmean(self.fit_seconds) if self.fit_seconds else 0.0


@dataclass
class Dataset:
    """Labeled clips with their cached grids (unreadable clips left out)."""

    items: list[VideoItem]
    labels: list[str]
    grids: dict[Path, VideoFeatures]
    root: Path
    source_format: str

    @property
    def y(self) -> np.ndarray:
        return np.array([self.labels.index(item.label) for item in self.items])

    @property
    def groups(self) -> np.ndarray:
        return np.array([item.group if item.group is not None else str(item.path) for item in self.items])

    def catalog(self, items: Sequence[VideoItem]) -> Catalog:
        return Catalog(self.root, list(items), self.labels, self.source_format)


def cached_dataset(
    catalog: Catalog, encoder: FrameEncoder, grid: int, cache: FeatureCache, workers: int, *,
    pair_image: str | None = None,
) -> Dataset:
    """Extract (what the cache lacks) and load the grid features of every clip of ``catalog``, with the
    features of each grid frame's pair image (``rgbdiff`` or ``flow``) when given."""
    paths = [item.path for item in catalog.items]
    extract_features(paths, encoder, grid, cache=cache, workers=workers, pair_image=pair_image)
    grids = load_features(paths, FeatureSpec.for_encoder(encoder, grid, pair_image=pair_image), cache)
    items = [item for item in catalog.items if item.path in grids]
    return Dataset(items, list(catalog.labels), grids, catalog.root, catalog.source_format)


def with_pose(data: Dataset, cache: FeatureCache, workers: int, *, people: int = 3) -> tuple[Dataset, PoseReport]:
    """``data`` with the BlazePose vectors of the same grid frames beside its features (estimating
    what the cache lacks); clips without pose vectors are left out."""
    grid = len(next(iter(data.grids.values())).indices)
    paths = [item.path for item in data.items]
    poses, report = pose_features(paths, PoseSpec(people=people), grid, cache=cache, workers=workers)
    grids = attach_pose(data.grids, poses)
    items = [item for item in data.items if item.path in grids]
    return Dataset(items, data.labels, grids, data.root, data.source_format), report


def outer_folds(data: Dataset, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``StratifiedGroupKFold(folds, shuffle=True, random_state=seed)`` train/test indices."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(data.items)), data.y, data.groups))


def cross_validate(
    data: Dataset,
    recipe: Recipe,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    seeds: Sequence[int] = (0,),
    val: float = 0.2,
    ensemble: bool = False,
) -> Score:
    """Train ``recipe`` on each fold's training part (early stopping on a group-aware
    validation part of it) and score the fold's test part; once per training seed.

    A fold's accuracy is the mean over seeds, or with ``ensemble`` the accuracy of the
    seeds' averaged probabilities (one model made of ``len(seeds)`` heads).
    """
    view = recipe.view
    labels = data.y
    per_seed: list[list[float]] = []
    summed: list[np.ndarray | float] = [0.0] * len(folds)
    seconds: list[float] = []
    epochs: list[int] = []
    for seed in seeds:
        accuracies = []
        for fold, (train_index, test_index) in enumerate(folds):
            inner = split_catalog(data.catalog([data.items[i] for i in train_index]), val=val, test=0.0, seed=fold)
            train = [_example(data, item) for item in inner.train]
            held = [_example(data, item) for item in inner.val]
            grid_dim = next(iter(data.grids.values())).features.shape[1]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                head = create_head(
                    recipe.head, in_dim=view.input_dim(grid_dim), num_classes=len(data.labels), **dict(recipe.options)
                )
            start = time.perf_counter()
            fit = fit_head(head, train, held, view, recipe.train_config(seed))
            seconds.append(time.perf_counter() - start)
            epochs.append(fit.epochs_run)
            test_grids = [data.grids[data.items[i].path] for i in test_index]
            probabilities = view_averaged(head, test_grids, view)
            summed[fold] = summed[fold] + probabilities
            accuracies.append(float((probabilities.argmax(axis=1) == labels[test_index]).mean()))
        per_seed.append(accuracies)
    if ensemble:
        fold_accuracy = [float((p.argmax(axis=1) == labels[test]).mean()) for p, (_, test) in zip(summed, folds)]
    else:
        fold_accuracy = [statistics.fmean(column) for column in zip(*per_seed)]
    return Score(
        recipe.describe() + (f" ensemble of {len(seeds)}" if ensemble else ""),
        fold_accuracy,
        fit_seconds=seconds,
        seed_accuracy=[statistics.fmean(row) for row in per_seed],
        epochs=epochs,
    )


def _example(data: Dataset, item: VideoItem) -> Example:
    return Example(data.grids[item.path], data.labels.index(item.label))


# --- the logistic-regression baseline on pooled features ------------------------------------------


POOLINGS = ("mean", "mean+|diff|", "mean+rgbdiff")


def pooled_features(grid: VideoFeatures, frames: int, pooling: str) -> np.ndarray:
    """Mean feature of ``frames`` uniform grid frames; with ``mean+|diff|`` also their mean
    |frame-to-frame change|, with ``mean+rgbdiff`` the mean feature of their RGB differences."""
    positions = view_positions(ViewSpec(frames=frames, grid=grid.features.shape[0], inputs="appearance"), view=0)
    real = positions[grid.mask[positions]]
    x = grid.features[real].astype(np.float64)
    parts = [x.mean(axis=0)]
    if pooling == "mean+|diff|":
        parts.append(np.abs(np.diff(x, axis=0)).mean(axis=0) if len(x) > 1 else np.zeros(x.shape[1]))
    elif pooling == "mean+rgbdiff":
        parts.append(grid.rgbdiff[real].astype(np.float64).mean(axis=0))
    return np.concatenate(parts)


def logistic_cv(
    data: Dataset,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    frames: int,
    pooling: str,
    c: float | None,
) -> Score:
    """Standardised logistic regression on pooled features over the outer folds.

    ``c=None`` picks C from a small grid by an inner group-aware 4-fold CV on each training part.
    """
    x = np.stack([pooled_features(data.grids[item.path], frames, pooling) for item in data.items])
    y, groups = data.y, data.groups
    accuracies, seconds = [], []
    for train_index, test_index in folds:
        start = time.perf_counter()
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c or 1.0, max_iter=5000))
        if c is None:
            inner = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=0)
            search = GridSearchCV(model, {"logisticregression__C": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]}, cv=inner)
            search.fit(x[train_index], y[train_index], groups=groups[train_index])
            model = search.best_estimator_
        else:
            model.fit(x[train_index], y[train_index])
        seconds.append(time.perf_counter() - start)
        accuracies.append(float((model.predict(x[test_index]) == y[test_index]).mean()))
    name = f"logreg {pooling} f{frames} C={'inner-cv' if c is None else c}"
    return Score(name, accuracies, fit_seconds=seconds, seed_accuracy=[statistics.fmean(accuracies)])


# --- models trained on pixels ---------------------------------------------------------------------


@dataclass(frozen=True)
class PixelRecipe:
    """A clip model trained on pixels (``frame``, ``lrcn``, ...) and its settings; None: the model's default."""

    model: str
    inputs: str = "rgb"
    frames: int = 8
    size: int = 112
    epochs: int | None = None
    lr: float = 1e-3
    backbone_lr: float | None = None
    freeze_stages: int = 0
    arch: str | None = None  # the ``3d`` model's network (None: its default, ``inflated``)

    def describe(self) -> str:
        parts = [self.model + (f":{self.arch}" if self.arch else ""), self.inputs, f"f{self.frames}", f"{self.size}px"]
        base = PixelRecipe(self.model)
        parts += [f"{name}={getattr(self, name)}" for name in ("epochs", "lr", "backbone_lr", "freeze_stages")
                  if getattr(self, name) != getattr(base, name)]
        return " ".join(parts)


def catalog_folds(catalog: Catalog, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer folds of :func:`outer_folds`, straight from a catalog: ``vidclass compare``'s folds."""
    from vidclass.compare import grouped_folds

    return grouped_folds(catalog, folds, seed)


def cross_validate_pixels(
    catalog: Catalog,
    recipe: PixelRecipe,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    cache_dir: Path,
    seed: int = 0,
    val: float = 0.2,
    workers: int = 1,
    on_fold: Callable[[int, float, float], None] | None = None,
) -> Score:
    """Fit ``recipe`` through ``VideoClassifier`` on each fold's training part (early stopping on a
    group-aware ``val`` part of it, decoded frames from the shared cache) and score its test part;
    ``on_fold(number, accuracy, fit seconds)`` after each fold (so a killed run still leaves numbers)."""
    from vidclass.estimator.classifier import VideoClassifier

    labels = list(catalog.labels)
    accuracies, seconds, epochs = [], [], []
    for train_index, test_index in folds:
        train = Catalog(catalog.root, [catalog.items[i] for i in train_index], labels, catalog.source_format)
        model = VideoClassifier(model=recipe.model, arch=recipe.arch, inputs=recipe.inputs, frames=recipe.frames, size=recipe.size,
                                epochs=recipe.epochs, lr=recipe.lr, backbone_lr=recipe.backbone_lr,
                                freeze_stages=recipe.freeze_stages, seed=seed, val=val, test=0.0,
                                cache_dir=cache_dir, workers=workers)
        start = time.perf_counter()
        model.fit(train)
        seconds.append(time.perf_counter() - start)
        epochs.append(model.training_["epochs_run"])
        test = [catalog.items[i] for i in test_index]
        probabilities = model.predict_proba([item.path for item in test])
        truth = np.array([labels.index(item.label) for item in test])
        accuracies.append(float((probabilities.argmax(axis=1) == truth).mean()))
        if on_fold is not None:
            on_fold(len(accuracies), accuracies[-1], seconds[-1])
    return Score(recipe.describe(), accuracies, fit_seconds=seconds, seed_accuracy=[statistics.fmean(accuracies)],
                 epochs=epochs)
