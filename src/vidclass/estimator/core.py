"""The estimator core: what every model shares, whatever its task and seam.

:class:`VideoEstimator` holds the parameters (``__init__`` only stores them: ``get_params`` /
``set_params`` / ``sklearn.base.clone`` work) and runs the pipeline's steps that do not depend on the
task: build the network of its seam, prepare and cache what that network reads, train it on examples
with targets (class indices or standardised values: the task's loss), average its outputs over evaluation
views, stream a timeline, and save / load it as a bundle. The public classes
sit on it with scikit-learn's mixins, as skorch's ``NeuralNetClassifier`` and ``NeuralNetRegressor`` sit
on ``NeuralNet``: :class:`vidclass.estimator.classifier.VideoClassifier` (labels, splits by group,
temperature, classification metrics) and :class:`vidclass.estimator.regressor.VideoRegressor`
(numeric targets, their scale, MAE / RMSE / R²). The task strategy (:mod:`vidclass.estimator.tasks`)
says what outputs mean, the default head and the losses; the seam strategy (:mod:`vidclass.estimator.seams`)
where the model meets the video (a frozen frame encoder and a temporal head on cached features for
``model="features"``, else a clip model trained on pixels); the data shape strategy
(:mod:`vidclass.estimator.shapes`) how a dataset becomes units, whole files or clips cut from long
recordings and segments, so that one fit (:meth:`VideoEstimator._fit_shape`) serves every task, seam and shape.

Each public class gives the core its task's steps: ``_learn_targets`` (classes or target scale; the
outputs the network needs), ``_target`` (what one example is fitted to), ``_task_record``, ``_score``
(calibration and test scores), ``_write_scores`` and ``_finish`` (what a user sees of the outputs, in
batch prediction and timelines alike: calibrated probabilities, or values in the target's units).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from vidclass.errors import ConfigError, VidclassError
from vidclass.estimator.bundle import (
    FEATURES,
    AnyBundle,
    bundle_task,
    load_bundle,
    package_versions,
    save_bundle,
)
from vidclass.estimator.seams import FrozenFeatures, Progress, Seam, seam_of
from vidclass.estimator.shapes import Shape
from vidclass.estimator.tasks import Task
from vidclass.evaluation.chance import LEARNT_NOTHING, stopped_early
from vidclass.inputs.features import (
    fingerprint,
)
from vidclass.inputs.views import POSE_INPUTS
from vidclass.training.run_folder import RunFolder


def list_model_kinds() -> list[dict[str, Any]]:
    """Every kind of model ``VideoClassifier(model=...)`` trains: name (and ``3d`` arch), seam, default
    frames and size, parameters, GFLOPs per clip, weights, what it is (see :mod:`vidclass.models.clip_models.catalogue`)."""
    from vidclass.models.clip_models.catalogue import catalogue

    kinds: list[dict[str, Any]] = [
        {"name": FEATURES, "arch": None, "trains": "head only (frozen features, cached)",
         "frames": FrozenFeatures.defaults["frames"], "size": None, "params_m": None, "gflops_per_clip": None,
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
    def seam(self) -> Seam:
        """Where this model meets the video (:mod:`vidclass.estimator.seams`): frozen features or pixels."""
        return seam_of(self.model)

    def setting(self, name: str) -> Any:
        """The value of setting ``name`` (``frames``, ``size``, ``lr``, ...) this model uses: the user's, else
        the clip model's own default, else its seam's."""
        value = getattr(self, name)
        return value if value is not None else self.seam.setting(self, name)

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
        inputs = self.setting("inputs")
        if inputs not in self.seam.inputs_allowed:
            raise ConfigError(f"model {self.model!r} takes inputs {', '.join(self.seam.inputs_allowed)}, "
                              f"got {inputs!r}")
        if inputs in POSE_INPUTS and self.keypoints is None:
            from vidclass.inputs.pose.blazepose import require_litert

            require_litert()  # before any video is read, not in a decoding worker

    def check_weights(self) -> None:
        """Build the network these parameters would train (fetching pretrained weights as training would),
        so that weights that cannot be had (WeightsUnavailableError, saying how to get them) or settings
        that do not fit (ConfigError) fail now, before any video is read."""
        self.check_params()
        self.seam.check_weights(self)

    def _train_config(self):
        from vidclass.training.config import TrainConfig

        return TrainConfig(
            epochs=self.setting("epochs"),
            batch_size=self.setting("batch_size"),
            lr=self.setting("lr"),
            weight_decay=self.weight_decay,
            patience=self.setting("patience"),
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
        return {name: self.setting(name) for name in ("frames", "epochs", "batch_size", "patience", "lr")
                + (("size",) if self.seam.sized or self.size else ())}

    # --- the seam: build, prepare, train ----------------------------------------------

    def _build(self, outputs: int, *, images: bool = False) -> None:
        """A new network with ``outputs`` outputs (classes, or 1 value): the frozen encoder and a head (by default
        the task's), or a clip model and its evaluation views (one frame per item of an image folder)."""
        self.__dict__.pop("_runtime_parts", None)  # a refit: no engine parts of the earlier model
        self.bundle_dir_ = None
        self.frames_encoded_by_ = None  # the seam's inputs say, when the frame encoder runs
        self.no_people_: list[str] = []  # pose inputs: the videos in which nobody was ever found
        self.kind_ = self.model
        self.seam.build(self, outputs, images=images)

    def _fit_shape(self, shape: Shape, classes: list[str], *, out_dir: str | Path | None, resume: bool, overwrite: bool,
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
        self._build(1 if self.task.values else len(classes), images=shape.images)
        prepared = shape.prepare(self, self.seam, on_video)
        self._learn_targets(classes, prepared.labels["train"])
        labels = prepared.labels
        targets = {name: [self._target(label) for label in part] for name, part in labels.items()}
        fit = self.seam.train(self, prepared.examples["train"], targets["train"], prepared.examples["val"],
                              targets["val"], self._train_config(), self._loss(), run.path, resume)
        self.clip_seconds_ = prepared.seconds
        self.training_videos_ = training_fingerprints(prepared.used)
        self.training_ = self._training_record(shape.record, prepared.units, fit,
                                               {**shape.left_out, **prepared.failed}, groups=prepared.groups)
        test_raw = self._outputs(prepared.readable("test"))
        self._score(lambda: self._outputs(prepared.readable("val")), labels["val"], test_raw, labels["test"],
                    groups=prepared.test_groups)
        if self.evaluation_ is not None and shape.notes:
            self.evaluation_.notes = list(shape.notes)
        self._warn_stopped_early(fit)

        def write(folder: Path) -> None:
            self.save(folder / "model")
            if self.evaluation_ is not None:
                self._write_scores(folder / "evaluation", test_raw, labels["test"], names=prepared.names,
                                   groups=prepared.test_groups if shape.scored_groups else None)

        run.finish(fit.metrics_csv, write)
        return self

    def _warn_stopped_early(self, fit) -> None:
        """Add to the warnings of an evaluation that says the model learnt nothing that its head stopped in its
        first epochs, when it did (:func:`vidclass.evaluation.chance.stopped_early`)."""
        warnings = getattr(self.evaluation_, "warnings", None)
        if not warnings or not any(warning.startswith(LEARNT_NOTHING) for warning in warnings):
            return
        config = self._train_config()
        hint = stopped_early(fit.best_epoch, fit.epochs_run, lr=config.lr, patience=config.patience,
                             batch_size=config.batch_size)
        if hint is not None:
            warnings.append(hint)

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

    def check_fitted(self) -> None:
        """Refuse, naming how to get one, a model that is neither fitted nor loaded (predictions, timelines, bundles)."""
        if not hasattr(self, "labels_"):
            name = type(self).__name__
            raise VidclassError(f"this {name} is not fitted yet: call fit(dataset) or {name}.load(dir)")

    # --- prediction ------------------------------------------------------------------

    def _inputs(self, paths: Sequence[Path], on_video: Progress | None = None) -> tuple[dict[Path, Any], dict[str, str]]:
        """What the model reads per video (feature grids or frame-cache entries), cached, preparing what is missing
        (the frame encoder runs under ``runtime``), and the failures (path -> reason)."""
        return seam_of(self.kind_).inputs(self, paths, on_video)

    def _outputs(self, inputs: Sequence[Any]) -> np.ndarray:
        """(N, C) outputs (the task's: class probabilities before temperature scaling, or standardised values),
        averaged over every evaluation view of each video; after a DDP fit each rank computes its share and all
        get every row (:func:`vidclass.training.distributed.gather`)."""
        from vidclass.training.distributed import gather

        rows = gather(list(inputs), lambda part: list(self._outputs_here(part)) if part else [])
        return np.asarray(rows, dtype=np.float32).reshape(len(inputs), len(self.labels_))

    def _outputs_here(self, inputs: Sequence[Any]) -> np.ndarray:
        return seam_of(self.kind_).outputs(self, inputs)

    def stream(self):
        """How this model labels a stream (:class:`vidclass.estimator.stream.FrameStream`), for timelines."""
        self.check_fitted()
        task = {"outputs": self.task.outputs, "finish": self._finish, "values": self.task.values}
        return seam_of(self.kind_).stream(self, **task)

    # --- persistence -----------------------------------------------------------------

    def to_bundle(self) -> AnyBundle:
        self.check_fitted()
        common = dict(
            labels=list(self.labels_),
            clip_seconds=self.clip_seconds_,
            training=self.training_,
            metrics=self.evaluation_.to_dict() if self.evaluation_ is not None else getattr(self, "bundle_metrics_", {}),
            training_videos=self.training_videos_,
            versions=package_versions(),
            temperature=self.temperature_,
        )
        return seam_of(self.kind_).bundle(self, **common)

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
        model = cls(**seam_of(bundle.kind).params(bundle), cache_dir=cache_dir, workers=workers)
        model._set_fitted(bundle)
        model.set_params(runtime=runtime)
        model.bundle_dir_ = Path(directory)
        return model

    def _set_fitted(self, bundle: AnyBundle) -> None:
        self.labels_ = list(bundle.labels)
        self.kind_ = bundle.kind
        seam_of(bundle.kind).set_fitted(self, bundle)
        self.clip_seconds_ = bundle.clip_seconds
        self.temperature_ = bundle.temperature
        self.training_ = bundle.training
        self.training_videos_ = bundle.training_videos
        self.evaluation_ = None
        self.bundle_metrics_ = bundle.metrics


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
