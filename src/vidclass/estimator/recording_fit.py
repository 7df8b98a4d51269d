"""Fitting a model of either task on clips of long recordings or labeled segments (the recordings shape).

``VideoClassifier.fit`` and ``VideoRegressor.fit`` hand over here when the dataset holds segments or ``clips=``
is set (a regressor's labels are its numbers: :func:`vidclass.data.targets.target_catalog`); the model's task
encodes the targets, fits its calibration or scale, and scores and writes the test clips:
the dataset is split by recording or by time blocks (:mod:`vidclass.data.recordings`), feature
tracks (and pose tracks, for pose inputs) are cached per source, and a temporal head is trained on views of
clips cut from the tracks (new clip positions every epoch for random plans); a model trained on pixels is trained
the same way on clips cut from cached decoded-frame tracks (:mod:`vidclass.inputs.frame_tracks`). The
fitted model is an ordinary model of its kind: its bundle, ``predict`` and timelines are
the usual ones, with the clip length as the timeline's window; ``training_["clips"]`` records
the plan, the split and the test blocks, so a later segment evaluation scores only time the
model never trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vidclass.data.catalog import left_out
from vidclass.data.items import Catalog
from vidclass.data.recordings import ClipPlan, RecordingSplits, default_plan, split_recordings
from vidclass.errors import ConfigError
from vidclass.estimator.bundle import FEATURES
from vidclass.estimator.core import training_fingerprints
from vidclass.inputs.features import VideoFeatures, fingerprint
from vidclass.inputs.pixels import clip_model_outputs
from vidclass.inputs.pose import with_pose
from vidclass.inputs.pose.tracks import pose_tracks
from vidclass.inputs.tracks import ClipViews, Track, extract_tracks, track_rate
from vidclass.inputs.views import ViewSpec, view_averaged
from vidclass.media.video import probe
from vidclass.models.outputs import Outputs, probabilities
from vidclass.training.run_folder import RunFolder


def clip_plan(model) -> ClipPlan | None:
    """The model's ``clips`` option parsed, or None."""
    return ClipPlan.parse(model.clips) if getattr(model, "clips", None) else None


def fit_recordings(model, found: Catalog, *, out_dir, resume: bool, overwrite: bool, on_video=None):
    """Train ``model`` (a VideoClassifier, or a VideoRegressor whose labels are numbers) on clips of ``found``'s
    recordings or segments; returns it. The model's task encodes the targets, scores and writes the test clips."""
    pixels = model.model != FEATURES
    plan = clip_plan(model) or default_plan(found)
    splits = split_recordings(found, plan, val=model.val, test=model.test, seed=model.seed)
    run = RunFolder(out_dir, resume=resume, overwrite=overwrite)  # only the primary DDP rank writes it
    run.write_config({"params": model.get_params(), "dataset": str(found.root), "model": model.model,
                      "clips": str(plan), "split": splits.method, "task": model.task.name})
    train_labels = [splits.label(c) for c in splits.clips["train"]]
    outputs = model._learn_targets(list(found.labels), train_labels)
    trainer = _fit_pixels if pixels else _fit_head
    fit, parts, targets, outputs_of, failed = trainer(model, found, splits, outputs, run.path, resume, on_video)
    model.kind_ = model.model
    model.clip_seconds_ = plan.seconds
    used = {splits.sources[c.block.source].path for name in ("train", "val") for c in parts[name]}
    model.training_videos_ = training_fingerprints(used)
    model.training_ = model._training_record(
        {"dataset": str(found.root), "format": found.source_format, "split": splits.method, "split_seed": model.seed,
         "clips": clips_record(splits), "clip_seconds": plan.seconds},
        parts, fit, left_out(found, failed), groups=[])
    labels = {name: [splits.label(c) for c in parts[name]] for name in ("val", "test")}
    groups = [splits.sources[c.block.source].group for c in parts["test"]]
    test_raw = outputs_of("test")
    model._score(lambda: outputs_of("val"), labels["val"], test_raw, labels["test"], groups=groups)
    if model.evaluation_ is not None:
        model.evaluation_.notes = [f"clips {plan}; split {splits.method}"]

    def write(folder: Path) -> None:
        model.save(folder / "model")
        if model.evaluation_ is not None:
            names = [f"{splits.path(c)}#t={c.start:.2f},{c.end:.2f}" for c in parts["test"]]
            model._write_scores(folder / "evaluation", test_raw, labels["test"], names=names, groups=groups)

    run.finish(fit.metrics_csv, write)
    return model


def _usable_clips(model, found: Catalog, splits: RecordingSplits, tracks: dict):
    """The clips of every part whose source has a track, and their targets (the model's task encodes them)."""
    parts = {name: [c for c in clips if c.block.source in tracks] for name, clips in splits.clips.items()}
    if not parts["train"]:
        raise ConfigError(f"{found.root}: no training clip: the recordings are too short for clips {splits.plan}")
    return parts, {name: [model._target(splits.label(c)) for c in clips] for name, clips in parts.items()}


