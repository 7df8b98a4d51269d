"""The rest of the approach catalogue (issue 10): early fusion, 3D CNNs and ConvLSTM.

What inflation promises (a static clip gives the 2D network's answer), the ConvLSTM cell, that
each model learns, rebuilds from its hparams, round-trips through a bundle and labels a
timeline, and that a torchvision video network never silently trains from random weights.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vidclass.errors import ConfigError, WeightsUnavailableError
from vidclass.models.backbones import create_backbone
from vidclass.models.clip_models import ClipSpec, clip_model_from_config, create_clip_model, list_clip_models
from vidclass.models.clip_models.convlstm import ConvLSTMCell, ConvLSTMStack
from vidclass.models.clip_models.inflate import TemporalConv, set_frames

TINY = "timm:mobilenetv3_small_050"
# every new model, small enough for a CPU test (random init: inflation and learning do not need ImageNet)
CASES = [
    ("early_fusion", {}),
    ("3d", {}),
    ("3d", {"arch": "c3d_small"}),
    ("convlstm", {"hidden": [4, 8]}),
]
IDS = ["early_fusion", "3d-inflated", "3d-c3d_small", "convlstm"]


def _clips(n: int = 4, frames: int = 4, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise clips; class 1's are brighter (something any of these models can pick up in a few steps)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    noise = torch.randint(0, 176, (n, frames, 3, size, size), dtype=torch.uint8, generator=generator)
    return noise + (80 * labels).to(torch.uint8).view(n, 1, 1, 1, 1), labels


def _model(name: str, options: dict, backbone: str = TINY, frames: int = 4, size: int = 32):
    torch.manual_seed(0)
    spec = ClipSpec(backbone=backbone, frames=frames, size=size)
    return create_clip_model(name, spec, 2, pretrained=False, **options)


def _static(frames: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Two images, and the clips of ``frames`` copies of each."""
    images = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return images, images[:, None].repeat(1, frames, 1, 1, 1)


def _two_d(model, backbone: str, images: torch.Tensor) -> torch.Tensor:
    """The un-inflated backbone's pooled features (same seeded random init as the model's)."""
    network = create_backbone(backbone, pretrained=False, channels_last=False).model.eval()
    with torch.inference_mode():
        return network(model.normalize(images))


def test_the_registry_has_the_catalogue():
    assert {"early_fusion", "3d", "convlstm"} <= set(list_clip_models())
    with pytest.raises(ConfigError, match="unknown arch 'x3d'.*c3d_small.*r3d_18"):
        _model("3d", {"arch": "x3d"})


@pytest.mark.parametrize("backbone", [TINY, "efficientnet_lite0"])
def test_an_inflated_3d_network_on_a_static_clip_is_the_2d_network_on_its_frame(backbone):
    model = _model("3d", {}, backbone=backbone).eval()
    assert len([m for m in model.backbone.modules() if isinstance(m, TemporalConv)]) >= 2
    images, static = _static(4)
    moving = torch.cat([static[:, :2], static[:, 2:].roll(5, dims=-1)], dim=1)  # the image jumps half way
    with torch.inference_mode():
        torch.testing.assert_close(model(static), model.classifier(_two_d(model, backbone, images)), atol=1e-4, rtol=1e-4)
        set_frames(model.backbone, 4)
        inflated = model.backbone(model.normalize(moving.flatten(0, 1)))
        frame_by_frame = _two_d(model, backbone, moving.flatten(0, 1))
    assert (inflated - frame_by_frame).abs().max() > 0.01 * frame_by_frame.abs().max()  # it sees the motion


def test_early_fusion_on_a_static_clip_is_the_2d_network_on_its_frame():
    model = _model("early_fusion", {}, frames=5).eval()
    first = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 15
    images, static = _static(5)
    with torch.inference_mode():
        torch.testing.assert_close(model.backbone(model.normalize(static.flatten(0, 1)).unflatten(0, (2, 5)).flatten(1, 2)),
                                   _two_d(model, TINY, images), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="built for 5 frames"):
        model(static[:, :4])


