"""``VideoClassifier``: the scikit-learn estimator over the whole pipeline, for every model kind.

``__init__`` only stores parameters (``get_params`` / ``set_params`` / ``sklearn.base.clone``
work); ``fit`` catalogs and splits the dataset, prepares the model's inputs (cached frame
features for ``model="features"``, cached decoded frames for the models trained on pixels),
trains and evaluates on the held-back split; ``predict`` / ``predict_proba`` / ``score`` /
``evaluate`` label other videos with the model's own sampling and preprocessing; ``save`` /
``load`` go through a model bundle; ``stream`` tells timelines how the model labels a stream.
The CLI is a thin layer over this class.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from vidclass.data import catalog as catalog_
from vidclass.data.items import Catalog, VideoItem
from vidclass.data.splits import split_catalog
from vidclass.errors import ConfigError, VidclassError
from vidclass.estimator.bundle import (
    FEATURES,
    AnyBundle,
    Bundle,
    ClipBundle,
    load_bundle,
    package_versions,
    save_bundle,
)
from vidclass.estimator.tasks import CLASSIFICATION, Task, default_head
from vidclass.evaluation import metrics
from vidclass.evaluation.calibration import (
    calibrate_probabilities,
    calibration_summary,
    fit_temperature,
    logits_from_probabilities,
    plot_reliability,
)
from vidclass.inputs.features import (
    FeatureCache,
    FeatureSpec,
    VideoFeatures,
    extract_features,
    fingerprint,
    load_features,
)
from vidclass.inputs.views import DEFAULT_INPUTS, INPUTS, POSE_INPUTS, ViewSpec, view_averaged
from vidclass.models.backbones import FrameEncoder, create_backbone
from vidclass.models.heads import create_head
from vidclass.training.run_folder import RunFolder

Dataset = str | Path | Catalog
Progress = Callable[[str, str], None]  # (path, status) per video prepared

# Defaults that differ between the frozen-feature seam and the models trained on pixels; a clip
# model may override the pixel ones it needs (``ClipModel.defaults``, e.g. convlstm's 20 x 64 px).
_DEFAULTS: dict[str, dict[str, Any]] = {
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
         "frames": _DEFAULTS["features"]["frames"], "size": None, "params_m": None, "gflops_per_clip": None,
         "weights": "ImageNet (the backbone's, frozen)",
         "description": "ImageNet CNN features of sampled frames, cached; a temporal head "
                        "(lstm, bilstm, gru, attention, transformer, mean, linear) on the sequence"}]
    kinds += [{**row, "trains": "whole network (pixels)"} for row in catalogue()]
    return kinds


class VideoClassifier(ClassifierMixin, BaseEstimator):
    """A video classifier of any kind, trained and used on whole videos.

    ``model``: ``features`` (a temporal ``head`` on cached features of a frozen ``backbone``)
    or a clip model trained on pixels (``frame``, ``lrcn``, ``early_fusion``, ``3d``, ``convlstm``;
    see ``vidclass models``). Shared:
    ``backbone`` (see ``vidclass backbones``), ``frames`` per view (default 16 for features, 8
    on pixels), ``grid`` frames cached per video (default ``2 * frames``), ``inputs`` (features:
    ``appearance``, ``appearance+motion``, ``appearance+rgbdiff``, ``appearance+motion+rgbdiff``,
    ``rgbdiff``, ``appearance+flow`` or ``flow``; pixels: ``rgb``, ``rgbdiff`` or ``flow``), the optimisation settings of ``TrainConfig`` (None: the
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
    Hardware: ``accelerator``, ``devices``, ``precision``, ``accumulate``, ``loader_workers``;
    ``runtime`` (``auto``, ``torch``, ``onnxruntime``) runs inference on ONNX Runtime on a CPU
    (:mod:`vidclass.models.runtime`; ``auto``: there, when it is installed).
    """

    task: ClassVar[Task] = CLASSIFICATION  # what its outputs are: class probabilities

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
        return _DEFAULTS["pixels" if self._pixels else "features"][name]

    def check_params(self) -> None:
        """Refuse, before any video is read, a model kind, arch or inputs that do not exist or do not go
        together, and pose inputs to estimate without LiteRT."""
        from vidclass.models.clip_models import list_clip_models

        kinds = [FEATURES, *list_clip_models()]
        if self.model not in kinds:
            raise ConfigError(f"unknown model {self.model!r}; allowed: {', '.join(kinds)} (see `vidclass models`)")
        if self.arch is not None and self.model != "3d":
            raise ConfigError(f"arch={self.arch!r} (--arch) chooses the network of model 3d; model {self.model!r} has none")
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
        from vidclass.training.loop import TrainConfig

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

    def _cache(self) -> FeatureCache:
        return FeatureCache(self.cache_dir)

    def _frame_cache(self):
        from vidclass.inputs.pixels import FrameCache

        return FrameCache(Path(self.cache_dir) / "frames" if self.cache_dir is not None else None)

    # --- fitting ---------------------------------------------------------------------

    def fit(
        self,
        dataset: Dataset,
        y: None = None,
        *,
        out_dir: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        on_video: Progress | None = None,
    ) -> VideoClassifier:
        """Train on ``dataset`` (a folder, CSV, list file or Catalog); returns self.

        With ``out_dir``: the resolved configuration, per-epoch metrics CSV, training-curve
        PNG, checkpoints, the model bundle (``model/``) and the evaluation of the test split
        (``evaluation/``). The run is built in ``.<name>.partial`` beside it and swapped in
        when complete, so the folder always holds one whole run; a non-empty ``out_dir`` is
        refused unless ``overwrite``; ``resume`` continues a killed run from its last
        checkpoint. ``on_video(path, status)`` reports each video prepared (progress).
        """
        self.check_params()
        found = catalog_.drop_unreadable(_as_catalog(dataset))  # probe first: splits hold only readable videos
        catalog_.check_trainable(found)
        if self.clips is not None or found.segmented:  # long recordings / labeled segments: clips, time blocks
            from vidclass.estimator.recording_fit import fit_recordings

            return fit_recordings(self, found, out_dir=out_dir, resume=resume, overwrite=overwrite, on_video=on_video)
        if found.is_images and self.model != "frame":
            raise ConfigError(
                f"{found.root}: a folder of images trains only the frame model (--model frame); "
                f"model {self.model!r} needs videos"
            )
        splits = split_catalog(found, val=self.val, test=self.test, seed=self.seed)
        run = RunFolder(out_dir, resume=resume, overwrite=overwrite)
        resolved = {name: self._default(name) for name in ("frames", "epochs", "batch_size", "patience", "lr")
                    + (("size",) if self._pixels or self.size else ())}  # the values used where params say None
        run.write_config({"params": self.get_params(), "resolved": resolved, "dataset": str(found.root),
                          "model": self.model})
        labels = list(found.labels)
        fitter = self._fit_pixels if self._pixels else self._fit_features
        self.frames_encoded_by_ = None  # _features says, when the frame encoder runs
        fit, inputs, durations, failed = fitter(found, splits, labels, run.path, resume, on_video)
        used = [item for name in ("train", "val") for item in splits.parts()[name] if item.path in inputs]
        self.labels_ = labels
        self.kind_ = self.model
        self.clip_seconds_ = statistics.median(durations[item.path] for item in used)
        self.training_videos_ = sorted(fingerprint(item.path) for item in used)
        self.training_ = {
            "dataset": str(found.root),
            "format": found.source_format,
            "model": self.model,
            "split": splits.method,
            "split_seed": self.seed,
            "videos": {name: sum(item.path in inputs for item in items) for name, items in splits.parts().items()},
            "groups": sorted({item.group for item in used if item.group is not None}),
            "unreadable": catalog_.left_out(found, failed),  # every item left out, by name
            "no_people": getattr(self, "no_people_", []),
            # what ran the frame encoder on the features this run computed (None: all came from the cache)
            "frames_encoded_by": getattr(self, "frames_encoded_by_", None),
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "best_val_loss": fit.best_val_loss,
            "config": asdict(self._train_config()),
        }
        self.evaluation_ = None
        self.temperature_ = self._fit_temperature([item for item in splits.val if item.path in inputs], inputs)
        test_items = [item for item in splits.test if item.path in inputs]
        probabilities = self._raw_probabilities_of(test_items, inputs) if test_items else None
        if test_items:
            self.evaluation_ = self._evaluation(test_items, probabilities, split="test")

        def write(folder: Path) -> None:
            self.save(folder / "model")
            if self.evaluation_ is not None:
                self._write_evaluation(self.evaluation_, test_items, probabilities, folder / "evaluation")

        run.finish(fit.metrics_csv, write)
        return self

    def _fit_features(self, found, splits, labels, out, resume, on_video):
        from vidclass.training.loop import Example, fit_head  # Lightning is only needed to fit

        view, config = self._view_spec(), self._train_config()
        encoder = create_backbone(self.backbone, pretrained=self.pretrained, weights=self.weights, size=self.size)
        from vidclass.models.runtime import frame_encoder

        grids, failed = self._features(frame_encoder(encoder, self.runtime), [item.path for item in found.items], view,
                                       on_video)
        parts = {
            name: [Example(grids[item.path], labels.index(item.label)) for item in items if item.path in grids]
            for name, items in splits.parts().items()
        }
        with torch.random.fork_rng(devices=[]):  # the head's initial weights follow the seed
            torch.manual_seed(self.seed)
            head = create_head(self.head or default_head(self.task), in_dim=view.input_dim(encoder.spec.dim),
                               num_classes=len(labels), **(self.head_options or {}))
        fit = fit_head(head, parts["train"], parts["val"], view, config, out_dir=out, progress=self.progress,
                       resume=resume)
        self.encoder_, self.head_, self.view_ = encoder, head, view
        return fit, grids, {path: grid.duration for path, grid in grids.items()}, failed

    def _fit_pixels(self, found, splits, labels, out, resume, on_video):
        from vidclass.training.loop import fit_clip_model

        config = self._train_config()
        model = self._new_clip_model(len(labels))
        self.model_ = model
        self._set_pixel_views(images=found.is_images)
        entries, failed = self._frames([item.path for item in found.items], on_video)
        datasets = {
            name: self._clip_dataset([item for item in items if item.path in entries], entries, labels,
                                     train=name == "train")
            for name, items in splits.parts().items() if name != "test"
        }
        train_labels = [labels.index(item.label) for item in splits.train if item.path in entries]
        fit = fit_clip_model(model, datasets["train"], datasets["val"], train_labels, config,
                             backbone_lr=self._backbone_lr(), out_dir=out, progress=self.progress, resume=resume)
        from vidclass.inputs.pixels import entry_duration

        return fit, entries, {path: entry_duration(entry) for path, entry in entries.items()}, failed

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

    def _clip_dataset(self, items, entries, labels, *, train: bool, view_index: int = 0):
        from vidclass.inputs.pixels import ClipDataset

        return ClipDataset([entries[item.path] for item in items], [labels.index(item.label) for item in items],
                           self.frame_spec_, self.view_, self.model_.spec.size, train=train,
                           pair_image=self.model_.spec.pair_image, flip=self.flip, seed=self.seed,
                           view_index=view_index)

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
        from vidclass.inputs.pose import PoseSpec

        keypoints = str(self.keypoints) if self.keypoints is not None else None
        pose = PoseSpec(people=view.people, keypoints=keypoints) if view.pose else None
        if view.appearance:  # estimated poses come from the same decoded frames
            report = extract_features(paths, encoder, view.grid, cache=cache, workers=self.workers,
                                      pair_image=view.pair_image, appearance=view.frame_features,
                                      pose=pose if keypoints is None else None, on_video=on_video)
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

    def _frames(self, paths: Sequence[Path], on_video: Progress | None = None) -> tuple[dict[Path, Path], dict[str, str]]:
        """Cache entries of the decoded frames of ``paths`` (decoding what is missing) and the failures."""
        from vidclass.inputs.pixels import cache_frames, load_frames

        cache = self._frame_cache()
        report = cache_frames(paths, self.frame_spec_, cache, workers=self.workers, on_video=on_video)
        return load_frames(paths, self.frame_spec_, cache), report.failed

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
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
        inputs, failed = self._inputs(paths)
        readable = [p for p in paths if p in inputs]
        if not readable:
            return np.zeros((0, len(self.labels_)), dtype=np.float32), failed
        return calibrate_probabilities(self._probabilities([inputs[p] for p in readable]), self.temperature_), failed

    def predict(self, paths: Sequence[str | Path]) -> list[str]:
        """The most probable label of each video."""
        return [self.labels_[i] for i in self.predict_proba(paths).argmax(axis=1)]

    def score(self, dataset: Dataset, y: None = None, sample_weight: None = None) -> float:
        """Accuracy on the videos of ``dataset`` the model was not trained on."""
        return self.evaluate(dataset).accuracy

    def stream(self):
        """How this model labels a stream (:class:`vidclass.estimator.stream.FrameStream`), for timelines."""
        from vidclass.estimator.stream import clip_stream, features_stream

        self._check_fitted()
        if self.kind_ == FEATURES:
            return features_stream(self._run("encoder"), self._run("head"), self.view_, self.clip_seconds_,
                                   list(self.labels_), temperature=self.temperature_)
        return clip_stream(self._run("model"), self.clip_seconds_, list(self.labels_), temperature=self.temperature_)

    def _run(self, part: str):
        """What runs ``encoder_``, ``head_`` or ``model_`` under ``runtime``: the module or its ONNX Runtime graph."""
        from vidclass.estimator.engine import runtime_part

        return runtime_part(self, part)  # type: ignore[arg-type]

    def _inputs(self, paths: Sequence[Path]) -> tuple[dict[Path, Any], dict[str, str]]:
        """What the model reads per video (feature grids or frame-cache entries), preparing what is missing."""
        if self.kind_ == FEATURES:
            return self._features(self._run("encoder"), paths, self.view_)
        return self._frames(paths)

    def _probabilities(self, inputs: Sequence[Any]) -> np.ndarray:
        """(N, C) probabilities, averaged over every evaluation view of each video, before temperature scaling;
        after a DDP fit each rank computes its share and all get every row (:func:`vidclass.training.distributed.gather`)."""
        from vidclass.training.distributed import gather

        rows = gather(list(inputs), lambda part: list(self._probabilities_here(part)) if part else [])
        return np.asarray(rows, dtype=np.float32).reshape(len(inputs), len(self.labels_))

    def _probabilities_here(self, inputs: Sequence[Any]) -> np.ndarray:
        if self.kind_ == FEATURES:
            return view_averaged(self._run("head"), list(inputs), self.view_, self.task.outputs)
        from vidclass.inputs.pixels import ClipDataset, clip_model_outputs

        model = self._run("model")
        return clip_model_outputs(model, [
            ClipDataset(list(inputs), [0] * len(inputs), self.frame_spec_, self.view_, model.spec.size, train=False,
                        pair_image=model.spec.pair_image, view_index=view) for view in range(self.view_.test_views)], self.task.outputs)

    def _raw_probabilities_of(self, items: Sequence[VideoItem], inputs: dict[Path, Any]) -> np.ndarray:
        return self._probabilities([inputs[item.path] for item in items])

    def _fit_temperature(self, val_items: Sequence[VideoItem], inputs: dict[Path, Any]) -> float:
        """Temperature scaling fitted on the validation videos' probabilities (1.0 without any)."""
        if not val_items:
            return 1.0
        raw = self._raw_probabilities_of(val_items, inputs)
        labels = np.array([self.labels_.index(item.label) for item in val_items])
        return fit_temperature(logits_from_probabilities(raw), labels)

    # --- evaluation ------------------------------------------------------------------

    def evaluate(self, dataset: Dataset, *, out_dir: str | Path | None = None) -> metrics.Evaluation:
        """Evaluate on the videos of ``dataset`` that the model never saw in training.

        Videos whose content was used for training or early stopping, and videos of a
        group the model was trained on, are left out, so evaluating on the training
        dataset scores exactly its held-back part. The result says which videos remain.
        """
        self._check_fitted()
        found = catalog_.drop_unreadable(_as_catalog(dataset))
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
        inputs, failed = self._inputs([item.path for item in kept])
        items = [item for item in kept if item.path in inputs]
        if not items:
            raise VidclassError(f"{found.root}: none of the {len(kept)} videos left to evaluate could be read")
        left_out = len(found.items) - len(kept)
        split = "held-out" if left_out else "all"
        probabilities = self._raw_probabilities_of(items, inputs)
        evaluation = self._evaluation(items, probabilities, split=split)
        evaluation.notes = [f"{left_out} videos seen in training left out"] if left_out else []
        evaluation.notes += [
            f"left out {reason}" if reason.startswith(path) else f"left out {path}: {reason}"
            for path, reason in catalog_.left_out(found, failed).items()
        ]
        if out_dir is not None:
            self._write_evaluation(evaluation, items, probabilities, Path(out_dir))
        return evaluation

    def _evaluation(
        self, items: Sequence[VideoItem], raw: np.ndarray, *, split: str
    ) -> metrics.Evaluation:
        """Scores of the temperature-scaled probabilities, with the ECE of ``raw`` before and after scaling."""
        y = [self.labels_.index(item.label) for item in items]
        evaluation = metrics.evaluate_predictions(
            y,
            calibrate_probabilities(raw, self.temperature_),
            self.labels_,
            split=split,
            groups=[item.group for item in items],
        )
        evaluation.calibration = calibration_summary(raw, np.array(y), self.temperature_)
        return evaluation

    def _write_evaluation(
        self,
        evaluation: metrics.Evaluation,
        items: Sequence[VideoItem],
        raw: np.ndarray,
        out_dir: Path,
    ) -> dict[str, Path]:
        """metrics.json, the confusion PNG, predictions.csv (scaled probabilities) and reliability.png."""
        y = [self.labels_.index(item.label) for item in items]
        files = metrics.write_evaluation(
            evaluation,
            out_dir,
            paths=[item.path for item in items],
            y_true=y,
            probabilities=calibrate_probabilities(raw, self.temperature_),
        )
        files["reliability"] = plot_reliability(raw, np.array(y), out_dir / "reliability.png",
                                                temperature=self.temperature_,
                                                title=f"Reliability: split {evaluation.split!r}, {len(y)} videos")
        return files

    # --- persistence -----------------------------------------------------------------

    def to_bundle(self) -> AnyBundle:
        self._check_fitted()
        common = dict(
            labels=self.labels_,
            clip_seconds=self.clip_seconds_,
            training=self.training_,
            metrics=self.evaluation_.to_dict() if self.evaluation_ is not None else {},
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
             runtime: str = "auto") -> VideoClassifier:
        """A fitted classifier from a bundle directory; never unpickles. ``runtime``: see the class; an
        exported bundle (``vidclass export``) runs its own ONNX graphs under ONNX Runtime."""
        from vidclass.estimator.engine import runs_exported
        from vidclass.models.runtime import check_runtime

        check_runtime(runtime)
        bundle = load_bundle(directory, defer_encoder=runs_exported(directory, runtime))
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


def _as_catalog(dataset: Dataset) -> Catalog:
    return dataset if isinstance(dataset, Catalog) else catalog_.load_catalog(dataset)


def _safe_fingerprint(path: Path) -> str | None:
    try:
        return fingerprint(path)
    except OSError:
        return None