def _fit_head(model, found, splits, outputs: int, out, resume, on_video):
    """A temporal head on clip grids cut from cached feature tracks (builds the model's encoder, head, view)."""
    model._build(outputs, recordings=True)
    view = model.view_
    tracks, failed = source_tracks(model, model.encoder_, splits, view, on_video)
    parts, targets = _usable_clips(model, found, splits, tracks)
    model._standardize([tracks[c.block.source].grid(c.start, c.end, view.grid) for c in parts["train"]])
    fit = model._train_on(ClipViews(parts["train"], tracks, targets["train"], view, splits.plan, train=True,
                                    seed=model.seed),
                          ClipViews(parts["val"], tracks, targets["val"], view, splits.plan, train=False),
                          targets["train"], out, resume)
    return fit, parts, targets, lambda name: clip_outputs(model.head_, tracks, parts[name], view,
                                                          model.task.outputs), failed


def _fit_pixels(model, found, splits, outputs: int, out, resume, on_video):
    """A clip model trained on frames cut from cached frame tracks, random clips redrawn every epoch
    (sets the model's ``model_``, evaluation views and frame layout)."""
    from vidclass.inputs.frame_tracks import ClipFrames, frame_tracks

    model._build(outputs)
    clip_model = model.model_
    view, spec = model.view_, model.frame_spec_
    wanted = sorted({b.source for b in splits.blocks})
    sources = [splits.sources[i] for i in wanted]
    fps = {path: probe(path).fps for path in {s.path for s in sources}}
    found_tracks, report = frame_tracks(sources, [track_rate(view, splits.plan.shortest, fps[s.path]) for s in sources],
                                        spec, model._frame_cache(), workers=model.workers, on_video=on_video)
    tracks = {wanted[i]: track for i, track in found_tracks.items()}
    parts, targets = _usable_clips(model, found, splits, tracks)

    def dataset(name: str, *, train: bool, view_index: int = 0) -> ClipFrames:
        return ClipFrames(parts[name], tracks, targets[name], view, clip_model.spec.size, splits.plan, train=train,
                          pair_image=clip_model.spec.pair_image, flip=model.flip, seed=model.seed,
                          view_index=view_index)

    fit = model._train_on(dataset("train", train=True), dataset("val", train=False), targets["train"], out, resume)
    return fit, parts, targets, lambda name: clip_model_outputs(
        clip_model, [dataset(name, train=False, view_index=v) for v in range(view.test_views)], model.task.outputs
    ), report.failed


def source_tracks(model, encoder, splits: RecordingSplits, view: ViewSpec, on_video=None):
    """The tracks of the sources that have blocks (CNN features, pose vectors beside them, or both, as ``view``'s
    inputs ask), and the failures (path -> reason)."""
    wanted = sorted({b.source for b in splits.blocks})
    sources = [splits.sources[i] for i in wanted]
    fps = {path: probe(path).fps for path in {s.path for s in sources}}
    rates = [track_rate(view, splits.plan.shortest, fps[s.path]) for s in sources]
    entries: dict[int, VideoFeatures] | None = None
    failed: dict[str, str] = {}
    if view.appearance:
        found, report = extract_tracks(sources, encoder, rates, cache=model._cache(), pair_image=view.pair_image,
                                       workers=model.workers, on_video=on_video)
        entries, failed = {i: track.features for i, track in found.items()}, report.failed
    if view.pose:
        poses, pose_report = pose_tracks(sources, rates, model._pose_spec(view), cache=model._cache(),
                                         workers=model.workers, on_video=None if view.appearance else on_video)
        entries, failed = with_pose(entries, poses), {**pose_report.failed, **failed}
        model.no_people_ = pose_report.nobody
    return {wanted[i]: Track(entry, sources[i].start, rates[i]) for i, entry in (entries or {}).items()}, failed


def clip_outputs(head, tracks: dict[int, Track], clips, view: ViewSpec, outputs: Outputs = probabilities) -> np.ndarray:
    """(N, C) outputs of clips (class probabilities unless told), averaged over the evaluation views."""
    if not clips:
        return np.zeros((0, head.num_classes), dtype=np.float32)
    return view_averaged(head, [tracks[c.block.source].grid(c.start, c.end, view.grid) for c in clips], view, outputs)


def clips_record(splits: RecordingSplits) -> dict[str, Any]:
    """What a bundle keeps of a clip split: the plan, the method, and every block per part by
    recording fingerprint, so evaluations know which time the model trained on."""
    prints = {s.path: fingerprint(s.path) for s in splits.sources}
    return {
        "plan": str(splits.plan), "method": splits.method, "gap_s": splits.gap,
        "blocks": [{"fingerprint": prints[splits.sources[b.source].path], "start": round(b.start, 3),
                    "end": round(b.end, 3), "part": b.part} for b in splits.blocks],
    }
