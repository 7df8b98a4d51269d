"""Model bundles: a faithful round trip, and clear refusals of anything else."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from vidclass.errors import BundleError
from vidclass.estimator.bundle import Bundle, load_bundle, read_config, save_bundle
from vidclass.inputs.views import ViewSpec
from vidclass.models.backbones import create_backbone
from vidclass.models.heads import create_head


@pytest.fixture(scope="module")
def encoder():
    return create_backbone("timm:mobilenetv3_small_050", pretrained=False)


def _bundle(encoder, num_classes: int = 3) -> Bundle:
    torch.manual_seed(0)
    view = ViewSpec(frames=4, grid=8)
    head = create_head("lstm", in_dim=view.input_dim(encoder.spec.dim), num_classes=num_classes)
    labels = [f"class {i}" for i in range(num_classes)]
    return Bundle(labels, encoder, head, view, clip_seconds=2.5, training={"videos": {"train": 3}},
                  training_videos=["abc", "def"])


@pytest.fixture
def saved(tmp_path, encoder):
    return save_bundle(_bundle(encoder), tmp_path / "model")


def test_round_trip_restores_everything(saved, encoder):
    loaded = load_bundle(saved)
    original = _bundle(encoder)
    assert loaded.labels == original.labels and loaded.view == original.view
    assert loaded.clip_seconds == 2.5 and loaded.training_videos == ["abc", "def"]
    assert loaded.encoder.weights_id == encoder.weights_id
    x, mask = torch.randn(2, 4, loaded.head.in_dim), torch.ones(2, 4, dtype=torch.bool)
    with torch.inference_mode():
        assert torch.equal(loaded.head(x, mask), original.head.eval()(x, mask))
        frames = torch.randint(0, 256, (2, 224, 224, 3), dtype=torch.uint8)
        assert torch.equal(loaded.encoder(frames), encoder(frames))


def test_saving_again_replaces_atomically(saved, encoder):
    save_bundle(_bundle(encoder, num_classes=4), saved)
    assert len(load_bundle(saved).labels) == 4
    assert [p.name for p in saved.parent.iterdir()] == ["model"]


def _edit_config(directory, **changes):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_newer_format_is_refused_with_advice(saved):
    _edit_config(saved, format_version=99)
    with pytest.raises(BundleError, match=r"newer.*upgrade vidclass"):
        load_bundle(saved)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(BundleError, match="not a model directory"):
        load_bundle(tmp_path / "nothing here")
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(BundleError, match="config.json"):
        load_bundle(tmp_path / "empty")


def test_broken_config_is_refused(saved):
    (saved / "config.json").write_text("{ not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_config(saved)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "something-else"}, "not a vidclass model"),
        ({"labels": ["only one"]}, "at least two"),
        ({"labels": ["a", "a", "b"]}, "duplicates"),
        ({"labels": ["a", "b"]}, "3 outputs for 2 labels"),
        ({"view": {"frames": 4, "grid": 2}}, "grid"),
    ],
)
def test_invalid_configs_are_refused(saved, changes, message):
    _edit_config(saved, **changes)
    with pytest.raises(BundleError, match=message):
        load_bundle(saved)


def test_weights_that_do_not_fit_are_refused(saved, tmp_path, encoder):
    other = save_bundle(_bundle(encoder, num_classes=5), tmp_path / "other")
    (saved / "head.safetensors").write_bytes((other / "head.safetensors").read_bytes())
    with pytest.raises(BundleError, match="do not fit"):
        load_bundle(saved)


class _Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle ran')",))


def test_a_pickle_in_place_of_weights_is_never_run(saved):
    (saved / "head.safetensors").write_bytes(pickle.dumps({"weight": _Boom()}))
    with pytest.raises(BundleError, match="not a readable safetensors file"):
        load_bundle(saved)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"head": "attention"}, r"head: input should be a valid dictionary.*got 'attention'"),
        ({"clip_seconds": "two"}, r"clip_seconds: input should be a valid number, got 'two'"),
        ({"head": {"name": "lstm", "in_dim": 10, "num_classes": "2"}}, r"head.num_classes: input should be a valid integer, got '2'"),
        ({"labels": "ab"}, r"labels: input should be a valid list"),
        ({"model": {"kind": "frame"}}, r"missing model.config"),
    ],
)
def test_config_fields_of_the_wrong_type_are_named_with_what_they_need(saved, changes, message):
    _edit_config(saved, **changes)
    with pytest.raises(BundleError, match=message):
        load_bundle(saved)


def test_a_clip_model_bundle_round_trips(tmp_path):
    from vidclass.estimator.bundle import ClipBundle
    from vidclass.models.clip_models import ClipSpec, create_clip_model

    torch.manual_seed(0)
    model = create_clip_model("lrcn", ClipSpec(backbone="timm:mobilenetv3_small_050", frames=3, size=32), 3,
                              pretrained=False).eval()
    saved = save_bundle(ClipBundle(["a", "b", "c"], model, clip_seconds=1.5), tmp_path / "clip")
    loaded = load_bundle(saved)
    assert isinstance(loaded, ClipBundle) and loaded.kind == "lrcn" and loaded.model.weights_id == "none"
    clips = torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8)
    with torch.inference_mode():
        assert torch.equal(loaded.model(clips), model(clips))
    assert {p.name for p in saved.iterdir()} == {"config.json", "model.safetensors", "training_videos.txt"}


def test_format_1_bundles_without_a_model_entry_still_load(saved):
    config = json.loads((saved / "config.json").read_text())
    del config["model"]
    config["format_version"] = 1
    (saved / "config.json").write_text(json.dumps(config))
    assert load_bundle(saved).kind == "features"
