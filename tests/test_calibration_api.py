"""Temperature scaling in the pipeline: fitted on validation, stored in the bundle, applied everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidclass.data.catalog import load_catalog
from vidclass.data.splits import split_catalog
from vidclass.estimator.classifier import VideoClassifier
from vidclass.evaluation.calibration import calibrate_probabilities, fit_temperature, logits_from_probabilities

pytestmark = pytest.mark.slow  # fits a model end to end

# Inputs pinned to appearance+motion: the stream test feeds the head windows of frame features alone.
TINY = dict(backbone="timm:mobilenetv3_small_050", pretrained=False, frames=4, epochs=4, batch_size=4, val=0.25,
            test=0.25, head="gru", inputs="appearance+motion")


@pytest.fixture(scope="module")
def fitted(direction_dataset, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("run")
    model = VideoClassifier(**TINY, cache_dir=cache, workers=0).fit(direction_dataset, out_dir=out)
    return model, out, cache


def _unscaled(model: VideoClassifier, directory, cache) -> VideoClassifier:
    copy = VideoClassifier.load(directory, cache_dir=cache, workers=0)
    copy.temperature_ = 1.0
    return copy


def test_temperature_is_fitted_on_the_validation_split(fitted, direction_dataset):
    model, out, cache = fitted
    splits = split_catalog(load_catalog(direction_dataset), val=0.25, test=0.25, seed=0)
    raw = _unscaled(model, out / "model", cache).predict_proba([item.path for item in splits.val])
    labels = np.array([model.labels_.index(item.label) for item in splits.val])
    assert model.temperature_ == pytest.approx(fit_temperature(logits_from_probabilities(raw), labels), rel=1e-4)
    calibration = model.evaluation_.calibration
    assert calibration["temperature"] == model.temperature_
    assert 0.0 <= calibration["ece_after"] <= 1.0 and 0.0 <= calibration["ece_before"] <= 1.0
    saved = json.loads((out / "evaluation" / "metrics.json").read_text())
    assert saved["calibration"] == calibration
    assert (out / "evaluation" / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bundle_stores_the_temperature_and_predict_applies_it(fitted, direction_dataset):
    model, out, cache = fitted
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["temperature"] == model.temperature_
    loaded = VideoClassifier.load(out / "model", cache_dir=cache, workers=0)
    assert loaded.temperature_ == model.temperature_
    videos = sorted(direction_dataset.rglob("*.mp4"))[:4]
    raw = _unscaled(model, out / "model", cache).predict_proba(videos)
    np.testing.assert_allclose(loaded.predict_proba(videos), calibrate_probabilities(raw, model.temperature_),
                               atol=1e-6)
    assert loaded.predict(videos) == [model.labels_[i] for i in raw.argmax(axis=1)]


def test_timeline_stream_applies_the_temperature(fitted):
    model, out, cache = fitted
    loaded = VideoClassifier.load(out / "model", cache_dir=cache, workers=0)
    loaded.temperature_ = 2.5
    scaled = loaded.stream()
    windows = np.random.default_rng(0).normal(size=(3, scaled.window, loaded.encoder_.spec.dim)).astype(np.float32)
    raw = _unscaled(model, out / "model", cache).stream().classify(windows)
    np.testing.assert_allclose(scaled.classify(windows), calibrate_probabilities(raw, 2.5), atol=1e-5)


def test_bundle_without_a_temperature_loads_unscaled(fitted, tmp_path):
    model, out, cache = fitted
    model.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["temperature"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert VideoClassifier.load(tmp_path / "old", cache_dir=cache, workers=0).temperature_ == 1.0
