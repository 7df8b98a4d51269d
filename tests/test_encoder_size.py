"""Frozen-feature models on frames of another size than the backbone's own (``size=``): the encoder,
the cache key, the bundle and both inference engines follow it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidclass.errors import ConfigError
from vidclass.estimator.classifier import VideoClassifier
from vidclass.inputs.features import FeatureSpec
from vidclass.models.backbones import create_backbone, get_backbone_spec

BACKBONE = "timm:mobilenetv3_small_050"
SMALL = dict(backbone=BACKBONE, pretrained=False, frames=4, epochs=3, batch_size=4, val=0.25, test=0.25, head="mean",
             workers=0, size=64)


def test_the_spec_at_a_size_crops_there_and_scales_the_resize_alike():
    spec = get_backbone_spec(BACKBONE)
    small = spec.at_size(112)
    assert small.preprocess.crop == 112
    assert small.preprocess.resize == round(112 * spec.preprocess.resize / spec.preprocess.crop)
    assert (small.preprocess.mean, small.preprocess.std) == (spec.preprocess.mean, spec.preprocess.std)
    assert spec.at_size(None) is spec and spec.at_size(spec.preprocess.crop) is spec
    with pytest.raises(ConfigError, match="size"):
        spec.at_size(8)


def test_an_encoder_at_a_size_encodes_frames_of_that_size_under_another_cache_key():
    full, small = create_backbone(BACKBONE, pretrained=False), create_backbone(BACKBONE, pretrained=False, size=64)
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 255, size=(2, 64, 64, 3), dtype=np.uint8))
    assert tuple(small(frames).shape) == (2, small.spec.dim)
    assert FeatureSpec.for_encoder(small, 8).key("f") != FeatureSpec.for_encoder(full, 8).key("f")


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_model_trained_at_a_size_keeps_it_in_its_bundle(direction_dataset, tmp_path, runtime):
    pytest.importorskip("onnxruntime") if runtime == "onnxruntime" else None
    model = VideoClassifier(**SMALL, cache_dir=tmp_path / "cache", runtime=runtime).fit(direction_dataset,
                                                                                      out_dir=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "model" / "config.json").read_text())["backbone"]["preprocess"]
    assert recorded["crop"] == 64
    assert json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]["size"] == 64
    videos = sorted(direction_dataset.rglob("*.mp4"))[:3]
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=tmp_path / "fresh", workers=0, runtime=runtime)
    np.testing.assert_allclose(loaded.predict_proba(videos), model.predict_proba(videos), atol=1e-5)
