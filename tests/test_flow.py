"""Optical-flow pair images: they point where things move, their features are cached like RGB
differences (under keys of their own), and a model on them trains, loads and labels a timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.errors import ConfigError
from vidclass.estimator.classifier import VideoClassifier
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache, FeatureSpec, load_features
from vidclass.inputs.views import ViewSpec
from vidclass.media import motion, sampling, video
from vidclass.models.backbones import create_backbone

BACKBONE = "timm:mobilenetv3_small_050"


def square(left: int, top: int, size: int = 96) -> np.ndarray:
    """A textured grey frame with a bright textured square at (left, top): something DIS can track."""
    rng = np.random.default_rng(0)
    frame = np.full((size, size, 3), 90, np.uint8) + rng.integers(0, 20, (size, size, 1), dtype=np.uint8)
    patch = rng.integers(150, 255, (24, 24, 1), dtype=np.uint8)
    frame[top : top + 24, left : left + 24] = patch
    return frame


@pytest.mark.parametrize("dx, dy", [(4, 0), (-4, 0), (0, 4), (0, -4)])
def test_flow_images_point_the_way_the_square_moves(dx, dy):
    image = motion.pair_images(square(36, 36), square(36 + dx, 36 + dy), "flow").astype(float)
    inside = image[40:56, 40:56]  # the square's middle, which it covers in both frames
    for channel, shift in ((0, dx), (1, dy)):
        measured = (inside[..., channel].mean() - 128) / motion.FLOW_GAIN
        assert measured == pytest.approx(shift, abs=1.5), (channel, measured)
    assert inside[..., 2].mean() / motion.FLOW_GAIN == pytest.approx(4, abs=1.5)  # |flow|


def test_a_still_pair_gives_no_flow_and_stacks_match_single_pairs():
    still = motion.flow_frames(square(30, 30), square(30, 30))
    assert np.abs(still[..., :2].astype(int) - 128).max() <= 2 and still[..., 2].max() <= 2
    earlier = np.stack([square(30, 30), square(10, 50)])
    later = np.stack([square(33, 30), square(10, 46)])
    stacked = motion.flow_frames(earlier, later)
    np.testing.assert_array_equal(stacked[1], motion.flow_frames(earlier[1], later[1]))


def test_pair_image_errors_name_the_problem():
    with pytest.raises(ConfigError, match="one shape"):
        motion.flow_frames(square(0, 0, 96), square(0, 0, 64))
    with pytest.raises(ConfigError, match="rgbdiff, flow; got 'sobel'"):
        motion.pair_images(square(0, 0), square(0, 0), "sobel")
    with pytest.raises(ConfigError, match="pair images"):
        FeatureSpec("b", "w", {}, 8, pair_image="sobel")


def test_flow_inputs_name_their_pair_image():
    assert ViewSpec(inputs="appearance+flow").pair_image == "flow"
    assert ViewSpec(inputs="flow").pair_image == "flow" and not ViewSpec(inputs="flow").frame_features
    assert ViewSpec(inputs="appearance+rgbdiff").pair_image == "rgbdiff"
    assert ViewSpec(inputs="appearance").pair_image is None


def test_cache_keys_of_earlier_entries_are_unchanged_and_flow_has_its_own():
    """Entries written before flow existed (the keys pinned from that code) are still found, under the rule they
    were drawn with; pair images of the fixed-time rule get keys of their own."""
    preprocess = {"resize": 256, "crop": 224, "mean": [0.5, 0.5, 0.5]}
    old = "frame-offset"
    keys = {kind: FeatureSpec("b", "w", preprocess, 8, motion_rule=old, **options).key("f") for kind, options in {
        "appearance": {}, "rgbdiff": {"pair_image": "rgbdiff"},
        "rgbdiff alone": {"pair_image": "rgbdiff", "appearance": False},
        "flow": {"pair_image": "flow"}, "flow alone": {"appearance": False, "pair_image": "flow"}}.items()}
    assert keys["appearance"] == "4285013b647fb61564bc95f30eb3efbf07c1eb07"
    assert keys["rgbdiff"] == "0723e12e60e996195429f7c19e1cb03e52cb39bf"
    assert keys["rgbdiff alone"] == "18e548377c85c7ea576774e84875b2d6c807ed3c"
    assert keys["flow"] == "c9d709f2a0059c29501bcc5117f3ec4581e1f6c7"  # pinned from the first flow release
    assert keys["flow alone"] == "c0e0ad8aab7ddfece3106beaa0be926aa348f030"
    assert len(set(keys.values())) == len(keys)
    now = {FeatureSpec("b", "w", preprocess, 8, pair_image=kind).key("f") for kind in ("rgbdiff", "flow")}
    assert not now & set(keys.values()) and len(now) == 2
    assert FeatureSpec("b", "w", preprocess, 8).key("f") == keys["appearance"]  # no pair images: no rule


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    spec = SyntheticSpec(clips_per_class=2, seconds=1.0, fps=8, size=96, seed=0)
    return sorted(make_direction_dataset(tmp_path_factory.mktemp("clips"), spec).rglob("*.mp4"))


def test_flow_features_are_those_of_the_flow_images(clips, tmp_path):
    encoder = create_backbone(BACKBONE, pretrained=False)
    cache = FeatureCache(tmp_path)
    grid = 4
    report = extract_features(clips, encoder, grid, cache=cache, workers=0, pair_image="flow")
    assert (report.computed, report.failed) == (len(clips), {})
    spec = FeatureSpec.for_encoder(encoder, grid, pair_image="flow")
    entries = load_features(clips, spec, cache)
    p = encoder.spec.preprocess
    for path in clips:
        info = video.probe(path)
        indices = sampling.uniform(info.num_frames, grid).indices
        pair = [video.read_frames(path, i, size=p.resize, crop=p.crop, interpolation=p.interpolation)
                for i in motion.partner_pairs(indices, info.num_frames, info.fps)]
        with torch.inference_mode():
            scale = motion.motion_scale(info.fps)  # 8 fps: the frame 1/8 s later, motion scaled to 1/15 s
            expected = encoder(torch.from_numpy(motion.flow_frames(*pair, scale))).numpy()
            differences = encoder(torch.from_numpy(motion.difference_frames(*pair, scale))).numpy()
        np.testing.assert_allclose(entries[path].rgbdiff, expected, rtol=1e-4, atol=1e-4)
        assert not np.allclose(entries[path].rgbdiff, differences, atol=1e-3)
    # RGB-difference entries are not flow entries: neither is read for the other
    assert load_features(clips, FeatureSpec.for_encoder(encoder, grid, pair_image="rgbdiff"), cache) == {}
    again = extract_features(clips, encoder, grid, cache=cache, workers=0, pair_image="flow")
    assert (again.computed, again.cached) == (0, len(clips))


def test_a_model_on_flow_alone_trains_loads_and_labels_a_timeline_from_flow_images(direction_dataset, tmp_path):
    params = dict(backbone=BACKBONE, pretrained=False, frames=4, val=0.25, test=0.25, head="linear", inputs="flow")
    model = VideoClassifier(**params, cache_dir=tmp_path / "cache", workers=0).fit(direction_dataset,
                                                                                  out_dir=tmp_path / "run")
    assert (tmp_path / "run" / "evaluation" / "metrics.json").is_file()
    videos = sorted(direction_dataset.rglob("*.mp4"))[:3]
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=tmp_path / "fresh", workers=0)
    assert loaded.get_params()["inputs"] == "flow"
    np.testing.assert_allclose(loaded.predict_proba(videos), model.predict_proba(videos), atol=1e-6)

    from vidclass.use.predict import TimelineSettings, run_timeline

    seen: list[np.ndarray] = []  # every image the stream's CNN sees: flow images only
    loaded.set_params(runtime="torch")
    encoder = loaded.encoder_

    def recording(frames):
        seen.append(frames.numpy().copy())
        return encoder(frames)

    loaded.encoder_ = _Wrapped(encoder, recording)
    timeline = run_timeline(loaded, videos[0], TimelineSettings(stride=0.25))
    np.testing.assert_allclose(timeline.raw.sum(axis=1), 1.0, atol=1e-5)
    images = np.concatenate(seen)
    # a still background has no flow: (128, 128, 0) there, which no frame of these clips is
    still = (np.abs(images[..., :2].astype(int) - 128) <= 2).all(axis=-1) & (images[..., 2] <= 2)
    assert len(timeline.starts) >= 1 and still.mean() > 0.5


class _Wrapped:
    """An encoder whose calls go through ``call``; everything else is the encoder's."""

    def __init__(self, encoder, call) -> None:
        self.encoder, self.call = encoder, call

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)

    def __call__(self, frames):
        return self.call(frames)


