"""Fitting a model of either task on clips of long recordings or labeled segments (the recordings shape).

``VideoClassifier.fit`` and ``VideoRegressor.fit`` hand over here when the dataset holds segments or ``clips=``
is set (a regressor's labels are its numbers: :func:`vidclass.data.targets.target_catalog`); the model's task
encodes the targets, fits its calibration or scale, and scores and writes the test clips:
the dataset is split by recording or by time blocks (:mod:`vidclass.data.recordings`), feature
tracks (and pose tracks, for pose inputs) are cached per source, and a temporal head is trained on views of
clips cut from the tracks (new clip positions every epoch for random plans); a model trained on pixels is trained
the same way on clips cut from cached decoded-frame tracks (:mod:`vidclass.inputs.frame_cache`). The
fitted model is an ordinary model of its kind: its bundle, ``predict`` and timelines are
the usual ones, with the clip length as the timeline's window; ``training_["clips"]`` records
the plan, the split and the test blocks, so a later segment evaluation scores only time the
model never trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidclass.data.catalog import left_out
from vidclass.data.items import Catalog
from vidclass.data.recordings import ClipPlan, RecordingSplits, Source, default_plan, split_recordings
from vidclass.errors import ConfigError
from vidclass.estimator.bundle import FEATURES
from vidclass.estimator.core import training_fingerprints
from vidclass.inputs.features import VideoFeatures, fingerprint
from vidclass.inputs.pose import with_pose
from vidclass.inputs.pose.tracks import pose_tracks
from vidclass.inputs.tracks import Track, extract_tracks, track_rate
from vidclass.inputs.units import TrackClips, entries
from vidclass.inputs.views import ViewSpec
from vidclass.media.video import probe
from vidclass.training.run_folder import RunFolder


def clip_plan(model) -> ClipPlan | None:
    """The model's ``clips`` option parsed, or None."""
    return ClipPlan.parse(model.clips) if getattr(model, "clips", None) else None


def fit_recordings(model, found: Catalog, *, out_dir, resume: bool, overwrite: bool, on_video=None):
    """Train ``model`` (a VideoClassifier, or a VideoRegressor whose labels are numbers) on clips of ``found``'s
    recordings or segments; returns it. The model's task encodes the targets, scores and writes the test clips."""
    plan = clip_plan(model) or default_plan(found)
    splits = split_recordings(found, plan, val=model.val, test=model.test, seed=model.seed)
    run = RunFolder(out_dir, resume=resume, overwrite=overwrite)  # only the primary DDP rank writes it
    run.write_config({"params": model.get_params(), "dataset": str(found.root), "model": model.model,
                      "clips": str(plan), "split": splits.method, "task": model.task.name})
    train_labels = [splits.label(c) for c in splits.clips["train"]]
    outputs = model._learn_targets(list(found.labels), train_labels)
    fit, parts, targets, outputs_of, failed = _train_on_clips(model, found, splits, outputs, run.path, resume,
                                                              on_video)
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


def _train_on_clips(model, found, splits, outputs: int, out, resume, on_video):
    """Build the model's network, cut clips from the tracks of its seam (feature tracks, with pose beside them for
    pose inputs, or decoded-frame tracks; new clip positions every epoch for random plans) and train it on them.
    Returns the fit, the usable clips and their targets per part, each part's outputs, and the failures."""
    model._build(outputs, recordings=True)
    source = frame_source_tracks if model.model != FEATURES else source_tracks
    tracks, failed = source(model, splits, model.view_, on_video)
    parts, targets = _usable_clips(model, found, splits, tracks)
    clips = {name: TrackClips(parts[name], tracks, splits.plan, model.view_.grid) for name in parts}
    fit = model._train(clips["train"], targets["train"], clips["val"], targets["val"], out, resume)
    return fit, parts, targets, lambda name: model._outputs(entries(clips[name])), failed


def frame_source_tracks(model, splits: RecordingSplits, view: ViewSpec, on_video=None):
    """The decoded-frame tracks of the sources that have blocks, and the failures (path -> reason)."""
    from vidclass.inputs.frame_cache import frame_tracks

    wanted, sources, rates = _sources(splits, view)
    found, report = frame_tracks(sources, rates, model.frame_spec_, model._frame_cache(), workers=model.workers,
                                 on_video=on_video)
    return {wanted[i]: track for i, track in found.items()}, report.failed


def _sources(splits: RecordingSplits, view: ViewSpec) -> tuple[list[int], list[Source], list[float]]:
    """The numbers of the sources that have blocks, the sources, and the track rate each needs."""
    wanted = sorted({b.source for b in splits.blocks})
    sources = [splits.sources[i] for i in wanted]
    fps = {path: probe(path).fps for path in {s.path for s in sources}}
    return wanted, sources, [track_rate(view, splits.plan.shortest, fps[s.path]) for s in sources]


def source_tracks(model, splits: RecordingSplits, view: ViewSpec, on_video=None):
    """The feature tracks of the sources that have blocks (CNN features, pose vectors beside them, or both, as
    ``view``'s inputs ask), and the failures (path -> reason)."""
    wanted, sources, rates = _sources(splits, view)
    encoder = model._run("encoder")  # as for whole files: the frame encoder under the model's runtime
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


def clips_record(splits: RecordingSplits) -> dict[str, Any]:
    """What a bundle keeps of a clip split: the plan, the method, and every block per part by
    recording fingerprint, so evaluations know which time the model trained on."""
    prints = {s.path: fingerprint(s.path) for s in splits.sources}
    return {
        "plan": str(splits.plan), "method": splits.method, "gap_s": splits.gap,
        "blocks": [{"fingerprint": prints[splits.sources[b.source].path], "start": round(b.start, 3),
                    "end": round(b.end, 3), "part": b.part} for b in splits.blocks],
    }
