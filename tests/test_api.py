"""VideoClassifier end to end on small synthetic data, with a tiny random-init backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidclass.data.catalog import load_catalog
from vidclass.data.splits import split_catalog
from vidclass.errors import VidclassError
from vidclass.estimator.classifier import VideoClassifier

TINY = dict(backbone="timm:mobilenetv3_small_050", pretrained=False, frames=4, epochs=4, batch_size=4, val=0.25,
            test=0.25, head="gru")


@pytest.fixture(scope="module")
def fitted(direction_dataset, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("run")
    model = VideoClassifier(**TINY, cache_dir=cache, workers=0).fit(direction_dataset, out_dir=out)
    return model, out, cache


def test_fit_writes_the_run_folder(fitted):
    model, out, _ = fitted
    for name in ("config.json", "metrics.csv", "curves.png", "model/config.json", "model/head.safetensors",
                 "model/backbone.safetensors", "evaluation/metrics.json", "evaluation/predictions.csv",
                 "evaluation/confusion_matrix.png"):
        assert (out / name).is_file(), name
    params = json.loads((out / "config.json").read_text())["params"]
    assert params["head"] == "gru" and params["frames"] == 4 and params["pretrained"] is False
    assert model.evaluation_.split == "test"
    splits = split_catalog(load_catalog(model.training_["dataset"]), val=0.25, test=0.25, seed=0)
    assert model.evaluation_.videos == len(splits.test)


def test_model_directory_holds_no_pickles(fitted):
    _, out, _ = fitted
    suffixes = {p.suffix for p in (out / "model").iterdir()}
    assert suffixes <= {".json", ".safetensors", ".txt"}


def test_save_load_gives_identical_probabilities(fitted, direction_dataset, tmp_path):
    model, _, cache = fitted
    videos = sorted(direction_dataset.rglob("*.mp4"))[:3]
    before = model.predict_proba(videos)
    model.save(tmp_path / "m")
    loaded = VideoClassifier.load(tmp_path / "m", cache_dir=tmp_path / "fresh-cache", workers=0)
    after = loaded.predict_proba(videos)
    np.testing.assert_array_equal(before, after)
    assert loaded.labels_ == model.labels_
    assert loaded.predict(videos) == model.predict(videos)
    assert np.allclose(before.sum(axis=1), 1.0, atol=1e-5)


def test_same_seed_same_metrics(fitted, direction_dataset, tmp_path):
    model, _, cache = fitted
    again = VideoClassifier(**TINY, cache_dir=cache, workers=0).fit(direction_dataset)
    assert again.evaluation_.to_dict() == model.evaluation_.to_dict()
    videos = sorted(direction_dataset.rglob("*.mp4"))
    np.testing.assert_array_equal(again.predict_proba(videos), model.predict_proba(videos))


def test_evaluate_leaves_out_videos_seen_in_training(fitted, direction_dataset):
    model, _, _ = fitted
    evaluation = model.evaluate(direction_dataset)
    assert evaluation.split == "held-out"
    assert evaluation.videos == model.evaluation_.videos
    assert any("seen in training" in note for note in evaluation.notes)


def test_predict_many_goes_on_past_a_bad_file(fitted, direction_dataset, tmp_path):
    model, _, _ = fitted
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    good = sorted(direction_dataset.rglob("*.mp4"))[:2]
    probabilities, failed = model.predict_many([good[0], bad, good[1]])
    assert probabilities.shape == (2, 2)
    assert list(failed) == [str(bad)] and str(bad) in failed[str(bad)]
    with pytest.raises(VidclassError, match="broken.mp4"):
        model.predict_proba([bad])


def test_unfitted_model_says_so():
    with pytest.raises(VidclassError, match="not fitted"):
        VideoClassifier().predict(["x.mp4"])


def test_it_is_a_scikit_learn_estimator():
    from sklearn.base import clone

    model = VideoClassifier(model="frame", size=96, lr=3e-4, head_options={"dropout": 0.1})
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert model.get_params(deep=True)["size"] == 96
    assert copy.set_params(size=64, epochs=3) is copy and (copy.size, copy.epochs) == (64, 3)
    with pytest.raises(ValueError, match="nope"):
        copy.set_params(nope=1)


def test_a_run_folder_is_never_left_half_replaced(fitted, direction_dataset, tmp_path_factory):
    _, out, cache = fitted
    before = (out / "model" / "config.json").read_text()
    with pytest.raises(VidclassError, match="not empty.*--overwrite"):
        VideoClassifier(**TINY, cache_dir=cache, workers=0).fit(direction_dataset, out_dir=out)
    assert (out / "model" / "config.json").read_text() == before
    with pytest.raises(VidclassError, match="no interrupted run"):
        VideoClassifier(**TINY, cache_dir=cache, workers=0).fit(direction_dataset, out_dir=out, resume=True)
    with pytest.raises(VidclassError, match="no such folder"):
        VideoClassifier(**TINY).fit(direction_dataset, out_dir=tmp_path_factory.mktemp("x") / "missing" / "run")


def test_overwrite_replaces_the_whole_run(direction_dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("from an older run")
    VideoClassifier(**{**TINY, "epochs": 1}, cache_dir=tmp_path / "cache", workers=0).fit(
        direction_dataset, out_dir=out, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "model" / "config.json").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_linear_head_on_rgbdiff_alone_trains_saves_and_loads(direction_dataset, tmp_path):
    """The cheapest recipe end to end: no epochs, difference features only (their own cache entries)."""
    from safetensors import safe_open

    params = {**TINY, "head": "linear", "inputs": "rgbdiff"}
    model = VideoClassifier(**params, cache_dir=tmp_path / "cache", workers=0).fit(direction_dataset,
                                                                                  out_dir=tmp_path / "run")
    assert model.training_["epochs_run"] == 1 and not (tmp_path / "run" / "curves.png").exists()
    assert (tmp_path / "run" / "evaluation" / "metrics.json").is_file()
    entries = list((tmp_path / "cache").rglob("*.safetensors"))
    assert entries
    for entry in entries:
        with safe_open(str(entry), framework="np") as f:
            assert "rgbdiff" in f.keys() and "features" not in f.keys()
    videos = sorted(direction_dataset.rglob("*.mp4"))[:3]
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=tmp_path / "fresh", workers=0)
    np.testing.assert_allclose(loaded.predict_proba(videos), model.predict_proba(videos), atol=1e-6)

    from vidclass.use.predict import TimelineSettings, run_timeline

    encoded = []  # every image the stream's CNN sees: RGB differences only, never a frame itself
    loaded.set_params(runtime="torch")  # the PyTorch encoder, which the recorder wraps
    loaded.encoder_ = _Recording(loaded.encoder_, encoded)
    timeline = run_timeline(loaded, videos[0], TimelineSettings(stride=0.25))
    np.testing.assert_allclose(timeline.raw.sum(axis=1), 1.0, atol=1e-5)
    images = np.concatenate(encoded)
    assert len(timeline.starts) >= 1 and (images == 128).mean() > 0.5  # differences of a still background: mid-grey


class _Recording:
    """An encoder that keeps a copy of what it encodes."""

    def __init__(self, encoder, seen: list) -> None:
        self.encoder, self.seen = encoder, seen

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)

    def __call__(self, frames):
        self.seen.append(frames.numpy().copy())
        return self.encoder(frames)
