"""Scoring a model's timelines on a segment dataset (``vidclass evaluate`` on a segment CSV).

Each recording is labeled by :func:`vidclass.use.predict.run_timeline` (the same timeline users
get, for any model kind), and the timeline's segments are compared with the labeled segments
at ``rate`` samples per second (:mod:`vidclass.evaluation.segment_metrics`). Time without a label is left
out unless the dataset has a background class. Time the model trained or early-stopped on is
left out too: whole recordings it saw, or, for a model trained on time blocks of these
recordings, the train and val blocks its bundle records; so evaluating on the training
dataset scores exactly its test blocks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from vidclass.data.items import Catalog
from vidclass.errors import ConfigError, VidclassError
from vidclass.evaluation.segment_metrics import IGNORE, SegmentEvaluation, evaluate_sequences, plot_segments
from vidclass.inputs.features import fingerprint
from vidclass.media.video import probe

DEFAULT_RATE = 4.0  # samples per second


def evaluate_segments(
    model, catalog: Catalog, *, out_dir: str | Path | None = None, rate: float = DEFAULT_RATE, smooth: int = 1,
    stride: float | None = None,
) -> SegmentEvaluation:
    """Timeline metrics of ``model`` (a fitted VideoClassifier) over the recordings of ``catalog``;
    with ``out_dir``: ``segment_metrics.json`` and ``segments.png`` (true vs predicted bands)."""
    from vidclass.use.predict import TimelineSettings, run_timeline

    model.check_fitted()
    labels = list(model.labels_)
    unknown = sorted({item.label for item in catalog.items} - set(labels))
    if unknown:
        raise ConfigError(f"{catalog.root}: labels {', '.join(unknown)} are not among the model's labels "
                          f"({', '.join(labels)})")
    by_path = defaultdict(list)
    for item in catalog.items:
        by_path[item.path].append(item)
    trained = _trained_ranges(model)
    pairs, rows, notes = [], [], []
    for path, items in by_path.items():
        info = catalog.infos.get(path)
        if info is None and any(item.span is None for item in items):  # whole files: their length from the video
            info = probe(path)
        duration = float(info.duration) if info is not None and info.duration else max(i.end or 0 for i in items)
        times = (np.arange(int(duration * rate)) + 0.5) / rate
        truth = np.full(len(times), IGNORE)
        for item in items:
            start, end = item.span or (0.0, duration)
            truth[(times >= start) & (times < end)] = labels.index(item.label)
        seen = trained.get(fingerprint(path))
        if seen is not None:
            for start, end in seen:
                truth[(times >= start) & (times < end)] = IGNORE
            notes.append(f"{path.name}: time the model trained on left out "
                         f"({(truth == IGNORE).sum() / rate:.0f} s unscored in all)")
        if not (truth != IGNORE).any():
            continue
        result = run_timeline(model, path, TimelineSettings(smooth=smooth, stride=stride))
        predicted = _labels_at(result, times, labels)
        pairs.append((predicted, truth))
        rows.append((path.name, np.where(truth == IGNORE, IGNORE, predicted), truth))
    if not pairs:
        raise VidclassError(f"{catalog.root}: no labeled time left to score (all of it was used in training)")
    evaluation = evaluate_sequences(pairs, labels, rate=rate)
    evaluation.notes = notes
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".segment_metrics.json.tmp"
        tmp.write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n")
        tmp.replace(out / "segment_metrics.json")
        plot_segments(rows, labels, rate, out / "segments.png")
    return evaluation


def _labels_at(result, times: np.ndarray, labels: list[str]) -> np.ndarray:
    """The class id of the timeline segment at each time (the first or last segment outside them)."""
    segments = result.segments
    if not segments:
        return np.zeros(len(times), dtype=int)
    ends = np.array([s.end for s in segments])
    which = np.minimum(np.searchsorted(ends, times, side="right"), len(segments) - 1)
    return np.array([labels.index(segments[i].label) for i in which], dtype=int)


def _trained_ranges(model) -> dict[str, list[tuple[float, float]]]:
    """Fingerprint -> time ranges the model trained or early-stopped on (whole files: 0 to infinity)."""
    ranges: dict[str, list[tuple[float, float]]] = defaultdict(list)
    record = (model.training_ or {}).get("clips")
    if record:
        for block in record["blocks"]:
            if block["part"] != "test":
                ranges[block["fingerprint"]].append((block["start"], block["end"]))
    for print_ in model.training_videos_:
        if print_ not in ranges:
            ranges[print_].append((0.0, float("inf")))
    return dict(ranges)
