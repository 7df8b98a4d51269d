"""Prediction records: what predicting one video gave (ranked labels with probabilities, a value, or the
error that stopped it), as ``vidclass predict`` prints them and its ``--json`` writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidclass.estimator.tasks import is_regression


def prediction_records(model, videos: list[Path], top_k: int) -> tuple[list[dict[str, Any]], bool]:
    """One record per video (``path`` and ``label`` + ``top``, or ``value``, or ``error``) and whether any failed."""
    from vidclass.use.predict import ranked

    outputs, failed = model.predict_many(videos)
    readable = iter(outputs)
    values = is_regression(model)
    records: list[dict[str, Any]] = []
    for path in videos:
        if str(path) in failed:
            records.append({"path": str(path), "error": failed[str(path)]})
        elif values:
            records.append({"path": str(path), "value": float(next(readable))})
        else:
            top = ranked(next(readable), model.labels_, top_k)
            records.append({"path": str(path), "label": top[0][0],
                            "top": [{"label": label, "probability": p} for label, p in top]})
    return records, bool(failed)


def format_record(record: dict[str, Any]) -> str:
    """The text line of a record that has no error: ``path: value 0.53`` or ``path: label p  label p ...``."""
    if "value" in record:
        return f"{record['path']}: value {record['value']:.4g}"
    return f"{record['path']}: " + "  ".join(f"{t['label']} {t['probability']:.3f}" for t in record["top"])
