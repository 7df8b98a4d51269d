"""Fitting a ``VideoClassifier`` on clips of long recordings or labeled segments.

``VideoClassifier.fit`` hands over here when the catalog holds segments or ``clips=`` is set:
the dataset is split by recording or by time blocks (:mod:`vidclass.recordings`), feature
tracks are cached per source, and a temporal head is trained on views of clips cut from the
tracks (new clip positions every epoch for random plans). The fitted classifier is an ordinary
features model: its bundle, ``predict`` and timelines are the usual ones, with the clip length
as the timeline's window; ``training_["clips"]`` records the plan, the split and the test
blocks, so a later segment evaluation scores only time the model never trained on.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidclass import metrics
from vidclass.backbones import create_backbone
from vidclass.bundle import FEATURES
from vidclass.calibration import calibrate_probabilities, calibration_summary, fit_temperature, logits_from_probabilities
from vidclass.catalog import Catalog, left_out
from vidclass.errors import ConfigError
from vidclass.features import fingerprint
from vidclass.heads import create_head
from vidclass.recordings import (
    ClipPlan,
    ClipViews,
    RecordingSplits,
    Track,
    default_plan,
    extract_tracks,
    split_recordings,
    track_rate,
)
from vidclass.video import probe
from vidclass.views import ViewSpec, predict_proba


def clip_plan(model) -> ClipPlan | None:
    """The model's ``clips`` option parsed, or None."""
    return ClipPlan.parse(model.clips) if getattr(model, "clips", None) else None


def fit_recordings(model, found: Catalog, *, out_dir, resume: bool, overwrite: bool, on_video=None):
    """Train ``model`` (a VideoClassifier) on clips of ``found``'s recordings or segments; returns it."""
    from vidclass.api import _finish_run, _jsonable, _start_run, _write_json
    from vidclass.training import HeadModule, class_weights, fit_module, train_loader

    if model.model != FEATURES:
        raise ConfigError(f"model {model.model!r}: clips of long recordings and segments train model features "
                          "(a head on cached feature tracks) for now")
    view = model._view_spec()
    if view.pose:
        raise ConfigError(f"inputs {view.inputs!r}: pose inputs are not available for clips of recordings")
    plan = clip_plan(model) or default_plan(found)
    splits = split_recordings(found, plan, val=model.val, test=model.test, seed=model.seed)
    final = Path(out_dir) if out_dir is not None else None
    out = _start_run(final, resume=resume, overwrite=overwrite) if final is not None else None
    if out is not None:
        _write_json(out / "config.json", {"params": _jsonable(model.get_params()), "dataset": str(found.root),
                                          "model": model.model, "clips": str(plan), "split": splits.method})
    labels = list(found.labels)
    encoder = create_backbone(model.backbone, pretrained=model.pretrained, weights=model.weights)
    tracks, failed = source_tracks(model, encoder, splits, view, on_video)
    parts = {name: [c for c in clips if c.block.source in tracks] for name, clips in splits.clips.items()}
    if not parts["train"]:
        raise ConfigError(f"{found.root}: no training clip: the recordings are too short for clips {plan}")
    targets = {name: [labels.index(splits.label(c)) for c in clips] for name, clips in parts.items()}
    config = model._train_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(model.seed)
        head = create_head(model.head or "attention", in_dim=view.input_dim(encoder.spec.dim),
                           num_classes=len(labels), **(model.head_options or {}))
    train = ClipViews(parts["train"], tracks, targets["train"], view, plan, train=True, seed=config.seed)
    val = ClipViews(parts["val"], tracks, targets["val"], view, plan, train=False)
    import lightning as L

    L.seed_everything(config.seed, workers=True, verbose=False)
    weights = class_weights(targets["train"], len(labels)) if config.class_weights else None
    fit = fit_module(HeadModule(head, config, weights), train_loader(train, config),
                     DataLoader(val, batch_size=64) if len(val) else None, config, out_dir=out,
                     progress=model.progress, resume=resume)
    head.eval()
    model.labels_, model.kind_ = labels, FEATURES
    model.encoder_, model.head_, model.view_ = encoder, head, view
    model.clip_seconds_ = plan.seconds
    used = {splits.sources[c.block.source].path for name in ("train", "val") for c in parts[name]}
    model.training_videos_ = sorted(fingerprint(path) for path in used)
    model.training_ = {
        "dataset": str(found.root), "format": found.source_format, "model": model.model, "split": splits.method,
        "split_seed": model.seed, "videos": {name: len(clips) for name, clips in parts.items()},
        "groups": [], "unreadable": left_out(found, failed), "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch, "best_val_loss": fit.best_val_loss, "config": asdict(config),
        "clips": clips_record(splits),
    }
    probabilities = {name: clip_probabilities(head, tracks, parts[name], view) for name in ("val", "test")}
    model.temperature_ = (fit_temperature(logits_from_probabilities(probabilities["val"]), np.array(targets["val"]))
                          if parts["val"] else 1.0)
    model.evaluation_ = None
    if parts["test"]:
        raw = probabilities["test"]
        y = targets["test"]
        groups = [splits.sources[c.block.source].group for c in parts["test"]]
        model.evaluation_ = metrics.evaluate_predictions(y, calibrate_probabilities(raw, model.temperature_), labels,
                                                         split="test", groups=groups)
        model.evaluation_.calibration = calibration_summary(raw, np.array(y), model.temperature_)
        model.evaluation_.notes = [f"clips {plan}; split {splits.method}"]
    if out is not None and final is not None:
        if fit.metrics_csv is not None and fit.metrics_csv.is_file():
            metrics.plot_training_curves(fit.metrics_csv, out / "curves.png")
        model.save(out / "model")
        if model.evaluation_ is not None:
            names = [f"{splits.path(c)}#t={c.start:.2f},{c.end:.2f}" for c in parts["test"]]
            metrics.write_evaluation(model.evaluation_, out / "evaluation", paths=names, y_true=targets["test"],
                                     probabilities=calibrate_probabilities(probabilities["test"], model.temperature_),
                                     groups=[splits.sources[c.block.source].group for c in parts["test"]])
        _finish_run(out, final)
    return model


