"""Temporal heads: a padded sequence of frame features and its mask -> class logits.

Every head takes ``x`` (B x T x D floats) and ``mask`` (B x T bools, True on real frames)
and returns logits (B x C). Padded steps may hold any values, NaN included: they are zeroed
and the real frames are moved to the front (in order) before the head sees them, so a
prediction never depends on padding, whatever the mask looks like.

Heads are built by name through one registry (``list_heads`` / ``create_head``), with
options validated once, and rebuilt from ``hparams()`` by ``head_from_config``.

Every head shares an input stage, applied to each frame before the temporal model:
``standardize`` (default off: a fixed per-feature shift and scale, set from the training
features with ``set_standardization`` and saved with the weights; vidclass.estimator.regressor uses it
instead of ``input_norm``, whose per-frame normalisation hides the feature magnitude a number
may be read from), ``input_norm`` (LayerNorm over features, default on: frozen CNN features
have uneven scales), ``input_dropout`` (default 0) and ``proj_dim`` (Linear + ReLU to that width,
default 0 = off; try 128 with 1280-d features on a few hundred clips to shrink the first
layer). Head-specific defaults (small, for a CPU and ~200-clip datasets):

==============  ===========================================================================
``lstm``        hidden_size=128, dropout=0.5 (the MATLAB seed: hidden_size=1500)
``bilstm``      hidden_size=64 per direction, dropout=0.5
``gru``         hidden_sizes=[16, 8], dropout=0.4, dense_size=8 (the Keras example; 0 = no
                dense layer)
``attention``   hidden_size=64 per direction, attention_dim=64, dropout=0.5
``transformer`` d_model=64, num_heads=4, num_layers=2, ff_dim=128, dropout=0.1,
                max_len=256 (longest sequence the positional embedding covers)
``mean``        dropout=0.5
``linear``      c=0.01: a logistic regression on the standardised mean of the frames, fitted
                by scikit-learn (a convex fit, ``vidclass.training.linear.fit_linear``), not by
                gradient steps; ``c`` is its inverse L2 strength
==============  ===========================================================================
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from vidclass.errors import ConfigError

__all__ = [
    "TemporalHead",
    "create_head",
    "head_from_config",
    "list_heads",
]


# --- option checking ------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """What one option accepts: a test, the words for the message, a normaliser."""

    allowed: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any]


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


_POS_INT = _Rule("an int >= 1", lambda v: _is_int(v) and v >= 1, int)
_NONNEG_INT = _Rule("an int >= 0", lambda v: _is_int(v) and v >= 0, int)
_PROB = _Rule("a number in [0, 1)", lambda v: _is_real(v) and 0 <= v < 1, float)
_BOOL = _Rule("true or false", lambda v: isinstance(v, bool), bool)
_POS_REAL = _Rule("a number > 0", lambda v: _is_real(v) and v > 0, float)
_POS_INT_LIST = _Rule(
    "a non-empty list of ints >= 1",
    lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_int(i) and i >= 1 for i in v),
    lambda v: tuple(int(i) for i in v),
)


def _opt(default: Any, rule: _Rule) -> Any:
    """A dataclass field carrying the rule that validates it."""
    return field(default=default, metadata={"rule": rule})


@dataclass(frozen=True)
class HeadOptions:
    """Input stage shared by every head (see the module docstring)."""

    standardize: bool = _opt(False, _BOOL)
    input_norm: bool = _opt(True, _BOOL)
    input_dropout: float = _opt(0.0, _PROB)
    proj_dim: int = _opt(0, _NONNEG_INT)


def _check_options(head: str, options_type: type[HeadOptions], given: dict[str, Any]) -> HeadOptions:
    """Build ``options_type`` from ``given``, or raise ConfigError naming the bad option."""
    known = {f.name: f.metadata["rule"] for f in fields(options_type)}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(
            f"head {head!r}: unknown option {unknown[0]!r}; allowed options: {', '.join(sorted(known))}"
        )
    values = {}
    for key, value in given.items():
        rule = known[key]
        if not rule.accepts(value):
            raise ConfigError(f"head {head!r}: option {key!r} must be {rule.allowed}, got {value!r}")
        values[key] = rule.convert(value)
    return options_type(**values)


class _Standardize(nn.Module):
    """``(x - mean) / std`` per feature, with fixed (saved, not trained) statistics."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


# --- the base class and registry ------------------------------------------------------

