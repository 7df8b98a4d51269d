"""Calibrated probabilities: temperature scaling, expected calibration error, reliability diagram.

A network trained to a low training loss is usually over-confident: of the videos it calls
with 0.95, far fewer than 95 % are right. Temperature scaling (Guo et al., "On Calibration
of Modern Neural Networks", ICML 2017) divides the logits by one scalar ``T`` fitted on
held-out videos (the validation split) by minimising their negative log-likelihood. ``T > 0``
never changes which class is the most probable, so accuracy is untouched.

Models that give averaged probabilities rather than logits (test-time view averaging,
rolling windows) are calibrated on their log-probabilities: ``log p`` are logits of ``p``
up to a per-row constant, which the softmax ignores (:func:`logits_from_probabilities`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from vidclass.errors import ConfigError
from vidclass.util.atomic import write_atomic

TEMPERATURE_RANGE = (0.05, 20.0)
"""The search bounds: wide enough for any sensible model, narrow enough to stay finite."""
_EPSILON = 1e-12


def _check(values: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    values, labels = np.asarray(values, dtype=np.float64), np.asarray(labels)
    if values.ndim != 2 or values.shape[1] < 2 or len(values) == 0:
        raise ConfigError(f"{what} must be videos x classes (at least 2 classes), got shape {values.shape}")
    if labels.shape != (len(values),) or labels.dtype.kind not in "iu":
        raise ConfigError(f"labels must be {len(values)} integer class ids, got shape {labels.shape} ({labels.dtype})")
    if labels.min() < 0 or labels.max() >= values.shape[1]:
        raise ConfigError(f"labels must be class ids 0..{values.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    if not np.isfinite(values).all():
        raise ConfigError(f"{what} must be finite numbers")
    return values, labels.astype(np.int64)


def logits_from_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Log-probabilities, usable as logits: ``softmax(log p) == p`` (zeros clipped to 1e-12)."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), _EPSILON, None))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` under ``softmax(logits / T)``.

    A bounded scalar search over ``log T`` in :data:`TEMPERATURE_RANGE` (the loss is smooth
    and has one minimum in ``T``), so it always ends with a finite, positive ``T``.
    """
    logits, labels = _check(logits, labels, "logits")
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, labels].mean())

    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    best = float(result.x)
    return float(np.exp(best if nll(best) <= nll(0.0) else 0.0))  # never worse than leaving T = 1


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / temperature)`` row by row, as float32 probabilities."""
    if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"temperature must be a positive finite number, got {temperature!r}")
    return softmax(np.asarray(logits, dtype=np.float64) / float(temperature), axis=-1).astype(np.float32)


def calibrate_probabilities(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities (through their log); ``temperature == 1`` returns them as they are."""
    if temperature == 1.0:
        return np.asarray(probabilities)
    return apply_temperature(logits_from_probabilities(probabilities), temperature)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: ``sum_b |accuracy_b - confidence_b| * n_b / N`` over ``bins`` equal-width
    confidence bins (a bin is ``(low, high]``), confidence being the highest probability."""
    probabilities, labels = _check(probabilities, labels, "probabilities")
    if bins < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}")
    confidence, correct, which = _binned(probabilities, labels, bins)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += abs(correct[inside].mean() - confidence[inside].mean()) * inside.sum()
    return float(total / len(labels))


def calibration_summary(raw: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, float]:
    """``temperature`` and the ECE of ``raw`` probabilities before and after scaling by it, for an evaluation."""
    after = calibrate_probabilities(raw, temperature)
    return {
        "temperature": float(temperature),
        "ece_before": expected_calibration_error(raw, labels),
        "ece_after": expected_calibration_error(after, labels),
    }


def _binned(probabilities: np.ndarray, labels: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    return confidence, correct, which


def plot_reliability(
    probabilities: np.ndarray,
    labels: np.ndarray,
    out_png: str | Path,
    *,
    temperature: float = 1.0,
    bins: int = 15,
    title: str = "",
) -> Path:
    """A reliability diagram PNG: accuracy against confidence per bin, before and (with a
    ``temperature`` other than 1) after temperature scaling, each panel naming its ECE."""
    probabilities, labels = _check(probabilities, labels, "probabilities")
    panels = [("uncalibrated", probabilities)]
    if temperature != 1.0:
        panels.append((f"temperature {temperature:.2f}", calibrate_probabilities(probabilities, temperature)))
    from matplotlib.figure import Figure  # here: calibrating and timelines never load matplotlib

    fig = Figure(figsize=(4.5 * len(panels), 4.6), layout="constrained")
    edges = np.linspace(0.0, 1.0, bins + 1)
    for ax, (name, probs) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        confidence, correct, which = _binned(probs, labels, bins)
        counts = np.bincount(which, minlength=bins)
        accuracy = np.divide(np.bincount(which, correct, bins), counts, out=np.zeros(bins), where=counts > 0)
        mean_conf = np.divide(np.bincount(which, confidence, bins), counts, out=np.zeros(bins), where=counts > 0)
        used = counts > 0
        ax.bar(edges[:-1][used], accuracy[used], width=1.0 / bins, align="edge", edgecolor="black", label="accuracy")
        ax.bar(edges[:-1][used], (mean_conf - accuracy)[used], bottom=accuracy[used], width=1.0 / bins,
               align="edge", color="red", alpha=0.3, label="gap to confidence")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        ece = expected_calibration_error(probs, labels, bins)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (highest probability)", ylabel="accuracy",
               title=f"{name}: ECE {ece:.3f}")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title or f"Reliability diagram: {len(labels)} videos, {bins} bins")
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out_png, lambda f: fig.savefig(f, format="png"))
