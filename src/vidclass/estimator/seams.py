"""The seam strategy: where a model meets the video, frozen features or pixels, whatever its task and data shape.

:class:`FrozenFeatures` (``model="features"``): a frozen frame encoder whose features of sampled frames are
cached per video (or per source, as tracks), and a temporal head trained on views of them.
:class:`Pixels` (every clip model, ``vidclass models``): decoded frames cached per video (or per source), and
the whole network trained on augmented clips of them. Each says its defaults and inputs, builds its network,
prepares and caches what it reads, trains it on units of either shape, averages its outputs over evaluation
views, streams a timeline, and makes and reads its bundle; the estimator core
(:class:`vidclass.estimator.core.VideoEstimator`) asks the seam of its ``model`` for each of these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from vidclass.data.recordings import RecordingSplits, Source
from vidclass.errors import VidclassError
from vidclass.estimator.bundle import FEATURES, AnyBundle, Bundle, ClipBundle
from vidclass.estimator.engine import runtime_part
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache, FeatureSpec, VideoFeatures, load_features
from vidclass.inputs.pose import with_pose
from vidclass.inputs.pose.tracks import pose_tracks
from vidclass.inputs.tracks import Track, extract_tracks, track_rate
from vidclass.inputs.units import Files, Units, entries
from vidclass.inputs.views import DEFAULT_INPUTS, INPUTS, POSE_INPUTS, GridViews, ViewSpec, cut_view, view_averaged
from vidclass.media.video import probe
from vidclass.models.backbones import create_backbone
from vidclass.models.heads import LinearHead, create_head
from vidclass.models.runtime import prebuilt_encoder

Progress = Callable[[str, str], None]  # (path, status) per video prepared
BACKBONE_LR_FRACTION = 0.3  # the backbone of a pixel model learns at lr x this unless told


class FrozenFeatures:
    """A temporal head on cached features of a frozen frame encoder."""

    name: ClassVar[str] = "features"
    defaults: ClassVar[dict[str, Any]] = {"frames": 16, "epochs": 60, "batch_size": 16, "patience": 10,
                                          "inputs": DEFAULT_INPUTS, "lr": 1e-3}
    inputs_allowed: ClassVar[tuple[str, ...]] = INPUTS + POSE_INPUTS
    sized: ClassVar[bool] = False  # frames are the backbone's own size unless told

    def setting(self, model, name: str) -> Any:
        """The seam's default of setting ``name``."""
        return self.defaults[name]

    def view_spec(self, model) -> ViewSpec:
        """The views the head reads: ``frames`` per view from a grid of ``grid`` (default twice as many)."""
        frames = model.setting("frames")
        return ViewSpec(frames=frames, grid=model.grid or 2 * frames, inputs=model.setting("inputs"),
                        people=model.pose_people)

    def check_weights(self, model) -> None:
        if self.view_spec(model).appearance:
            create_backbone(model.backbone, pretrained=model.pretrained, weights=model.weights, size=model.size)

    def build(self, model, outputs: int, *, images: bool) -> None:
        """The frozen encoder and a new head (by default the task's) with ``outputs`` outputs. Under
        ONNX Runtime the encoder is built in PyTorch only when no earlier process exported its graph
        (:func:`vidclass.models.runtime.prebuilt_encoder`): a fit on cached features then never imports timm."""
        model.view_ = self.view_spec(model)
        settings = dict(pretrained=model.pretrained, weights=model.weights, size=model.size)
        model.encoder_ = ((model.runtime != "torch" and prebuilt_encoder(model.backbone, **settings))
                          or create_backbone(model.backbone, **settings))
        with torch.random.fork_rng(devices=[]):  # the head's initial weights follow the seed
            torch.manual_seed(model.seed)
            model.head_ = create_head(model.head or model.task.default_head,
                                      in_dim=model.view_.input_dim(model.encoder_.spec.dim), num_classes=outputs,
                                      **{**model.task.head_options, **(model.head_options or {})})

    def inputs(self, model, paths: Sequence[Path], on_video: Progress | None = None
               ) -> tuple[dict[Path, VideoFeatures], dict[str, str]]:
        """Cached grid features of ``paths`` (extracting what is missing, the frame encoder under the model's
        runtime) and the failures. Inputs with ``pose`` also get the pose vectors of the same grid frames
        (:func:`vidclass.inputs.pose.pose_features`); pose-only inputs get no CNN features, and the videos in which
        nobody was ever found are kept in ``no_people_``."""
        view, cache = model.view_, FeatureCache(model.cache_dir)
        grids: dict[Path, VideoFeatures] | None = None
        failed: dict[str, str] = {}
        pose = pose_spec(model, view) if view.pose else None
        if view.appearance:  # estimated poses come from the same decoded frames
            encoder = runtime_part(model, "encoder")
            report = extract_features(paths, encoder, view.grid, cache=cache, workers=model.workers,
                                      pair_image=view.pair_image, motion_rule=view.motion_rule,
                                      appearance=view.frame_features,
                                      pose=pose if pose is not None and pose.keypoints is None else None,
                                      on_video=on_video)
            grids = load_features(paths, FeatureSpec.for_encoder(encoder, view.grid, appearance=view.frame_features,
                                                                 pair_image=view.pair_image,
                                                                 motion_rule=view.motion_rule), cache)
            failed = report.failed
            model.frames_encoded_by_ = report.engine
        if pose is not None:
            from vidclass.inputs.pose import pose_features

            poses, pose_report = pose_features(paths, pose, view.grid, cache=cache, workers=model.workers,
                                               on_video=None if view.appearance else on_video)
            grids = with_pose(grids, poses)
            failed = {**pose_report.failed, **failed}
            model.no_people_ = pose_report.nobody
        return grids or {}, failed

    def tracks(self, model, splits: RecordingSplits, on_video: Progress | None = None
               ) -> tuple[dict[int, Track], dict[str, str]]:
        """The feature tracks of the sources that have blocks (CNN features, pose vectors beside them, or both, as
        the inputs ask), and the failures (path -> reason)."""
        view, cache = model.view_, FeatureCache(model.cache_dir)
        wanted, sources, rates = _sources(splits, view)
        found: dict[int, VideoFeatures] | None = None
        failed: dict[str, str] = {}
        if view.appearance:  # as for whole files: the frame encoder under the model's runtime
            tracks, report = extract_tracks(sources, runtime_part(model, "encoder"), rates, cache=cache,
                                            pair_image=view.pair_image, motion_rule=view.motion_rule,
                                            workers=model.workers, on_video=on_video)
            found, failed = {i: track.features for i, track in tracks.items()}, report.failed
        if view.pose:
            poses, pose_report = pose_tracks(sources, rates, pose_spec(model, view), cache=cache,
                                             workers=model.workers, on_video=None if view.appearance else on_video)
            found, failed = with_pose(found, poses), {**pose_report.failed, **failed}
            model.no_people_ = pose_report.nobody
        return {wanted[i]: Track(entry, sources[i].start, rates[i]) for i, entry in (found or {}).items()}, failed

    def units(self, model, inputs: Sequence[Any]) -> Files:
        """Whole files as units: their feature grids."""
        return Files(list(inputs))

    def duration(self, model, prepared: VideoFeatures) -> float:
        return prepared.duration

    def train(self, model, train: Units, y_train: Sequence[Any], val: Units, y_val: Sequence[Any], config, loss: str,
              out: Path | None, resume: bool):
        """Fit the head: the linear head by scikit-learn in one pass, the others by gradient descent on views."""
        grids = entries(train)
        head = model.head_
        if head.options.standardize and not isinstance(head, LinearHead):  # the linear head sets its own
            head.set_standardization(*input_statistics(grids, model.view_))
        if isinstance(head, LinearHead):  # a logistic regression, fitted in one pass (no Lightning)
            from vidclass.training.config import Example
            from vidclass.training.linear import fit_linear

            return fit_linear(head, [Example(grid, y) for grid, y in zip(grids, y_train)],
                              [Example(grid, y) for grid, y in zip(entries(val), y_val)], model.view_, config,
                              loss=loss)
        from vidclass.training.loop import fit_head_on

        return fit_head_on(head, GridViews(train, y_train, model.view_, train=True, seed=model.seed),
                           GridViews(val, y_val, model.view_, train=False), y_train, config, out_dir=out,
                           progress=model.progress, resume=resume, loss=loss)

    def outputs(self, model, inputs: Sequence[Any]) -> np.ndarray:
        """The task's outputs of the head averaged over the evaluation views of each grid."""
        return view_averaged(runtime_part(model, "head"), list(inputs), model.view_, model.task.outputs)

    def stream(self, model, **task: Any):
        from vidclass.estimator.stream import features_stream

        return features_stream(runtime_part(model, "encoder"), runtime_part(model, "head"), model.view_,
                               model.clip_seconds_, list(model.labels_), **task)

    def bundle(self, model, **common: Any) -> AnyBundle:
        return Bundle(encoder=model.encoder_, head=model.head_, view=model.view_, **common)

    def params(self, bundle: Bundle) -> dict[str, Any]:
        """The estimator parameters of a loaded bundle."""
        return {"backbone": bundle.encoder.spec.name, "head": bundle.head.name, "frames": bundle.view.frames,
                "grid": bundle.view.grid, "inputs": bundle.view.inputs}

    def set_fitted(self, model, bundle: Bundle) -> None:
        model.encoder_, model.head_, model.view_ = bundle.encoder, bundle.head, bundle.view