def test_the_convlstm_cell_keeps_the_spatial_layout_and_carries_its_state():
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 5)
    x = torch.randn(2, 3, 12, 10)
    h, c = cell(x, cell.initial_state(x))
    assert h.shape == c.shape == (2, 5, 12, 10)
    assert h.abs().max() < 1  # h = o * tanh(c)
    stack = ConvLSTMStack([4, 6], kernel=3, dropout=0.0).eval()
    frames = torch.randn(2, 5, 3, 16, 16)
    with torch.inference_mode():
        out = stack(frames)
        changed_first = frames.clone()
        changed_first[:, 0] += 1.0
        assert out.shape == (2, 6)
        assert not torch.allclose(stack(frames.flip(1)), out, atol=1e-5)  # order matters
        assert not torch.allclose(stack(changed_first), out, atol=1e-5)  # the first frame reaches the last state


def _steps(model, clips, labels, steps: int = 6) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameter_groups(1e-2, 1e-2))
    model.train()
    losses = []
    for _ in range(steps):
        logits, targets = model.training_logits(clips, labels)
        loss = F.cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("name, options", CASES, ids=IDS)
def test_each_model_learns_and_rebuilds_from_its_hparams(name, options):
    model = _model(name, options)
    clips, labels = _clips()
    losses = _steps(model, clips, labels)
    assert losses[-1] < losses[0]
    again = clip_model_from_config(model.hparams())
    again.load_state_dict(model.state_dict())
    with torch.inference_mode():
        assert torch.equal(again.eval()(clips), model.eval()(clips))
    assert again.hparams() == model.hparams()


def test_from_scratch_models_learn_at_the_full_rate_and_ignore_pretrained():
    for name, options in CASES[2:]:
        model = create_clip_model(name, ClipSpec(frames=4, size=32), 2, pretrained=True, **options)
        assert model.weights_id == "none"
        assert [g["lr"] for g in model.parameter_groups(1e-2, 1e-3)] == [1e-2]
        with pytest.raises(ConfigError, match="from scratch"):
            create_clip_model(name, ClipSpec(frames=4, size=32), 2, weights="w.safetensors", **options)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache and no network: a download attempt fails as it would offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable (test)")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tmp_path


def test_a_torchvision_arch_without_weights_offline_says_how_to_get_them(offline):
    with pytest.raises(WeightsUnavailableError, match=r"r3d_18.*Kinetics-400.*r3d_18-b3b3357e\.pth.*--weights PATH"
                                                      r".*--pretrained none.*--arch inflated"):
        create_clip_model("3d", ClipSpec(frames=4, size=32), 2, arch="r3d_18")
    with pytest.raises(ConfigError, match="exactly 16 frames of 224 px"):
        create_clip_model("3d", ClipSpec(frames=4, size=32), 2, arch="mvit_v2_s")


def test_a_torchvision_arch_loads_a_local_weights_file(offline):
    from torchvision.models import get_model

    torch.manual_seed(3)
    source = get_model("mc3_18", weights=None)  # a Kinetics-shaped state dict, 400-class layer included
    path = offline / "mc3_18.pth"
    torch.save(source.state_dict(), path)
    model = create_clip_model("3d", ClipSpec(frames=4, size=32), 3, arch="mc3_18", weights=str(path)).eval()
    assert model.weights_id.startswith("file:sha256:")
    torch.testing.assert_close(model.backbone.stem[0].weight, source.stem[0].weight)
    clips, _ = _clips(n=2)
    with torch.inference_mode():
        assert model(clips).shape == (2, 3)
    scratch = create_clip_model("3d", ClipSpec(frames=4, size=32), 3, arch="mc3_18", pretrained=False)
    assert scratch.weights_id == "none"
    (offline / "bad.pth").write_bytes(b"not a state dict")
    with pytest.raises(WeightsUnavailableError, match="bad.pth"):
        create_clip_model("3d", ClipSpec(frames=4, size=32), 3, arch="mc3_18", weights=str(offline / "bad.pth"))


def test_arch_belongs_to_the_3d_model_only(tmp_path):
    from vidclass.estimator.classifier import VideoClassifier

    with pytest.raises(ConfigError, match="--arch.*model 3d"):
        VideoClassifier(model="frame", arch="c3d_small").fit(tmp_path)