@pytest.mark.slow
def test_a_frame_model_on_flow_trains_on_flow_images_and_its_timeline_streams_them(direction_dataset, tmp_path):
    """The pixel path: each training clip's pairs are augmented alike, then drawn as flow; a timeline
    hands the model flow images of the pairs it decodes, never the frames themselves."""
    from vidclass.inputs.pixels import clip_tensor, clip_transform
    from vidclass.use.predict import TimelineSettings, run_timeline

    params = dict(model="frame", backbone=BACKBONE, pretrained=False, frames=4, size=64, inputs="flow", epochs=1,
                  batch_size=4, val=0.25, test=0.25, lr=3e-3, workers=0)
    model = VideoClassifier(**params, cache_dir=tmp_path / "cache").fit(direction_dataset, out_dir=tmp_path / "run")
    assert model.frame_spec_.rgbdiff  # partner frames are cached beside the frames
    videos = sorted(direction_dataset.rglob("*.mp4"))[:2]
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=tmp_path / "fresh", workers=0)
    assert loaded.model_.spec.inputs == "flow"
    np.testing.assert_allclose(loaded.predict_proba(videos), model.predict_proba(videos), atol=1e-5)

    from vidclass.inputs.frame_cache import FrameCache, cache_frames, load_frames

    cache = FrameCache(tmp_path / "frames")
    cache_frames(videos[:1], model.frame_spec_, cache, workers=0)
    entry = cache.read(load_frames(videos[:1], model.frame_spec_, cache)[videos[0]], model.frame_spec_)
    positions = np.arange(model.view_.frames)
    x = clip_tensor(entry, positions, clip_transform(64, train=False, flip=False), "flow", None)
    expected = motion.flow_frames(*(np.ascontiguousarray(clip_transform(64, train=False, flip=False)(
        torch.from_numpy(part[positions]).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy())
        for part in (entry.frames, entry.partners)), motion.motion_scale(entry.fps))  # 10 fps: pairs 0.1 s apart
    np.testing.assert_array_equal(x.permute(0, 2, 3, 1).numpy(), expected)

    seen: list[np.ndarray] = []
    network = loaded.model_
    encode_frames = network.encode_frames

    def recording(images):
        seen.append(images.permute(0, 2, 3, 1).numpy().copy())
        return encode_frames(images)

    network.encode_frames = recording
    timeline = run_timeline(loaded, videos[0], TimelineSettings())
    np.testing.assert_allclose(timeline.raw.sum(axis=1), 1.0, atol=1e-5)
    images = np.concatenate(seen)
    still = (np.abs(images[..., :2].astype(int) - 128) <= 2).all(axis=-1) & (images[..., 2] <= 2)
    assert len(timeline.starts) >= 1 and still.mean() > 0.3  # 64 px frames: the square covers much of them
