"""Temperature scaling: lowers the ECE of an over-confident model, never changes a prediction."""

from __future__ import annotations

import numpy as np
import pytest

from vidclass.errors import ConfigError
from vidclass.evaluation.calibration import (
    apply_temperature,
    calibrate_probabilities,
    expected_calibration_error,
    fit_temperature,
    logits_from_probabilities,
    plot_reliability,
)


def _overconfident(seed: int, n: int, sharpen: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from calibrated softmax(z) and the over-confident logits sharpen * z."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, (n, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(4, p=row) for row in p])
    return sharpen * z, labels


def test_temperature_lowers_ece_and_keeps_every_label():
    val_logits, val_labels = _overconfident(0, 600)
    test_logits, test_labels = _overconfident(1, 600)
    temperature = fit_temperature(val_logits, val_labels)
    assert 2.3 < temperature < 3.9  # the sharpening factor is found again
    before = apply_temperature(test_logits, 1.0)
    after = apply_temperature(test_logits, temperature)
    assert expected_calibration_error(after, test_labels) < 0.5 * expected_calibration_error(before, test_labels)
    assert np.array_equal(before.argmax(axis=1), after.argmax(axis=1))


def test_probabilities_are_calibrated_through_their_logarithm():
    logits, labels = _overconfident(2, 300)
    probabilities = apply_temperature(logits, 1.0)
    temperature = fit_temperature(logits_from_probabilities(probabilities), labels)
    assert temperature == pytest.approx(fit_temperature(logits, labels), rel=1e-3)
    np.testing.assert_allclose(calibrate_probabilities(probabilities, temperature),
                               apply_temperature(logits, temperature), atol=1e-5)
    assert calibrate_probabilities(probabilities, 1.0) is probabilities


def test_calibrated_model_keeps_temperature_near_one():
    logits, labels = _overconfident(3, 2000, sharpen=1.0)
    assert 0.85 < fit_temperature(logits, labels) < 1.15


def test_ece_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 0])
    # bins of 0.5: (0.5, 1.0] holds all four (confidence 0.9, 0.9, 0.6, 0.7; correct 1, 0, 1, 0)
    assert expected_calibration_error(probabilities, labels, bins=2) == pytest.approx(abs(0.5 - 0.775))
    # 10 bins: 0.9 bin -> |0.5 - 0.9| * 2, 0.6 bin -> |1 - 0.6|, 0.7 bin -> |0 - 0.7|
    assert expected_calibration_error(probabilities, labels, bins=10) == pytest.approx((0.8 + 0.4 + 0.7) / 4)


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="temperature must be a positive"):
        apply_temperature(np.zeros((2, 2)), 0.0)
    with pytest.raises(ConfigError, match="labels must be 2 integer"):
        fit_temperature(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ConfigError, match="class ids 0..2"):
        expected_calibration_error(np.full((2, 3), 1 / 3), np.array([0, 3]))


def test_reliability_diagram_is_a_png(tmp_path):
    logits, labels = _overconfident(4, 200)
    out = plot_reliability(apply_temperature(logits, 1.0), labels, tmp_path / "r" / "reliability.png", temperature=3.0)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