class Pixels:
    """A clip model trained end to end on cached decoded frames (``vidclass models``)."""

    name: ClassVar[str] = "pixels"
    defaults: ClassVar[dict[str, Any]] = {"frames": 8, "epochs": 8, "batch_size": 8, "patience": 3, "inputs": "rgb",
                                          "size": 112, "lr": 1e-3}
    inputs_allowed: ClassVar[tuple[str, ...]] = ("rgb", "rgbdiff", "flow")
    sized: ClassVar[bool] = True

    def setting(self, model, name: str) -> Any:
        """The clip model's own default of setting ``name`` where it declares one (convlstm: 20 frames of 64 px),
        else the seam's."""
        from vidclass.models.clip_models import get_clip_model_class, list_clip_models

        if model.model in list_clip_models() and name in get_clip_model_class(model.model).defaults:
            return get_clip_model_class(model.model).defaults[name]
        return self.defaults[name]

    def check_weights(self, model) -> None:
        self.new_network(model, 2)

    def new_network(self, model, outputs: int):
        """The clip model of ``model``'s parameters, its new layers initialised from ``seed``."""
        from vidclass.models.clip_models import ClipSpec, create_clip_model

        spec = ClipSpec(backbone=model.backbone, frames=model.setting("frames"), size=model.setting("size"),
                        inputs=model.setting("inputs"), freeze_stages=model.freeze_stages, bn=model.bn)
        options = ({"head": {"name": model.head or "lstm", **(model.head_options or {})}}
                   if model.model == "lrcn" else {})
        if model.arch is not None:
            options["arch"] = model.arch
        with torch.random.fork_rng(devices=[]):  # new layers' initial weights follow the seed
            torch.manual_seed(model.seed)
            return create_clip_model(model.model, spec, outputs, pretrained=model.pretrained,
                                     weights=str(model.weights) if model.weights else None, **options)

    def build(self, model, outputs: int, *, images: bool) -> None:
        """A new clip model with ``outputs`` outputs, its evaluation views and cache layout (one frame per item of
        an image folder)."""
        model.model_ = self.new_network(model, outputs)
        self.set_views(model, images=images)

    def set_views(self, model, *, images: bool) -> None:
        from vidclass.inputs.pixels import FrameSpec, store_size

        spec = model.model_.spec
        frames = 1 if images else spec.frames
        model.view_ = ViewSpec(frames=frames, grid=1 if images else (model.grid or 2 * frames))
        model.frame_spec_ = FrameSpec(store=store_size(spec.size), grid=model.view_.grid,
                                      interpolation=model.model_.interpolation, rgbdiff=spec.pair_image is not None)

    def inputs(self, model, paths: Sequence[Path], on_video: Progress | None = None
               ) -> tuple[dict[Path, str], dict[str, str]]:
        """Cache keys of the decoded frames of ``paths`` (decoding what is missing) and the failures."""
        from vidclass.inputs.frame_cache import cache_frames, load_frames

        cache = frame_cache(model)
        report = cache_frames(paths, model.frame_spec_, cache, workers=model.workers, on_video=on_video)
        return load_frames(paths, model.frame_spec_, cache), report.failed

    def tracks(self, model, splits: RecordingSplits, on_video: Progress | None = None):
        """The decoded-frame tracks of the sources that have blocks, and the failures (path -> reason)."""
        from vidclass.inputs.frame_cache import frame_tracks

        wanted, sources, rates = _sources(splits, model.view_)
        found, report = frame_tracks(sources, rates, model.frame_spec_, frame_cache(model), workers=model.workers,
                                     on_video=on_video)
        return {wanted[i]: track for i, track in found.items()}, report.failed

    def units(self, model, inputs: Sequence[Any]) -> Files:
        """Whole files as units: their frame-cache entries, read when drawn."""
        return Files(list(inputs), partial(frame_entry, model))  # a partial, not a lambda: loader workers pickle it

    def duration(self, model, prepared: Any) -> float:
        return frame_entry(model, prepared).duration

    def train(self, model, train: Units, y_train: Sequence[Any], val: Units, y_val: Sequence[Any], config, loss: str,
              out: Path | None, resume: bool):
        """Fit the whole clip model on augmented clips (a new view and augmentation per epoch)."""
        from vidclass.training.loop import fit_clip_model

        backbone_lr = model.backbone_lr if model.backbone_lr is not None else config.lr * BACKBONE_LR_FRACTION
        return fit_clip_model(model.model_, clip_dataset(model, train, y_train, train=True),
                              clip_dataset(model, val, y_val, train=False), y_train, config, backbone_lr=backbone_lr,
                              out_dir=out, progress=model.progress, resume=resume, loss=loss)

    def outputs(self, model, inputs: Sequence[Any]) -> np.ndarray:
        """The task's outputs of the clip model averaged over the evaluation views of each video or clip."""
        from vidclass.inputs.pixels import clip_model_outputs

        network = runtime_part(model, "model")
        units = self.units(model, inputs)
        return clip_model_outputs(network, [clip_dataset(model, units, [0] * len(inputs), train=False, view_index=view,
                                                         network=network)
                                            for view in range(model.view_.test_views)], model.task.outputs)

    def stream(self, model, **task: Any):
        from vidclass.estimator.stream import clip_stream

        return clip_stream(runtime_part(model, "model"), model.clip_seconds_, list(model.labels_), **task)

    def bundle(self, model, **common: Any) -> AnyBundle:
        return ClipBundle(model=model.model_, **common)

    def params(self, bundle: ClipBundle) -> dict[str, Any]:
        spec = bundle.model.spec
        return {"model": bundle.kind, "backbone": spec.backbone, "frames": spec.frames, "inputs": spec.inputs,
                "size": spec.size, "arch": bundle.model.options().get("arch")}

    def set_fitted(self, model, bundle: ClipBundle) -> None:
        model.model_ = bundle.model
        self.set_views(model, images=False)


