"""Fitting a temporal head on cached feature grids with the Lightning Trainer.

Lightning brings the loop, early stopping, checkpointing, the CSV log and the progress
bar; this module only says what a step is (AdamW, cross-entropy with optional class
weights and label smoothing, gradient clipping) and which views each epoch sees (a new
random TSN view of every training video per epoch, fixed views for validation).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from vidclass.errors import ConfigError
from vidclass.features import VideoFeatures
from vidclass.heads import TemporalHead
from vidclass.views import ViewSpec, cut_grid_view


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of a head; validated on creation."""

    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.05
    patience: int = 10
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    class_weights: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "patience": self.patience}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("weight_decay and grad_clip must be >= 0")


@dataclass(frozen=True)
class Example:
    """One labeled video's cached features."""

    features: VideoFeatures
    label: int


class ViewDataset(Dataset):
    """Views of cached grids: a fresh random view per access when ``train``, else view ``view``."""

    def __init__(self, examples: Sequence[Example], spec: ViewSpec, *, train: bool, seed: int = 0, view: int = 0):
        self.examples = list(examples)
        self.spec = spec
        self.rng = np.random.default_rng(seed) if train else None
        self.view = view

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        example = self.examples[i]
        x, mask = cut_grid_view(example.features, self.spec, rng=self.rng, view=self.view)
        return torch.from_numpy(x), torch.from_numpy(mask), example.label


class HeadModule(L.LightningModule):
    """The training step of a temporal head."""

    def __init__(self, head: TemporalHead, config: TrainConfig, class_weights: torch.Tensor | None) -> None:
        super().__init__()
        self.head = head
        self.config = config
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(x, mask)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, mask, y = batch
        logits = self.head(x, mask)
        loss = F.cross_entropy(
            logits, y, weight=self.class_weights, label_smoothing=self.config.label_smoothing if stage == "train" else 0.0
        )
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log(f"{stage}_acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.head.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)


@dataclass
class FitResult:
    """A fitted head and how the fit went."""

    head: TemporalHead
    epochs_run: int
    best_epoch: int | None
    best_val_loss: float | None
    metrics_csv: Path | None


def _class_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, normalised to mean 1 over the classes present."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def fit_head(
    head: TemporalHead,
    train: Sequence[Example],
    val: Sequence[Example],
    spec: ViewSpec,
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    progress: bool = False,
) -> FitResult:
    """Train ``head`` on ``train``, early-stopping on the validation loss; returns the best head.

    With ``out_dir`` the per-epoch metrics CSV and the best checkpoint are kept there;
    without, they live in a temporary folder. Without validation examples the training
    loss is monitored instead. Deterministic on the CPU for a given ``config.seed``.
    """
    if not train:
        raise ConfigError("no training videos: the training split is empty")
    L.seed_everything(config.seed, workers=True, verbose=False)
    for noisy in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    weights = _class_weights([e.label for e in train], head.num_classes) if config.class_weights else None
    module = HeadModule(head, config, weights)
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        ViewDataset(train, spec, train=True, seed=config.seed),
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
    )
    val_loader = DataLoader(ViewDataset(val, spec, train=False), batch_size=64) if val else None
    monitor = "val_loss" if val else "train_loss"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(out_dir) if out_dir is not None else Path(scratch)
        checkpoint = ModelCheckpoint(
            dirpath=root / "checkpoints", filename="best", monitor=monitor, mode="min", save_top_k=1
        )
        logger = CSVLogger(root, name="", version="") if out_dir is not None else False
        trainer = L.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=config.epochs,
            deterministic=True,
            gradient_clip_val=config.grad_clip or None,
            callbacks=[EarlyStopping(monitor=monitor, mode="min", patience=config.patience), checkpoint],
            logger=logger,
            enable_progress_bar=progress,
            enable_model_summary=False,
            log_every_n_steps=1,
            num_sanity_val_steps=0,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*number of training batches.*")
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            trainer.fit(module, train_loader, val_loader)
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(best["state_dict"])
        best_epoch = int(best.get("epoch", -1))
    head.eval()
    score = checkpoint.best_model_score
    return FitResult(
        head=head,
        epochs_run=trainer.current_epoch,
        best_epoch=best_epoch,
        best_val_loss=float(score) if score is not None and val else None,
        metrics_csv=(Path(out_dir) / "metrics.csv") if out_dir is not None else None,
    )
