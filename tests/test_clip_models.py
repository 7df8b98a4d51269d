"""Clip models: fine-tuning moves the backbone, freezing keeps it bit-identical, the registry round-trips."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vidclass.errors import ConfigError
from vidclass.models.clip_models import (
    FREEZE_ALL,
    ClipSpec,
    backbone_stages,
    clip_model_from_config,
    create_clip_model,
    list_clip_models,
)

TINY = "timm:mobilenetv3_small_050"


def _clips(n: int = 4, frames: int = 3, size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    clips = torch.randint(0, 256, (n, frames, 3, size, size), dtype=torch.uint8, generator=generator)
    return clips, torch.arange(n) % 2


def _model(name: str, **spec):
    torch.manual_seed(0)
    return create_clip_model(name, ClipSpec(backbone=TINY, frames=3, size=64, **spec), 2, pretrained=False)


def _steps(model, clips, labels, steps: int = 5) -> list[float]:
    """A few AdamW steps on one batch, as ClipModule takes them; the losses."""
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


def _backbone_state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.backbone.state_dict().items()}


def test_the_registry_lists_the_pixel_models():
    assert {"frame", "lrcn"} <= set(list_clip_models())
    with pytest.raises(ConfigError, match="unknown clip model 'nope'.*frame"):
        create_clip_model("nope", ClipSpec(backbone=TINY), 2, pretrained=False)


@pytest.mark.parametrize("name", ["frame", "lrcn"])
def test_fine_tuning_changes_the_backbone_and_lowers_the_loss(name):
    model = _model(name, bn="train")
    clips, labels = _clips()
    before = _backbone_state(model)
    losses = _steps(model, clips, labels)
    assert losses[-1] < losses[0]
    changed = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, before[k])]
    assert any("weight" in k for k in changed)


@pytest.mark.parametrize("name", ["frame", "lrcn"])
def test_a_frozen_backbone_stays_bit_identical(name):
    model = _model(name, freeze_stages=FREEZE_ALL, bn="train")  # even BatchNorm statistics stay put
    clips, labels = _clips()
    before = _backbone_state(model)
    head_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    _steps(model, clips, labels)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert any(not torch.equal(v, head_before[k]) for k, v in model.state_dict().items() if k in head_before)


def test_freezing_the_first_stages_only_freezes_those():
    model = _model("frame", freeze_stages=2)
    stages = backbone_stages(model.backbone)
    frozen = [p.requires_grad for module in stages[0] + stages[1] for p in module.parameters()]
    later = [p.requires_grad for module in stages[-1] for p in module.parameters()]
    assert frozen and not any(frozen)
    assert later and all(later)
    with pytest.raises(ConfigError, match="only .* stages"):
        _model("frame", freeze_stages=99)


def test_frozen_batchnorm_keeps_pretrained_statistics_in_training():
    model = _model("lrcn", bn="frozen")
    clips, labels = _clips()
    stats = {k: v.clone() for k, v in model.backbone.state_dict().items() if "running_mean" in k}
    _steps(model, clips, labels, steps=2)
    assert stats and all(torch.equal(model.backbone.state_dict()[k], v) for k, v in stats.items())


def test_the_frame_model_averages_frame_probabilities():
    model = _model("frame").eval()
    clips, _ = _clips(n=2)
    with torch.inference_mode():
        per_frame = torch.softmax(model.encode_frames(clips.flatten(0, 1)), dim=-1).unflatten(0, (2, 3))
        video = torch.softmax(model(clips), dim=-1)
    torch.testing.assert_close(video, per_frame.mean(dim=1))
    logits, targets = model.training_logits(clips, torch.tensor([0, 1]))
    assert logits.shape == (6, 2) and targets.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("name, options", [("frame", {}), ("lrcn", {"head": {"name": "gru", "hidden_sizes": [8]}})])
def test_rebuilt_from_hparams_with_the_weights_gives_the_same_logits(name, options):
    torch.manual_seed(0)
    model = create_clip_model(name, ClipSpec(backbone=TINY, frames=3, size=64), 2, pretrained=False, **options).eval()
    again = clip_model_from_config(model.hparams())
    again.load_state_dict(model.state_dict())
    clips, _ = _clips()
    with torch.inference_mode():
        assert torch.equal(again.eval()(clips), model(clips))
    assert again.hparams() == model.hparams()


@pytest.mark.parametrize("field, value, message", [
    ("size", 8, "size"), ("frames", 0, "frames"), ("inputs", "depth", "rgb, rgbdiff or flow"), ("bn", "x", "frozen or train"),
    ("freeze_stages", -2, "freeze_stages"),
])
def test_bad_specs_name_the_option(field, value, message):
    with pytest.raises(ConfigError, match=message):
        ClipSpec(**{field: value})
