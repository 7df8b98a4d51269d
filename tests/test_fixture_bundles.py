"""Bundles saved by an earlier vidclass (tests/fixtures/make_bundles.py, run on main before the layout moves
of issue 32) load and predict what they predicted then, on PyTorch and from their ONNX graphs: a move of code
that changed a bundle's meaning, its loading or the preprocessing fails here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vidclass.estimator.classifier import VideoClassifier
from vidclass.estimator.regressor import VideoRegressor

BUNDLES = Path(__file__).resolve().parent / "fixtures" / "bundles"
EXPECTED = json.loads((BUNDLES / "expected.json").read_text())
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def clip(shared_data) -> Path:
    return shared_data / "clips" / EXPECTED["clip"]


@pytest.mark.parametrize("name, folder, runtime", [("features", "features", "torch"), ("frame", "frame", "torch"),
                                                   ("exported", "features", "onnxruntime")])
def test_a_saved_classifier_predicts_as_when_it_was_saved(tmp_path, clip, name, folder, runtime):
    bundle = shutil.copytree(BUNDLES / folder, tmp_path / folder)  # a copy: loading may not write, but be sure
    model = VideoClassifier.load(bundle, cache_dir=tmp_path / "cache", runtime=runtime)
    probabilities = model.predict_proba([clip])[0]
    np.testing.assert_allclose(probabilities, EXPECTED["predictions"][name], atol=TOLERANCE)
    assert model.labels_ == ["approaching", "receding"]


def test_a_saved_regressor_predicts_as_when_it_was_saved(tmp_path, clip):
    bundle = shutil.copytree(BUNDLES / "regression", tmp_path / "regression")
    value = VideoRegressor.load(bundle, cache_dir=tmp_path / "cache", runtime="torch").predict([clip])[0]
    assert value == pytest.approx(EXPECTED["predictions"]["regression"], abs=TOLERANCE)


@pytest.mark.parametrize("name, folder, runtime", [("features", "features", "torch"),
                                                   ("exported", "features", "onnxruntime")])
def test_a_saved_classifier_on_pair_images_keeps_its_motion_rule_at_another_frame_rate(tmp_path, shared_data, name,
                                                                                      folder, runtime):
    """At 25 fps the fixed-time rule rescales motion (x 5/6) and the frame-offset rule does not: these bundles,
    saved before the rule was recorded, predict what that version predicted (run on 98a1435 and pinned)."""
    bundle = shutil.copytree(BUNDLES / folder, tmp_path / folder)
    model = VideoClassifier.load(bundle, cache_dir=tmp_path / "cache", runtime=runtime)
    assert model.view_.motion_rule == "frame-offset"
    probabilities = model.predict_proba([shared_data / "clips" / EXPECTED["clip_25fps"]])[0]
    np.testing.assert_allclose(probabilities, EXPECTED["predictions_25fps"][name], atol=TOLERANCE)


def test_a_saved_regressor_on_rgb_differences_keeps_its_motion_rule_at_another_frame_rate(tmp_path, shared_data):
    """As above for the RGB-difference regressor, whose value under the fixed-time rule would be 2e-4 lower."""
    bundle = shutil.copytree(BUNDLES / "regression", tmp_path / "regression")
    model = VideoRegressor.load(bundle, cache_dir=tmp_path / "cache", runtime="torch")
    value = model.predict([shared_data / "clips" / EXPECTED["clip_25fps"]])[0]
    assert value == pytest.approx(EXPECTED["predictions_25fps"]["regression"], abs=TOLERANCE)