# --- end to end: VideoClassifier, bundles, timelines ----------------------------------------


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset

    root = tmp_path_factory.mktemp("direction")
    return make_direction_dataset(root, SyntheticSpec(clips_per_class=5, seconds=1.5, fps=8, size=64, seed=4))


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    from vidclass.data.synthetic import make_direction_timeline

    path = tmp_path_factory.mktemp("timeline") / "long.mp4"
    return make_direction_timeline(path, [("approaching", 2.0), ("receding", 2.0)], fps=8, size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name, options", CASES, ids=IDS)
def test_each_model_round_trips_a_bundle_and_labels_a_timeline(name, options, direction, long_video, tmp_path):
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.use.predict import TimelineSettings, run_timeline

    model = VideoClassifier(model=name, backbone=TINY, pretrained=False, frames=4, size=32, epochs=1, batch_size=4,
                            arch=options.get("arch"), val=0.2, test=0.2, seed=0, cache_dir=tmp_path / "cache",
                            workers=0)
    model.fit(direction, out_dir=tmp_path / "run")
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=tmp_path / "cache2")
    assert loaded.model_.hparams() == model.model_.hparams()
    videos = sorted(direction.rglob("*.mp4"))[:3]
    np.testing.assert_allclose(loaded.predict_proba(videos), model.predict_proba(videos), atol=1e-6)
    timeline = run_timeline(loaded, long_video, TimelineSettings(stride=0.5))
    assert len(timeline.starts) >= 5 and timeline.labels == ["approaching", "receding"]
    np.testing.assert_allclose(timeline.raw.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.diff(timeline.ends - timeline.starts), 0.0, atol=1e-6)  # windows of one length
    again = run_timeline(model, long_video, TimelineSettings(stride=0.5))
    np.testing.assert_allclose(again.raw, timeline.raw, atol=1e-6)


# --- vidclass models: the catalogue and per-model defaults ------------------------------------


def test_the_catalogue_has_a_row_for_every_clip_model_and_3d_arch_at_its_default_input():
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.models.clip_models.catalogue import COSTS
    from vidclass.models.clip_models.video3d import ARCHS

    assert {name for name, _ in COSTS} == set(list_clip_models())
    assert sorted(arch for name, arch in COSTS if name == "3d") == sorted(ARCHS)
    for (name, arch), (frames, size, *_rest) in COSTS.items():
        if arch not in ("s3d", "mvit_v2_s", "swin3d_t"):  # these take 16 x 224 (see vidclass.models.clip_models.video3d)
            model = VideoClassifier(model=name, arch=arch if name == "3d" else None)
            assert (frames, size) == (model.setting("frames"), model.setting("size")), (name, arch)


@pytest.mark.parametrize("name, options", [("3d", {"arch": "c3d_small"}), ("convlstm", {})], ids=["c3d_small", "convlstm"])
def test_the_catalogue_costs_are_the_models(name, options):
    """The cheap rows, recounted (benchmarks/clip_model_cost.py --table prints them all)."""
    from torch.utils.flop_counter import FlopCounterMode

    from vidclass.models.clip_models.catalogue import COSTS

    frames, size, params, gflops, _ = COSTS[name, options.get("arch")]
    model = create_clip_model(name, ClipSpec(frames=frames, size=size), 2, pretrained=False, **options).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, frames, 3, size, size, dtype=torch.uint8))
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(params, abs=0.005)
    assert counter.get_total_flops() / 1e9 == pytest.approx(gflops, abs=0.005)


def test_convlstm_defaults_apply_unless_the_user_gives_values():
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.models.clip_models.convlstm import ConvLSTM

    default = VideoClassifier(model="convlstm")
    assert [default.setting(name) for name in ("frames", "size", "lr")] == [
        ConvLSTM.defaults["frames"], ConvLSTM.defaults["size"], ConvLSTM.defaults["lr"]]
    given = VideoClassifier(model="convlstm", frames=6, size=96, lr=1e-4)
    assert [given.setting(name) for name in ("frames", "size", "lr")] == [6, 96, 1e-4]
    assert [VideoClassifier(model="frame").setting(name) for name in ("frames", "size", "lr")] == [8, 112, 1e-3]


def test_vidclass_models_lists_costs_and_weights():
    import json

    from typer.testing import CliRunner

    from vidclass.cli import app

    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {(row["name"], row["arch"]): row for row in json.loads(result.stdout)}
    assert rows["convlstm", None]["frames"] == 20 and rows["convlstm", None]["size"] == 64
    assert rows["3d", "c3d_small"]["weights"] == "from scratch"
    assert rows["3d", "r3d_18"]["weights"].startswith("Kinetics-400")
    assert rows["3d", "inflated"]["weights"].startswith("ImageNet") and rows["3d", "inflated"]["gflops_per_clip"] > 0
    table = CliRunner().invoke(app, ["models"])  # piped: '# title', then tab-separated rows
    assert table.exit_code == 0 and table.stdout.startswith("# models")
    assert any(line.split("\t")[:2] == ["3d", "r2plus1d_18"] for line in table.stdout.splitlines())