def source_tracks(model, encoder, splits: RecordingSplits, view: ViewSpec, on_video=None):
    """The feature tracks of the sources that have blocks, and the failures (path -> reason)."""
    wanted = sorted({b.source for b in splits.blocks})
    sources = [splits.sources[i] for i in wanted]
    fps = {path: probe(path).fps for path in {s.path for s in sources}}
    rates = [track_rate(view, splits.plan.shortest, fps[s.path]) for s in sources]
    found, report = extract_tracks(sources, encoder, rates, cache=model._cache(), rgbdiff=view.rgbdiff,
                                   workers=model.workers, on_video=on_video)
    return {wanted[i]: track for i, track in found.items()}, report.failed


def clip_probabilities(head, tracks: dict[int, Track], clips, view: ViewSpec) -> np.ndarray:
    """(N, C) probabilities of clips, averaged over the evaluation views."""
    if not clips:
        return np.zeros((0, head.num_classes), dtype=np.float32)
    return predict_proba(head, [tracks[c.block.source].grid(c.start, c.end, view.grid) for c in clips], view)


def clips_record(splits: RecordingSplits) -> dict[str, Any]:
    """What a bundle keeps of a clip split: the plan, the method, and every block per part by
    recording fingerprint, so evaluations know which time the model trained on."""
    prints = {s.path: fingerprint(s.path) for s in splits.sources}
    return {
        "plan": str(splits.plan), "method": splits.method, "gap_s": splits.gap,
        "blocks": [{"fingerprint": prints[splits.sources[b.source].path], "start": round(b.start, 3),
                    "end": round(b.end, 3), "part": b.part} for b in splits.blocks],
    }
