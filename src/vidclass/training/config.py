"""What a fit is given and what it gives back, free of Lightning: the optimisation and hardware settings
(:class:`TrainConfig`), one labeled example of cached features (:class:`Example`) and how a fit went
(:class:`FitResult`). The linear head's one-pass fit (:mod:`vidclass.training.linear`) needs no more, so
a default model trains without importing Lightning (:mod:`vidclass.training.loop` runs the others)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from vidclass.errors import ConfigError
from vidclass.inputs.features import VideoFeatures
from vidclass.training.distributed import check_strategy

PRECISIONS = ("auto", "32", "16-mixed", "bf16-mixed", "bf16-true", "64")

VALUE_LOSSES = ("mse", "huber")  # a regression model's losses (a classifier's: cross_entropy)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and hardware settings of a fit; validated on creation.

    ``accelerator`` / ``devices`` are Lightning's (``"auto"``: a GPU when there is one);
    ``precision="auto"`` is ``bf16-mixed`` on a GPU that supports it, else 32-bit.
    ``accumulate`` sums gradients over that many batches before a step. ``workers`` are the
    DataLoader processes preparing training batches (0: in the training process).
    ``strategy`` / ``num_nodes`` are Lightning's too (``ddp``: one process per device, launched by
    Lightning on one machine and by ``torchrun`` or SLURM across nodes); ``batch_size`` is per process,
    and each process sees its own share of every epoch (:class:`EpochSampler`).
    """

    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.05
    patience: int = 10
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    class_weights: bool = False
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str = "auto"
    precision: str = "auto"
    accumulate: int = 1
    workers: int = 0
    strategy: str = "auto"
    num_nodes: int = 1

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "patience": self.patience,
                    "accumulate": self.accumulate}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("weight_decay and grad_clip must be >= 0")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if self.num_nodes < 1:
            raise ConfigError(f"num_nodes must be >= 1, got {self.num_nodes}")
        check_strategy(self.strategy)

    def resolved_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        on_gpu = self.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


@dataclass(frozen=True)
class Example:
    """One labeled video's cached features: its class index, or a regression model's standardised target."""

    features: VideoFeatures
    label: int | float


@dataclass
class FitResult:
    """How a fit went; the module holds the best weights."""

    epochs_run: int
    best_epoch: int | None
    best_val_loss: float | None
    metrics_csv: Path | None