Seam = FrozenFeatures | Pixels
SEAMS: dict[str, Seam] = {FEATURES: FrozenFeatures(), "pixels": Pixels()}


def seam_of(kind: str) -> Seam:
    """The seam of a model kind: frozen features for ``features``, pixels for every clip model."""
    return SEAMS[FEATURES if kind == FEATURES else "pixels"]


def pose_spec(model, view: ViewSpec):
    """How pose vectors are made for ``view``: estimated, or read from the model's ``keypoints``."""
    from vidclass.inputs.pose import PoseSpec

    return PoseSpec(people=view.people, keypoints=str(model.keypoints) if model.keypoints is not None else None)


def frame_cache(model):
    """The decoded-frame cache of ``model``'s ``cache_dir`` (``frames/`` inside it), else the user's."""
    from vidclass.inputs.frame_cache import FrameCache

    return FrameCache(Path(model.cache_dir) / "frames" if model.cache_dir is not None else None)


def frame_entry(model, entry: Any):
    """A whole file's frame-cache entry read by its key, or a clip's frames as its track gave them."""
    if not isinstance(entry, str):
        return entry
    frames = frame_cache(model).read(entry, model.frame_spec_)
    if frames is None:
        raise VidclassError(f"{frame_cache(model).root}: the decoded-frame entry {entry} went missing while in use "
                            "(another process cleared the cache?); rerun")
    return frames