_REGISTRY: dict[str, type[TemporalHead]] = {}


def _register(cls: type[TemporalHead]) -> type[TemporalHead]:
    _REGISTRY[cls.name] = cls
    return cls


class TemporalHead(nn.Module):
    """Base of all heads: checks inputs, neutralises padding, applies the input stage.

    Subclasses set ``name`` and ``options_type`` and implement ``_forward`` on
    left-aligned input (real frames first, ``lengths`` >= 1, padded steps zeroed before
    the input stage).
    """

    name: ClassVar[str]
    options_type: ClassVar[type[HeadOptions]] = HeadOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: HeadOptions) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.num_classes = num_classes
        self.options = options
        stage: list[nn.Module] = [_Standardize(in_dim)] if options.standardize else []
        if options.input_norm:
            stage.append(nn.LayerNorm(in_dim))
        if options.input_dropout > 0:
            stage.append(nn.Dropout(options.input_dropout))
        if options.proj_dim > 0:
            stage += [nn.Linear(in_dim, options.proj_dim), nn.ReLU()]
        self.input_stage = nn.Sequential(*stage)
        self.feature_dim = options.proj_dim or in_dim

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The per-feature shift and scale of a head with option ``standardize`` (from its training features)."""
        if not self.options.standardize:
            raise ConfigError(f"head {self.name!r}: built without option 'standardize'")
        stage = self.input_stage[0]
        stage.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        stage.std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-6))

    def hparams(self) -> dict[str, Any]:
        """JSON-able description that ``head_from_config`` turns back into this head."""
        opts = {f.name: getattr(self.options, f.name) for f in fields(self.options)}
        opts = {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()}
        return {"name": self.name, "in_dim": self.in_dim, "num_classes": self.num_classes, **opts}

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (B x C) for features ``x`` (B x T x D) with real frames where ``mask``."""
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"head {self.name!r}: x must be B x T x {self.in_dim}, got {tuple(x.shape)}")
        if mask.dtype != torch.bool or mask.shape != x.shape[:2]:
            raise ValueError(
                f"head {self.name!r}: mask must be a bool tensor of shape {tuple(x.shape[:2])}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        lengths = mask.sum(dim=1)
        if x.shape[1] == 0 or bool((lengths == 0).any()):
            raise ValueError(f"head {self.name!r}: every sequence needs at least one real frame (mask row all False)")
        x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        # Real frames first, in their original order: the keys are distinct, so any sort is stable
        # (and ONNX, which has no stable sort, exports it).
        steps = torch.arange(x.shape[1], device=x.device)
        order = torch.argsort((~mask).to(torch.long) * x.shape[1] + steps, dim=1)
        x = torch.gather(x, 1, order.unsqueeze(-1).expand_as(x))
        mask = steps < lengths.unsqueeze(1)
        return self._forward(self.input_stage(x), mask, lengths)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name!r}, in_dim={self.in_dim}, num_classes={self.num_classes}"


def list_heads() -> list[str]:
    """Names ``create_head`` accepts, sorted."""
    return sorted(_REGISTRY)


def create_head(name: str, *, in_dim: int, num_classes: int, **options: Any) -> TemporalHead:
    """Build the head called ``name``; raises ConfigError for unknown names or bad options."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown head {name!r}; allowed heads: {', '.join(list_heads())}")
    if not _POS_INT.accepts(in_dim):
        raise ConfigError(f"head {name!r}: in_dim must be {_POS_INT.allowed}, got {in_dim!r}")
    if not (_is_int(num_classes) and num_classes >= 1):  # 1: one number (vidclass.estimator.regressor)
        raise ConfigError(f"head {name!r}: num_classes must be an int >= 1, got {num_classes!r}")
    cls = _REGISTRY[name]
    checked = _check_options(name, cls.options_type, options)
    return cls(in_dim=int(in_dim), num_classes=int(num_classes), options=checked)


def head_from_config(config: dict[str, Any]) -> TemporalHead:
    """Rebuild a head (fresh weights) from the dict its ``hparams()`` returned."""
    missing = [k for k in ("name", "in_dim", "num_classes") if k not in config]
    if missing:
        raise ConfigError(f"head config lacks {', '.join(repr(k) for k in missing)}; it has {sorted(config)}")
    rest = dict(config)
    name, in_dim, num_classes = rest.pop("name"), rest.pop("in_dim"), rest.pop("num_classes")
    return create_head(name, in_dim=in_dim, num_classes=num_classes, **rest)


# --- helpers shared by several heads ---------------------------------------------------


def _pack(x: torch.Tensor, lengths: torch.Tensor) -> PackedSequence:
    return pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


def _padded(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The LSTM's outputs at every step (B x T x H), zero beyond each sequence's length. Read from the
    outputs rather than the final state ``h_n``, which ONNX's exporter cannot take from packed sequences."""
    out, _ = lstm(_pack(x, lengths))
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


