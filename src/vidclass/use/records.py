"""Prediction records: what predicting one video gave (ranked labels with probabilities, a value, or the
error that stopped it), as ``vidclass predict`` prints them and its ``--json`` writes them; the model's task
(:mod:`vidclass.estimator.tasks`) makes each record, the same one ``vidclass serve`` answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def prediction_records(model, videos: list[Path], top_k: int) -> tuple[list[dict[str, Any]], bool]:
    """One record per video (``path`` and ``label`` + ``top``, or ``value``, or ``error``) and whether any failed."""
    outputs, failed = model.predict_many(videos)
    readable = iter(outputs)
    records: list[dict[str, Any]] = []
    for path in videos:
        if str(path) in failed:
            records.append({"path": str(path), "error": failed[str(path)]})
        else:
            records.append(model.task.record(str(path), next(readable), model.labels_, top_k))
    return records, bool(failed)
