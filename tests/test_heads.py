"""Temporal heads: padding never matters, order does (except for mean), configs round-trip."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import torch

from vidclass.errors import ConfigError
from vidclass.models.heads import TemporalHead, create_head, head_from_config, list_heads

ORDER_AWARE = ["lstm", "bilstm", "gru", "attention", "transformer"]
ORDER_BLIND = ["mean", "linear"]
ALL_HEADS = [*ORDER_AWARE, *ORDER_BLIND]
IN_DIM = 6


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, many times faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _padded_batch(lengths: list[int], t: int, d: int = IN_DIM, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), t, d, generator=gen)
    mask = torch.arange(t) < torch.tensor(lengths).unsqueeze(1)
    return x, mask


def _eval_head(name: str, **options: object) -> TemporalHead:
    torch.manual_seed(0)
    return create_head(name, in_dim=IN_DIM, num_classes=3, **options).eval()


def test_list_heads_names_every_head() -> None:
    assert list_heads() == sorted(ALL_HEADS)


@pytest.mark.parametrize("name", ALL_HEADS)
def test_padding_never_changes_logits(name: str) -> None:
    head = _eval_head(name)
    lengths = [7, 3, 9, 1]
    x, mask = _padded_batch(lengths, t=11)
    with torch.no_grad():
        batched = head(x, mask)
        alone = torch.cat([head(x[i : i + 1, :n], torch.ones(1, n, dtype=torch.bool)) for i, n in enumerate(lengths)])
        torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)
        for garbage in (1e6 * torch.randn_like(x), torch.full_like(x, float("nan")), torch.full_like(x, float("inf"))):
            dirty = torch.where(mask.unsqueeze(-1), x, garbage)
            torch.testing.assert_close(head(dirty, mask), batched, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ALL_HEADS)
def test_mask_with_holes_equals_real_frames_alone(name: str) -> None:
    head = _eval_head(name)
    x, _ = _padded_batch([8, 8], t=8)
    mask = torch.tensor([[True, False, True, True, False, False, True, False], [False, False, True] + [True] * 5])
    with torch.no_grad():
        batched = head(x, mask)
        alone = torch.cat(
            [head(x[i, mask[i]].unsqueeze(0), torch.ones(1, int(mask[i].sum()), dtype=torch.bool)) for i in range(2)]
        )
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ALL_HEADS)
def test_default_head_shapes(name: str) -> None:
    head = create_head(name, in_dim=32, num_classes=5)
    x, mask = _padded_batch([4, 2, 6], t=6, d=32)
    logits = head(x, mask)
    assert logits.shape == (3, 5) and logits.dtype == torch.float32
    logits.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


def _reverse_real_frames(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    out = x.clone()
    for i, n in enumerate(lengths):
        out[i, :n] = x[i, :n].flip(0)
    return out


@pytest.mark.parametrize("name", ALL_HEADS)
def test_only_the_order_blind_heads_ignore_frame_order(name: str) -> None:
    head = _eval_head(name)
    lengths = [7, 5, 9]
    x, mask = _padded_batch(lengths, t=9)
    with torch.no_grad():
        change = (head(x, mask) - head(_reverse_real_frames(x, lengths), mask)).abs().max().item()
    if name in ORDER_BLIND:
        assert change < 1e-6
    else:
        assert change > 1e-4


ROUND_TRIP_OPTIONS = {
    "lstm": {"hidden_size": 12, "dropout": 0.25, "proj_dim": 5},
    "bilstm": {"hidden_size": 7, "input_norm": False},
    "gru": {"hidden_sizes": [9, 6, 4], "dense_size": 0, "input_dropout": 0.1},
    "attention": {"hidden_size": 5, "attention_dim": 3},
    "transformer": {"d_model": 12, "num_heads": 3, "num_layers": 1, "ff_dim": 20, "max_len": 16},
    "mean": {"dropout": 0.0, "proj_dim": 4},
    "linear": {"c": 0.5},
}


@pytest.mark.parametrize("name", ALL_HEADS)
def test_hparams_round_trip_rebuilds_same_head(name: str) -> None:
    head = _eval_head(name, **ROUND_TRIP_OPTIONS[name])
    config = json.loads(json.dumps(head.hparams()))
    assert config["name"] == name and config["in_dim"] == IN_DIM and config["num_classes"] == 3
    assert {k: config[k] for k in ROUND_TRIP_OPTIONS[name]} == ROUND_TRIP_OPTIONS[name]

    torch.manual_seed(1)  # different initial weights
    rebuilt = head_from_config(config).eval()
    assert type(rebuilt) is type(head) and repr(rebuilt) == repr(head)
    assert rebuilt.hparams() == config
    x, mask = _padded_batch([5, 2], t=5)
    with torch.no_grad():
        assert not torch.allclose(rebuilt(x, mask), head(x, mask))
        rebuilt.load_state_dict(head.state_dict())
        torch.testing.assert_close(rebuilt(x, mask), head(x, mask), atol=0, rtol=0)


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("lstm", {"dropout": 1.5}, "option 'dropout' must be a number in [0, 1), got 1.5"),
        ("lstm", {"hidden_size": 0}, "option 'hidden_size' must be an int >= 1, got 0"),
        ("bilstm", {"hidden_size": True}, "option 'hidden_size' must be an int >= 1, got True"),
        ("gru", {"hidden_sizes": []}, "option 'hidden_sizes' must be a non-empty list of ints >= 1"),
        ("gru", {"hidden_sizes": [16, -1]}, "option 'hidden_sizes' must be a non-empty list of ints >= 1"),
        ("mean", {"input_norm": "yes"}, "option 'input_norm' must be true or false, got 'yes'"),
        ("attention", {"proj_dim": -2}, "option 'proj_dim' must be an int >= 0, got -2"),
        ("transformer", {"d_model": 30, "num_heads": 4}, "'d_model' (30) must be a multiple of option 'num_heads' (4)"),
        (
            "mean",
            {"hidden_size": 8},
            "unknown option 'hidden_size'; allowed options: dropout, input_dropout, input_norm, proj_dim",
        ),
    ],
)
def test_bad_options_are_named_with_allowed_values(name: str, options: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_head(name, in_dim=IN_DIM, num_classes=2, **options)
    assert f"head {name!r}" in str(info.value) and expected in str(info.value)


def test_bad_names_and_sizes_are_config_errors() -> None:
    allowed = "allowed heads: attention, bilstm, gru, linear, lstm, mean, transformer"
    with pytest.raises(ConfigError, match=f"unknown head 'lstn'; {allowed}"):
        create_head("lstn", in_dim=IN_DIM, num_classes=2)
    with pytest.raises(ConfigError, match="in_dim must be an int >= 1, got 0"):
        create_head("lstm", in_dim=0, num_classes=2)
    with pytest.raises(ConfigError, match="num_classes must be an int >= 1, got 0"):
        create_head("lstm", in_dim=IN_DIM, num_classes=0)
    with pytest.raises(ConfigError, match="head config lacks 'in_dim'"):
        head_from_config({"name": "mean", "num_classes": 2})


def test_bad_inputs_are_refused_with_the_expected_shape() -> None:
    head = _eval_head("transformer", max_len=4)
    x, mask = _padded_batch([3, 2], t=4)
    with pytest.raises(ValueError, match=r"x must be B x T x 6"):
        head(x[..., :5], mask)
    with pytest.raises(ValueError, match="mask must be a bool tensor of shape"):
        head(x, mask.float())
    with pytest.raises(ValueError, match="at least one real frame"):
        head(x, torch.tensor([[True] * 4, [False] * 4]))
    long_x, long_mask = _padded_batch([5], t=5)
    with pytest.raises(ValueError, match="option 'max_len' is 4"):
        head(long_x, long_mask)


def _bump_task(
    n: int, d: int = 8, t_min: int = 12, t_max: int = 16, width: int = 2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise with one bump on feature 0: class 0 in the first quarter, class 1 in the last.

    Each sequence holds exactly one bump, so its mean over time says nothing of the class.
    Padded steps hold huge garbage.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, t_max, d, generator=gen)
    lengths = torch.randint(t_min, t_max + 1, (n,), generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen)
    for i in range(n):
        length = int(lengths[i])
        quarter = length // 4
        start = (0 if y[i] == 0 else length - width - quarter) + int(torch.randint(0, quarter + 1, (1,), generator=gen))
        x[i, start : start + width, 0] += 4.0
    mask = torch.arange(t_max) < lengths.unsqueeze(1)
    x = torch.where(mask.unsqueeze(-1), x, 1e4 * torch.randn(x.shape, generator=gen))
    return x, mask, y


SMALL_OPTIONS = {
    "lstm": {"hidden_size": 32},
    "bilstm": {"hidden_size": 16},
    "gru": {},
    "attention": {"hidden_size": 16, "attention_dim": 16},
    "transformer": {"d_model": 32, "num_heads": 2, "num_layers": 1, "ff_dim": 64},
    "mean": {},
    "linear": {},
}


def _train_accuracy(head: TemporalHead, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> float:
    head.eval()
    with torch.no_grad():
        return (head(x, mask).argmax(dim=1) == y).float().mean().item()


@pytest.mark.parametrize("name", ALL_HEADS)
def test_training_separates_early_from_late_bump_only_with_order(name: str) -> None:
    x, mask, y = _bump_task(256)
    torch.manual_seed(0)
    head = create_head(name, in_dim=x.shape[-1], num_classes=2, **SMALL_OPTIONS[name])
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    started = time.perf_counter()
    accuracy = 0.0
    for step in range(1, 301):  # full batch; order-aware heads stop once they have learnt it
        head.train()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(x, mask), y).backward()
        optimizer.step()
        if step % 25 == 0:
            accuracy = _train_accuracy(head, x, mask, y)
            if name not in ORDER_BLIND and accuracy >= 0.95:
                break
    print(f"{name}: train accuracy {accuracy:.3f} after {step} steps in {time.perf_counter() - started:.1f} s")
    if name in ORDER_BLIND:
        assert accuracy <= 0.7
    else:
        assert accuracy >= 0.95