def clip_dataset(model, units: Units, targets: Sequence[Any], *, train: bool, view_index: int = 0, network=None):
    """Clips of ``units`` (whole files, or clips cut from frame tracks) with their targets (a random view and
    augmentation per epoch when ``train``, else evaluation view ``view_index``), for ``network`` (default: the
    model's clip model)."""
    from vidclass.inputs.pixels import ClipTensors

    network = network if network is not None else model.model_
    return ClipTensors(units, list(targets), model.view_, network.spec.size, train=train,
                       pair_image=network.spec.pair_image, motion_rule=network.spec.motion_rule, flip=model.flip,
                       seed=model.seed, view_index=view_index)


def _sources(splits: RecordingSplits, view: ViewSpec) -> tuple[list[int], list[Source], list[float]]:
    """The numbers of the sources that have blocks, the sources, and the track rate each needs."""
    wanted = sorted({b.source for b in splits.blocks})
    sources = [splits.sources[i] for i in wanted]
    fps = {path: probe(path).fps for path in {s.path for s in sources}}
    return wanted, sources, [track_rate(view, splits.plan.shortest, fps[s.path]) for s in sources]


def input_statistics(grids: Sequence[VideoFeatures], spec: ViewSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of a head's inputs over every real frame of the training grids
    (for a head with option ``standardize``)."""
    every = [cut_view(g.features, g.mask, ViewSpec(g.mask.size, g.mask.size, spec.inputs, spec.people),
                      rgbdiff=g.rgbdiff, pose=g.pose) for g in grids]
    frames = np.concatenate([x[mask] for x, mask in every])
    return frames.mean(axis=0), frames.std(axis=0)