def _at_last(out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``out[b, lengths[b] - 1]`` for each sequence b: the state at its last real frame."""
    return out[torch.arange(out.shape[0], device=out.device), lengths - 1]


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1)


# --- the heads ------------------------------------------------------------------------


@dataclass(frozen=True)
class LSTMOptions(HeadOptions):
    hidden_size: int = _opt(128, _POS_INT)
    dropout: float = _opt(0.5, _PROB)


@_register
class LSTMHead(TemporalHead):
    """One LSTM; its state at the last real frame -> dropout -> linear."""

    name = "lstm"
    options_type = LSTMOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: LSTMOptions) -> None:
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        self.lstm = nn.LSTM(self.feature_dim, options.hidden_size, batch_first=True)
        self.dropout = nn.Dropout(options.dropout)
        self.classifier = nn.Linear(options.hidden_size, num_classes)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(_at_last(_padded(self.lstm, x, lengths), lengths)))


@dataclass(frozen=True)
class BiLSTMOptions(HeadOptions):
    hidden_size: int = _opt(64, _POS_INT)
    dropout: float = _opt(0.5, _PROB)


@_register
class BiLSTMHead(TemporalHead):
    """Bidirectional LSTM; forward state at the last real frame ++ backward state at frame 0."""

    name = "bilstm"
    options_type = BiLSTMOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: BiLSTMOptions) -> None:
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        self.lstm = nn.LSTM(self.feature_dim, options.hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(options.dropout)
        self.classifier = nn.Linear(2 * options.hidden_size, num_classes)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = _padded(self.lstm, x, lengths)  # [forward, backward] states at each step
        forward, backward = out.chunk(2, dim=-1)
        return self.classifier(self.dropout(torch.cat([_at_last(forward, lengths), backward[:, 0]], dim=-1)))


@dataclass(frozen=True)
class GRUOptions(HeadOptions):
    hidden_sizes: tuple[int, ...] = _opt((16, 8), _POS_INT_LIST)
    dropout: float = _opt(0.4, _PROB)
    dense_size: int = _opt(8, _NONNEG_INT)


@_register
class GRUHead(TemporalHead):
    """Stacked GRUs of given widths; last real step -> dropout -> dense ReLU -> linear."""

    name = "gru"
    options_type = GRUOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: GRUOptions) -> None:
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        widths = (self.feature_dim, *options.hidden_sizes)
        self.grus = nn.ModuleList(nn.GRU(a, b, batch_first=True) for a, b in zip(widths, widths[1:]))
        top: list[nn.Module] = [nn.Dropout(options.dropout)]
        if options.dense_size > 0:
            top += [nn.Linear(widths[-1], options.dense_size), nn.ReLU()]
        top.append(nn.Linear(options.dense_size or widths[-1], num_classes))
        self.top = nn.Sequential(*top)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        seq = _pack(x, lengths)
        for gru in self.grus:
            seq, h_n = gru(seq)
        return self.top(h_n[-1])


@dataclass(frozen=True)
class AttentionOptions(HeadOptions):
    hidden_size: int = _opt(64, _POS_INT)
    attention_dim: int = _opt(64, _POS_INT)
    dropout: float = _opt(0.5, _PROB)


@_register
class AttentionHead(TemporalHead):
    """BiLSTM outputs pooled by additive attention (softmax over real frames only)."""

    name = "attention"
    options_type = AttentionOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: AttentionOptions) -> None:
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        width = 2 * options.hidden_size
        self.lstm = nn.LSTM(self.feature_dim, options.hidden_size, batch_first=True, bidirectional=True)
        self.score = nn.Sequential(
            nn.Linear(width, options.attention_dim), nn.Tanh(), nn.Linear(options.attention_dim, 1)
        )
        self.dropout = nn.Dropout(options.dropout)
        self.classifier = nn.Linear(width, num_classes)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(_pack(x, lengths))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        scores = self.score(out).squeeze(-1).masked_fill(~mask, float("-inf"))
        pooled = torch.einsum("bt,btd->bd", torch.softmax(scores, dim=1), out)
        return self.classifier(self.dropout(pooled))


@dataclass(frozen=True)
class TransformerOptions(HeadOptions):
    d_model: int = _opt(64, _POS_INT)
    num_heads: int = _opt(4, _POS_INT)
    num_layers: int = _opt(2, _POS_INT)
    ff_dim: int = _opt(128, _POS_INT)
    dropout: float = _opt(0.1, _PROB)
    max_len: int = _opt(256, _POS_INT)


@_register
class TransformerHead(TemporalHead):
    """Linear to d_model + learned positions -> pre-norm encoder -> masked mean -> linear."""

    name = "transformer"
    options_type = TransformerOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: TransformerOptions) -> None:
        if options.d_model % options.num_heads:
            raise ConfigError(
                f"head 'transformer': option 'd_model' ({options.d_model}) must be a multiple of "
                f"option 'num_heads' ({options.num_heads})"
            )
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        self.embed = nn.Linear(self.feature_dim, options.d_model)
        self.position = nn.Parameter(torch.randn(options.max_len, options.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            options.d_model,
            options.num_heads,
            dim_feedforward=options.ff_dim,
            dropout=options.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, options.num_layers, norm=nn.LayerNorm(options.d_model), enable_nested_tensor=False
        )
        self.dropout = nn.Dropout(options.dropout)
        self.classifier = nn.Linear(options.d_model, num_classes)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        longest = int(lengths.max())
        if longest > self.options.max_len:
            raise ValueError(
                f"head 'transformer': a sequence has {longest} real frames but option 'max_len' is "
                f"{self.options.max_len}; sample fewer frames or rebuild the head with a larger max_len"
            )
        x, mask = x[:, :longest], mask[:, :longest]  # left-aligned: nothing real beyond
        h = self.encoder(self.embed(x) + self.position[:longest], src_key_padding_mask=~mask)
        return self.classifier(self.dropout(_masked_mean(h, mask)))


@dataclass(frozen=True)
class MeanOptions(HeadOptions):
    dropout: float = _opt(0.5, _PROB)


@_register
class MeanHead(TemporalHead):
    """Mean of the real frames -> dropout -> linear: the order-blind late-fusion baseline."""

    name = "mean"
    options_type = MeanOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: MeanOptions) -> None:
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        self.dropout = nn.Dropout(options.dropout)
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(_masked_mean(x, mask)))


@dataclass(frozen=True)
class LinearOptions(HeadOptions):
    standardize: bool = _opt(True, _BOOL)
    input_norm: bool = _opt(False, _BOOL)
    c: float = _opt(0.01, _POS_REAL)


@_register
class LinearHead(TemporalHead):
    """Standardised mean of the real frames -> linear: a logistic regression over the clip.

    Its weights come from scikit-learn's ``LogisticRegression`` (``set_weights``), fitted on the
    clip means of the training views: a convex fit with a fixed L2 strength, deterministic and done in
    seconds, that scored as well as the gradient-trained heads on fight_surv's grouped folds (README).
    """

    name = "linear"
    options_type = LinearOptions

    def __init__(self, *, in_dim: int, num_classes: int, options: LinearOptions) -> None:
        if options.input_norm or options.input_dropout or options.proj_dim:
            raise ConfigError("head 'linear': a logistic regression takes no input_norm, input_dropout or proj_dim")
        super().__init__(in_dim=in_dim, num_classes=num_classes, options=options)
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classifier(_masked_mean(x, mask))

    def set_weights(self, coef: torch.Tensor, intercept: torch.Tensor) -> None:
        """Logits from scikit-learn's ``coef_`` (C x D, or 1 x D for two classes) and ``intercept_``.

        Two classes give one decision function ``z``: logits ``(0, z)`` have the same softmax."""
        coef, intercept = torch.as_tensor(coef, dtype=torch.float32), torch.as_tensor(intercept, dtype=torch.float32)
        if coef.shape[0] == 1 and self.num_classes == 2:
            coef, intercept = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros(1), intercept])
        if coef.shape != self.classifier.weight.shape:
            raise ConfigError(f"head 'linear': weights of shape {tuple(coef.shape)} for {self.num_classes} classes "
                              f"of {self.feature_dim} features")
        with torch.no_grad():
            self.classifier.weight.copy_(coef)
            self.classifier.bias.copy_(intercept)
