"""The estimator core: what every model shares, whatever its task and seam.

:class:`VideoEstimator` holds the parameters (``__init__`` only stores them: ``get_params`` /
``set_params`` / ``sklearn.base.clone`` work) and runs the pipeline's steps that do not depend on the
task: build the network of its seam (a frozen frame encoder and a temporal head on cached features for
``model="features"``, else a clip model trained on pixels), prepare and cache what that network reads,
train it on examples with targets (class indices or standardised values: the task's loss), average its
outputs over evaluation views, stream a timeline, and save / load it as a bundle. The public classes
sit on it with scikit-learn's mixins, as skorch's ``NeuralNetClassifier`` and ``NeuralNetRegressor`` sit
on ``NeuralNet``: :class:`vidclass.estimator.classifier.VideoClassifier` (labels, splits by group,
temperature, classification metrics) and :class:`vidclass.estimator.regressor.VideoRegressor`
(numeric targets, their scale, MAE / RMSE / R²). The task strategy (:mod:`vidclass.estimator.tasks`)
says what outputs mean, the default head and the losses; the data shape strategy
(:mod:`vidclass.estimator.shapes`) how a dataset becomes units, whole files or clips cut from long
recordings and segments, so that one fit (:meth:`VideoEstimator._fit_shape`) serves every task, seam and shape.

Each public class gives the core its task's steps: ``_learn_targets`` (classes or target scale; the
outputs the network needs), ``_target`` (what one example is fitted to), ``_task_record``, ``_score``
(calibration and test scores), ``_write_scores`` and ``_finish`` (what a user sees of the outputs, in
batch prediction and timelines alike: calibrated probabilities, or values in the target's units).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator

from vidclass.errors import ConfigError, VidclassError
from vidclass.estimator.bundle import (
    FEATURES,
    AnyBundle,
    Bundle,
    ClipBundle,
    bundle_task,
    load_bundle,
    package_versions,
    save_bundle,
)
from vidclass.estimator.tasks import Task, default_head
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import (
    FeatureCache,
    FeatureSpec,
    VideoFeatures,
    fingerprint,
    load_features,
)
from vidclass.inputs.units import Files, Units, entries
from vidclass.inputs.views import DEFAULT_INPUTS, INPUTS, POSE_INPUTS, GridViews, ViewSpec, cut_view, view_averaged
from vidclass.models.backbones import FrameEncoder, create_backbone
from vidclass.models.heads import LinearHead, create_head
from vidclass.training.run_folder import RunFolder

Progress = Callable[[str, str], None]  # (path, status) per video prepared

# Defaults that differ between the frozen-feature seam and the models trained on pixels; a clip
# model may override the pixel ones it needs (``ClipModel.defaults``, e.g. convlstm's 20 x 64 px).
DEFAULTS: dict[str, dict[str, Any]] = {
    "features": {"frames": 16, "epochs": 60, "batch_size": 16, "patience": 10, "inputs": DEFAULT_INPUTS, "lr": 1e-3},
    "pixels": {"frames": 8, "epochs": 8, "batch_size": 8, "patience": 3, "inputs": "rgb", "size": 112, "lr": 1e-3},
}
BACKBONE_LR_FRACTION = 0.3  # the backbone of a pixel model learns at lr x this unless told


def list_model_kinds() -> list[dict[str, Any]]:
    """Every kind of model ``VideoClassifier(model=...)`` trains: name (and ``3d`` arch), seam, default
    frames and size, parameters, GFLOPs per clip, weights, what it is (see :mod:`vidclass.models.clip_models.catalogue`)."""
    from vidclass.models.clip_models.catalogue import catalogue

    kinds: list[dict[str, Any]] = [
        {"name": FEATURES, "arch": None, "trains": "head only (frozen features, cached)",
         "frames": DEFAULTS["features"]["frames"], "size": None, "params_m": None, "gflops_per_clip": None,
         "weights": "ImageNet (the backbone's, frozen)",
         "description": "ImageNet CNN features of sampled frames, cached; a temporal head "
                        "(lstm, bilstm, gru, attention, transformer, mean, linear) on the sequence"}]
    kinds += [{**row, "trains": "whole network (pixels)"} for row in catalogue()]
    return kinds


class VideoEstimator(BaseEstimator):
    """A video model of any kind, trained and used on whole videos; subclasses name the task.

    ``model``: ``features`` (a temporal ``head`` on cached features of a frozen ``backbone``)
    or a clip model trained on pixels (``frame``, ``lrcn``, ``early_fusion``, ``3d``, ``convlstm``;
    see ``vidclass models``). Shared:
    ``backbone`` (see ``vidclass backbones``), ``frames`` per view (default 16 for features, 8
    on pixels), ``grid`` frames cached per video (default ``2 * frames``), ``inputs`` (features:
    ``appearance``, ``appearance+motion``, ``appearance+rgbdiff``, ``appearance+motion+rgbdiff``,
    ``rgbdiff``, ``appearance+flow`` or ``flow``, and the pose inputs; pixels: ``rgb``, ``rgbdiff`` or
    ``flow``), the optimisation settings of ``TrainConfig`` (None: the
    kind's default), the split fractions ``val`` / ``test`` and its ``seed``, the cache folder
    ``cache_dir`` and decode ``workers``. ``size``: the square side in pixels of the frames the
    network sees (pixels: default 112; features: default the backbone's own, 224). None for
    ``frames``, ``size`` or ``lr``: the clip model's own default where it declares one (``vidclass
    models``; convlstm: 20 frames of 64 px), else the kind's.
    ``freeze_stages`` (-1: the whole backbone), ``backbone_lr`` (default ``0.3 x lr``), ``bn``
    (``frozen`` or ``train`` BatchNorm statistics), ``flip`` (horizontal flips in augmentation),
    ``arch`` (model ``3d`` only: its network, see :mod:`vidclass.models.clip_models.video3d`).
    ``clips``: cut long recordings into clips (``random:N:2-4s`` or ``fixed:3s``, see
    :mod:`vidclass.data.recordings`); segment datasets are cut into clips with or without it.
    ``loss``: None for the task's own (classification ``cross_entropy``; regression ``mse``, or ``huber``).
    ``column``: the CSV column of the targets (a regressor's numbers; None: ``target``, else a numeric
    ``label``); a classifier reads its labels from its catalog.
    Hardware: ``accelerator``, ``devices``, ``precision``, ``accumulate``, ``loader_workers``;
    ``runtime`` (``auto``, ``torch``, ``onnxruntime``) runs inference on ONNX Runtime on a CPU
    (:mod:`vidclass.models.runtime`; ``auto``: there, when it is installed).
    """

    task: ClassVar[Task]  # what its outputs are (the subclass's)

    def __init__(
        self,
        model: str = FEATURES,
        backbone: str = "efficientnet_lite0",
        head: str | None = None,
        frames: int | None = None,
        *,
        grid: int | None = None,
        inputs: str | None = None,
        pose_people: int = 3,
        keypoints: str | Path | None = None,
        head_options: dict[str, Any] | None = None,
        arch: str | None = None,
        pretrained: bool = True,
        weights: str | Path | None = None,
        size: int | None = None,
        freeze_stages: int = 0,
        backbone_lr: float | None = None,
        bn: str = "train",
        flip: bool = True,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float = 0.05,
        patience: int | None = None,
        label_smoothing: float = 0.0,
        class_weights: bool = False,
        loss: str | None = None,
        column: str | None = None,
        seed: int = 0,
        val: float = 0.15,
        test: float = 0.15,
        accelerator: str = "auto",
        devices: int | str = "auto",
        precision: str = "auto",
        accumulate: int = 1,
        loader_workers: int = 0,
        strategy: str = "auto",
        num_nodes: int = 1,
        cache_dir: str | Path | None = None,
        workers: int = 1,
        runtime: str = "auto",
        progress: bool = False,
        clips: str | None = None,
    ) -> None:
        self.model = model
        self.backbone = backbone
        self.head = head
        self.frames = frames
        self.grid = grid
        self.inputs = inputs
        self.pose_people = pose_people
        self.keypoints = keypoints
        self.head_options = head_options
        self.arch = arch
        self.pretrained = pretrained
        self.weights = weights
        self.size = size
        self.freeze_stages = freeze_stages
        self.backbone_lr = backbone_lr
        self.bn = bn
        self.flip = flip
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.label_smoothing = label_smoothing
        self.class_weights = class_weights
        self.loss = loss
        self.column = column
        self.seed = seed
        self.val = val
        self.test = test
        self.accelerator = accelerator
        self.devices = devices
        self.precision = precision
        self.accumulate = accumulate
        self.loader_workers = loader_workers
        self.strategy = strategy
        self.num_nodes = num_nodes
        self.cache_dir = cache_dir
        self.workers = workers
        self.runtime = runtime
        self.progress = progress
        self.clips = clips  # "random:N:2-4s" / "fixed:3s": clips of long recordings (vidclass.data.recordings)

    # --- configuration ---------------------------------------------------------------

    @property
    def _pixels(self) -> bool:
        return self.model != FEATURES

    def _default(self, name: str) -> Any:
        """The user's value of ``name``, else the clip model's own default, else the kind's."""
        value = getattr(self, name)
        if value is not None:
            return value
        if self._pixels:
            from vidclass.models.clip_models import get_clip_model_class, list_clip_models

            if self.model in list_clip_models() and name in get_clip_model_class(self.model).defaults:
                return get_clip_model_class(self.model).defaults[name]
        return DEFAULTS["pixels" if self._pixels else "features"][name]

    def _loss(self) -> str:
        """The training loss: ``loss``, else the task's own."""
        return self.loss if self.loss is not None else self.task.losses[0]

    def check_params(self) -> None:
        """Refuse, before any video is read, a model kind, arch, inputs or loss that do not exist or do not go
        together, and pose inputs to estimate without LiteRT."""
        from vidclass.models.clip_models import list_clip_models

        kinds = [FEATURES, *list_clip_models()]
        if self.model not in kinds:
            raise ConfigError(f"unknown model {self.model!r}; allowed: {', '.join(kinds)} (see `vidclass models`)")
        if self.arch is not None and self.model != "3d":
            raise ConfigError(f"arch={self.arch!r} (--arch) chooses the network of model 3d; model {self.model!r} has none")
        if self._loss() not in self.task.losses:
            raise ConfigError(f"loss must be one of {', '.join(self.task.losses)}; got {self.loss!r}")
        inputs = self._default("inputs")
        allowed = ("rgb", "rgbdiff", "flow") if self._pixels else INPUTS + POSE_INPUTS
        if inputs not in allowed:
            raise ConfigError(f"model {self.model!r} takes inputs {', '.join(allowed)}, got {inputs!r}")
        if inputs in POSE_INPUTS and self.keypoints is None:
            from vidclass.inputs.pose.blazepose import require_litert

            require_litert()  # before any video is read, not in a decoding worker

    def check_weights(self) -> None:
        """Build the network these parameters would train (fetching pretrained weights as training would),
        so that weights that cannot be had (WeightsUnavailableError, saying how to get them) or settings
        that do not fit (ConfigError) fail now, before any video is read."""
        self.check_params()
        if self._pixels:
            self._new_clip_model(2)
        elif self._view_spec().appearance:
            create_backbone(self.backbone, pretrained=self.pretrained, weights=self.weights, size=self.size)

    def _view_spec(self) -> ViewSpec:
        frames = self._default("frames")
        inputs = self._default("inputs") if not self._pixels else DEFAULT_INPUTS
        return ViewSpec(frames=frames, grid=self.grid or 2 * frames, inputs=inputs,  # type: ignore[arg-type]
                        people=self.pose_people)

    def _train_config(self):
        from vidclass.training.config import TrainConfig

        return TrainConfig(
            epochs=self._default("epochs"),
            batch_size=self._default("batch_size"),
            lr=self._default("lr"),
            weight_decay=self.weight_decay,
            patience=self._default("patience"),
            label_smoothing=self.label_smoothing,
            class_weights=self.class_weights,
            seed=self.seed,
            accelerator=self.accelerator,
            devices=self.devices,
            precision=self.precision,
            accumulate=self.accumulate,
            workers=self.loader_workers,
            strategy=self.strategy,
            num_nodes=self.num_nodes,
        )

    def _resolved(self) -> dict[str, Any]:
        """The values used where the parameters say None (a run's config.json)."""
        return {name: self._default(name) for name in ("frames", "epochs", "batch_size", "patience", "lr")
                + (("size",) if self._pixels or self.size else ())}

    def _cache(self) -> FeatureCache:
        return FeatureCache(self.cache_dir)

    def _frame_cache(self):
        from vidclass.inputs.frame_cache import FrameCache

        return FrameCache(Path(self.cache_dir) / "frames" if self.cache_dir is not None else None)

    # --- the seam: build, prepare, train ----------------------------------------------

    def _build(self, outputs: int, *, images: bool = False, recordings: bool = False) -> None:
        """A new network with ``outputs`` outputs (classes, or 1 value): the frozen encoder and a head (by default
        the task's for whole files or, with ``recordings``, for clips of recordings), or a clip model and its
        evaluation views (one frame per item of an image folder)."""
        self.__dict__.pop("_runtime_parts", None)  # a refit: no engine parts of the earlier model
        self.bundle_dir_ = None
        self.frames_encoded_by_ = None  # _features says, when the frame encoder runs
        self.no_people_: list[str] = []  # pose inputs: the videos in which nobody was ever found
        self.kind_ = self.model
        if self._pixels:
            self.model_ = self._new_clip_model(outputs)
            self._set_pixel_views(images=images)
            return
        self.view_ = self._view_spec()
        self.encoder_ = create_backbone(self.backbone, pretrained=self.pretrained, weights=self.weights, size=self.size)
        with torch.random.fork_rng(devices=[]):  # the head's initial weights follow the seed
            torch.manual_seed(self.seed)
            self.head_ = create_head(self.head or default_head(self.task, recordings=recordings),
                                     in_dim=self.view_.input_dim(self.encoder_.spec.dim), num_classes=outputs,
                                     **{**self.task.head_options, **(self.head_options or {})})

    def _duration(self, prepared: Any) -> float:
        """The seconds of video one prepared input covers."""
        if self._pixels:
            return self._frame_entry(prepared).duration
        return prepared.duration

    def _train(self, train: Units, y_train: Sequence[Any], val: Units, y_val: Sequence[Any], out: Path | None,
               resume: bool):
        """Train the built network on units of either shape (whole files, or clips cut from tracks) and their
        targets (class indices, or standardised values), early-stopping on ``val``; checkpoints and metrics in
        ``out``. Returns the FitResult."""
        if self._pixels:
            return self._train_on(self._clip_dataset(train, y_train, train=True),
                                  self._clip_dataset(val, y_val, train=False), y_train, out, resume)
        grids = entries(train)
        self._standardize(grids)
        if isinstance(self.head_, LinearHead):  # a logistic regression, fitted in one pass (no Lightning)
            from vidclass.training.config import Example
            from vidclass.training.linear import fit_linear

            return fit_linear(self.head_, [Example(grid, y) for grid, y in zip(grids, y_train)],
                              [Example(grid, y) for grid, y in zip(entries(val), y_val)], self.view_,
                              self._train_config(), loss=self._loss())
        return self._train_on(GridViews(train, y_train, self.view_, train=True, seed=self.seed),
                              GridViews(val, y_val, self.view_, train=False), y_train, out, resume)

    def _train_on(self, train: Any, val: Any, y_train: Sequence[Any], out: Path | None, resume: bool):
        """Train the built network by gradient descent on datasets of its seam (views of feature grids, or clips
        of cached frames; whole files or clips cut from recordings) with the task's loss; the FitResult."""
        from vidclass.training.loop import fit_clip_model, fit_head_on

        config = self._train_config()
        if self._pixels:
            return fit_clip_model(self.model_, train, val, y_train, config, backbone_lr=self._backbone_lr(),
                                  out_dir=out, progress=self.progress, resume=resume, loss=self._loss())
        return fit_head_on(self.head_, train, val, y_train, config, out_dir=out, progress=self.progress,
                           resume=resume, loss=self._loss())

    def _standardize(self, grids: Sequence[VideoFeatures]) -> None:
        """Set the per-feature shift and scale of a head built with option ``standardize`` from the training grids
        (the linear head sets its own when it is fitted)."""
        if self.head_.options.standardize and not isinstance(self.head_, LinearHead):
            self.head_.set_standardization(*input_statistics(grids, self.view_))

    def _fit_shape(self, shape, classes: list[str], *, out_dir: str | Path | None, resume: bool, overwrite: bool,
                   on_video: Progress | None):
        """Train on the units of a data shape (:mod:`vidclass.estimator.shapes`: whole files, or clips of
        recordings), score its test part and write the run, for either task; returns self.

        ``classes``: the catalog's labels (a classifier's classes; a regressor checks they are numbers). The
        run folder (:class:`vidclass.training.run_folder.RunFolder`) is staged, resumed or overwritten as asked,
        and written by the primary distributed rank only. Units whose video cannot be prepared are left out of
        their part, and named in the training record."""
        run = RunFolder(out_dir, resume=resume, overwrite=overwrite)
        run.write_config({"params": self.get_params(), "resolved": self._resolved(), "task": self.task.name,
                          "model": self.model, **shape.config})
        self._build(1 if self.task.values else len(classes), images=shape.images, recordings=shape.recordings)
        prepared = shape.prepare(self, on_video)
        self._learn_targets(classes, prepared.labels["train"])
        labels = prepared.labels
        targets = {name: [self._target(label) for label in part] for name, part in labels.items()}
        fit = self._train(prepared.examples["train"], targets["train"], prepared.examples["val"], targets["val"],
                          run.path, resume)
        self.kind_ = self.model
        self.clip_seconds_ = prepared.seconds
        self.training_videos_ = training_fingerprints(prepared.used)
        self.training_ = self._training_record(shape.record, prepared.units, fit,
                                               {**shape.left_out, **prepared.failed}, groups=prepared.groups)
        test_raw = self._outputs(prepared.readable("test"))
        self._score(lambda: self._outputs(prepared.readable("val")), labels["val"], test_raw, labels["test"],
                    groups=prepared.test_groups)
        if self.evaluation_ is not None and shape.notes:
            self.evaluation_.notes = list(shape.notes)

        def write(folder: Path) -> None:
            self.save(folder / "model")
            if self.evaluation_ is not None:
                self._write_scores(folder / "evaluation", test_raw, labels["test"], names=prepared.names,
                                   groups=prepared.test_groups if shape.scored_groups else None)

        run.finish(fit.metrics_csv, write)
        return self

    def _training_record(self, dataset: dict[str, Any], parts: dict[str, list[Any]], fit, unreadable: dict[str, str],
                         *, groups: list[str]) -> dict[str, Any]:
        """What the bundle keeps of a fit, whatever the task and shape: the task's record, ``dataset`` (the
        dataset, its split and the shape's own entries), the units per part, the training groups, every item
        left out (path -> reason), and how the training went."""
        return {
            **self._task_record(), **dataset, "model": self.model,
            "videos": {name: len(units) for name, units in parts.items()}, "groups": groups,
            "unreadable": unreadable, "no_people": self.no_people_,
            # what ran the frame encoder on the features this run computed (None: all came from the cache)
            "frames_encoded_by": self.frames_encoded_by_,
            "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch, "best_val_loss": fit.best_val_loss,
            "config": asdict(self._train_config()),
        }

    def _new_clip_model(self, num_classes: int):
        """The clip model of these parameters, its new layers initialised from ``seed``."""
        from vidclass.models.clip_models import ClipSpec, create_clip_model

        spec = ClipSpec(backbone=self.backbone, frames=self._default("frames"), size=self._default("size"),
                        inputs=self._default("inputs"), freeze_stages=self.freeze_stages, bn=self.bn)  # type: ignore[arg-type]
        options = {"head": {"name": self.head or "lstm", **(self.head_options or {})}} if self.model == "lrcn" else {}
        if self.arch is not None:
            options["arch"] = self.arch
        with torch.random.fork_rng(devices=[]):  # new layers' initial weights follow the seed
            torch.manual_seed(self.seed)
            return create_clip_model(self.model, spec, num_classes, pretrained=self.pretrained,
                                     weights=str(self.weights) if self.weights else None, **options)

    def _backbone_lr(self) -> float:
        """The learning rate of a pixel model's backbone: ``backbone_lr``, else ``lr`` x BACKBONE_LR_FRACTION."""
        return self.backbone_lr if self.backbone_lr is not None else self._default("lr") * BACKBONE_LR_FRACTION

    def _set_pixel_views(self, *, images: bool) -> None:
        """The evaluation views and cache layout of a pixel model (one frame per image dataset item)."""
        from vidclass.inputs.pixels import FrameSpec, store_size

        spec = self.model_.spec
        frames = 1 if images else spec.frames
        self.view_ = ViewSpec(frames=frames, grid=1 if images else (self.grid or 2 * frames))
        self.frame_spec_ = FrameSpec(store=store_size(spec.size), grid=self.view_.grid,
                                     interpolation=self.model_.interpolation, rgbdiff=spec.pair_image is not None)

    def _clip_dataset(self, units: Units, targets: Sequence[Any], *, train: bool, view_index: int = 0, model=None):
        """Clips of ``units`` (whole files, or clips cut from frame tracks) with their targets (a random view and
        augmentation per epoch when ``train``, else evaluation view ``view_index``), for ``model`` (default: the
        one being trained)."""
        from vidclass.inputs.pixels import ClipTensors

        model = model if model is not None else self.model_
        return ClipTensors(units, list(targets), self.view_, model.spec.size, train=train,
                           pair_image=model.spec.pair_image, flip=self.flip, seed=self.seed, view_index=view_index)

    def _files(self, entries: Sequence[Any]) -> Files:
        """Whole files as units: their feature grids, or their frame-cache entries (:meth:`_frame_entry`)."""
        return Files(list(entries), self._frame_entry if self._pixels else None)

    def _frame_entry(self, entry: Any):
        """A whole file's frame-cache entry read by its key, or a clip's frames as its track gave them."""
        if not isinstance(entry, str):
            return entry
        frames = self._frame_cache().read(entry, self.frame_spec_)
        if frames is None:
            raise VidclassError(f"{self._frame_cache().root}: the decoded-frame entry {entry} went missing while "
                                "in use (another process cleared the cache?); rerun")
        return frames

    def _features(
        self, encoder: FrameEncoder, paths: Sequence[Path], view: ViewSpec, on_video: Progress | None = None
    ) -> tuple[dict[Path, VideoFeatures], dict[str, str]]:
        """Cached grid features of ``paths`` (extracting what is missing) and the failures.

        Inputs with ``pose`` also get the pose vectors of the same grid frames
        (:func:`vidclass.inputs.pose.pose_features`); pose-only inputs get no CNN features, and the
        videos in which nobody was ever found are kept in ``no_people_``.
        """
        cache = self._cache()
        grids: dict[Path, VideoFeatures] | None = None
        failed: dict[str, str] = {}
        pose = self._pose_spec(view) if view.pose else None
        if view.appearance:  # estimated poses come from the same decoded frames
            report = extract_features(paths, encoder, view.grid, cache=cache, workers=self.workers,
                                      pair_image=view.pair_image, appearance=view.frame_features,
                                      pose=pose if pose is not None and pose.keypoints is None else None,
                                      on_video=on_video)
            grids = load_features(paths, FeatureSpec.for_encoder(encoder, view.grid, appearance=view.frame_features,
                                                                 pair_image=view.pair_image), cache)
            failed = report.failed
            self.frames_encoded_by_ = report.engine
        if pose is not None:
            from vidclass.inputs.pose import pose_features, with_pose

            poses, pose_report = pose_features(paths, pose, view.grid, cache=cache, workers=self.workers,
                                               on_video=None if view.appearance else on_video)
            grids = with_pose(grids, poses)
            failed = {**pose_report.failed, **failed}
            self.no_people_ = pose_report.nobody
        return grids or {}, failed

    def _pose_spec(self, view: ViewSpec):
        """How pose vectors are made for ``view``: estimated, or read from ``keypoints``."""
        from vidclass.inputs.pose import PoseSpec

        return PoseSpec(people=view.people, keypoints=str(self.keypoints) if self.keypoints is not None else None)

    def _frames(self, paths: Sequence[Path], on_video: Progress | None = None) -> tuple[dict[Path, str], dict[str, str]]:
        """Cache keys of the decoded frames of ``paths`` (decoding what is missing) and the failures."""
        from vidclass.inputs.frame_cache import cache_frames, load_frames

        cache = self._frame_cache()
        report = cache_frames(paths, self.frame_spec_, cache, workers=self.workers, on_video=on_video)
        return load_frames(paths, self.frame_spec_, cache), report.failed

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            name = type(self).__name__
            raise VidclassError(f"this {name} is not fitted yet: call fit(dataset) or {name}.load(dir)")

    # --- prediction ------------------------------------------------------------------

    def _inputs(self, paths: Sequence[Path], on_video: Progress | None = None) -> tuple[dict[Path, Any], dict[str, str]]:
        """What the model reads per video (feature grids or frame-cache entries), cached, preparing what is missing
        (the frame encoder runs under ``runtime``), and the failures (path -> reason)."""
        if self.kind_ == FEATURES:
            return self._features(self._run("encoder"), paths, self.view_, on_video)
        return self._frames(paths, on_video)

    def _outputs(self, inputs: Sequence[Any]) -> np.ndarray:
        """(N, C) outputs (the task's: class probabilities before temperature scaling, or standardised values),
        averaged over every evaluation view of each video; after a DDP fit each rank computes its share and all
        get every row (:func:`vidclass.training.distributed.gather`)."""
        from vidclass.training.distributed import gather

        rows = gather(list(inputs), lambda part: list(self._outputs_here(part)) if part else [])
        return np.asarray(rows, dtype=np.float32).reshape(len(inputs), len(self.labels_))

    def _outputs_here(self, inputs: Sequence[Any]) -> np.ndarray:
        if self.kind_ == FEATURES:
            return view_averaged(self._run("head"), list(inputs), self.view_, self.task.outputs)
        from vidclass.inputs.pixels import clip_model_outputs

        model = self._run("model")
        return clip_model_outputs(model, [self._clip_dataset(self._files(inputs), [0] * len(inputs), train=False,
                                                             view_index=view,
                                                             model=model)
                                          for view in range(self.view_.test_views)], self.task.outputs)

    def stream(self):
        """How this model labels a stream (:class:`vidclass.estimator.stream.FrameStream`), for timelines."""
        from vidclass.estimator.stream import clip_stream, features_stream

        self._check_fitted()
        task = {"outputs": self.task.outputs, "finish": self._finish, "values": self.task.values}
        if self.kind_ == FEATURES:
            return features_stream(self._run("encoder"), self._run("head"), self.view_, self.clip_seconds_,
                                   list(self.labels_), **task)
        return clip_stream(self._run("model"), self.clip_seconds_, list(self.labels_), **task)

    def _run(self, part: str):
        """What runs ``encoder_``, ``head_`` or ``model_`` under ``runtime``: the module or its ONNX Runtime graph."""
        from vidclass.estimator.engine import runtime_part

        return runtime_part(self, part)  # type: ignore[arg-type]

    # --- persistence -----------------------------------------------------------------

    def to_bundle(self) -> AnyBundle:
        self._check_fitted()
        common = dict(
            labels=list(self.labels_),
            clip_seconds=self.clip_seconds_,
            training=self.training_,
            metrics=self.evaluation_.to_dict() if self.evaluation_ is not None else getattr(self, "bundle_metrics_", {}),
            training_videos=self.training_videos_,
            versions=package_versions(),
            temperature=self.temperature_,
        )
        if self.kind_ == FEATURES:
            return Bundle(encoder=self.encoder_, head=self.head_, view=self.view_, **common)
        return ClipBundle(model=self.model_, **common)

    def save(self, directory: str | Path) -> Path:
        """Write the fitted model as a bundle directory (config.json + safetensors)."""
        return save_bundle(self.to_bundle(), directory)

    @classmethod
    def load(cls, directory: str | Path, *, cache_dir: str | Path | None = None, workers: int = 1,
             runtime: str = "auto"):
        """A fitted model from a bundle directory of its task; never unpickles. ``runtime``: see the class; an
        exported bundle (``vidclass export``) runs its own ONNX graphs under ONNX Runtime."""
        from vidclass.estimator.engine import runs_exported
        from vidclass.models.runtime import check_runtime, use_onnxruntime

        task = bundle_task(directory)  # first: another task's bundle is refused as such, before its schema is checked
        if task != cls.task.name:
            raise ConfigError(f"{directory}: a {task} model's bundle, not a {cls.task.name} model; load it with "
                              "vidclass.estimator.factory.load_model, which picks the class")
        check_runtime(runtime)
        # under ONNX Runtime the PyTorch encoder is built only if its graph is nowhere: not exported with the
        # bundle, nor cached for the bundle's backbone weights (vidclass.models.runtime.graph_of_weights_file)
        bundle = load_bundle(directory, defer_encoder=runs_exported(directory, runtime) or use_onnxruntime(runtime))
        if isinstance(bundle, ClipBundle):
            spec = bundle.model.spec
            model = cls(model=bundle.kind, backbone=spec.backbone, frames=spec.frames, inputs=spec.inputs,
                        size=spec.size, arch=bundle.model.options().get("arch"), cache_dir=cache_dir, workers=workers)
        else:
            model = cls(backbone=bundle.encoder.spec.name, head=bundle.head.name, frames=bundle.view.frames,
                        grid=bundle.view.grid, inputs=bundle.view.inputs, cache_dir=cache_dir, workers=workers)
        model._set_fitted(bundle)
        model.set_params(runtime=runtime)
        model.bundle_dir_ = Path(directory)
        return model

    def _set_fitted(self, bundle: AnyBundle) -> None:
        self.labels_ = list(bundle.labels)
        self.kind_ = bundle.kind
        if isinstance(bundle, ClipBundle):
            self.model_ = bundle.model
            self._set_pixel_views(images=False)
        else:
            self.encoder_ = bundle.encoder
            self.head_ = bundle.head
            self.view_ = bundle.view
        self.clip_seconds_ = bundle.clip_seconds
        self.temperature_ = bundle.temperature
        self.training_ = bundle.training
        self.training_videos_ = bundle.training_videos
        self.evaluation_ = None
        self.bundle_metrics_ = bundle.metrics


def input_statistics(grids: Sequence[VideoFeatures], spec: ViewSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of a head's inputs over every real frame of the training grids
    (for a head with option ``standardize``)."""
    every = [cut_view(g.features, g.mask, ViewSpec(g.mask.size, g.mask.size, spec.inputs, spec.people),
                      rgbdiff=g.rgbdiff, pose=g.pose) for g in grids]
    frames = np.concatenate([x[mask] for x, mask in every])
    return frames.mean(axis=0), frames.std(axis=0)


def safe_fingerprint(path: Path) -> str | None:
    """The content fingerprint of ``path``, or None when it cannot be read (it then matches no training video)."""
    try:
        return fingerprint(path)
    except OSError:
        return None


def training_fingerprints(paths: Sequence[Path]) -> list[str]:
    """The content fingerprints of the videos a model trained or early-stopped on, sorted (the bundle keeps them,
    so an evaluation leaves those videos out)."""
    return sorted(fingerprint(path) for path in paths)
