"""Fitting models with the Lightning Trainer: temporal heads on cached features, clip models on pixels.

Lightning brings the loop, devices and precision, early stopping, checkpointing, the CSV log
and the progress bar; this module says what a step is (AdamW, cross-entropy with optional
class weights and label smoothing, gradient clipping) and which examples each epoch sees. The
same :func:`fit_module` runs both seams, with ``accelerator="auto"`` by default: the CPU here,
a GPU (in bf16 mixed precision) where there is one.

Each training item is an ``(epoch, index)`` pair (:class:`EpochSampler`), so the random view
and augmentation of an example depend only on (seed, epoch, index): the same in worker
processes, after ``resume`` and in a second run with the same seed.
"""

from __future__ import annotations

import gc
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from vidclass.errors import ConfigError
from vidclass.inputs.units import Files
from vidclass.inputs.views import GridViews, ViewSpec
from vidclass.models.heads import LinearHead, TemporalHead
from vidclass.training.config import VALUE_LOSSES, Example, FitResult, TrainConfig
from vidclass.training.linear import fit_linear
from vidclass.util.workers import die_with_parent

CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` for every example, shuffled by (seed, epoch) when ``shuffle``.

    Lightning calls ``set_epoch`` before each epoch. Under DDP (a process group of W ranks) rank r
    takes every W-th example of the epoch's order from the r-th on, the order padded with its first
    examples to a multiple of W (as ``DistributedSampler`` does): the ranks see disjoint parts, the
    same number of batches, and together one process's batches with W times its batch size.
    """

    def __init__(self, size: int, *, seed: int, shuffle: bool = True) -> None:
        self.size, self.seed, self.shuffle, self.epoch = size, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @staticmethod
    def _ranks() -> tuple[int, int]:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        return (torch.distributed.get_rank(), torch.distributed.get_world_size()) if distributed else (0, 1)

    def __len__(self) -> int:
        world = self._ranks()[1]
        return -(-self.size // world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size) if self.shuffle else np.arange(self.size)
        rank, world = self._ranks()
        if world > 1:
            padded = np.resize(order, len(self) * world)  # repeats the first examples
            order = padded[rank::world]
        return iter((self.epoch, int(i)) for i in order)


class _Module(L.LightningModule):
    """A training step shared by heads and clip models: the loss, its logging, the optimizer. The loss is
    the task's: ``cross_entropy`` over classes (accuracy logged too), or ``mse`` / ``huber`` on the one
    output of a regression model."""

    def __init__(self, config: TrainConfig, class_weights: torch.Tensor | None, loss: str = "cross_entropy") -> None:
        super().__init__()
        if loss != "cross_entropy" and loss not in VALUE_LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(VALUE_LOSSES)}; got {loss!r}")
        self.config = config
        self.loss_kind = loss
        self.register_buffer("class_weights", class_weights, persistent=False)

    def _log(self, stage: str, logits: torch.Tensor, y: torch.Tensor, clips: int) -> torch.Tensor:
        if self.loss_kind != "cross_entropy":
            predicted, target = logits.float()[:, 0], y.float()
            value = F.mse_loss(predicted, target) if self.loss_kind == "mse" else F.huber_loss(predicted, target)
            self.log(f"{stage}_loss", value, on_step=False, on_epoch=True, prog_bar=True, batch_size=clips,
                     sync_dist=True)
            return value
        smoothing = self.config.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits.float(), y, weight=self.class_weights, label_smoothing=smoothing)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=clips, sync_dist=True)
        self.log(f"{stage}_acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, batch_size=clips,
                 sync_dist=True)
        return loss


class HeadModule(_Module):
    """The training step of a temporal head on feature views."""

    def __init__(self, head: TemporalHead, config: TrainConfig, class_weights: torch.Tensor | None, *,
                 loss: str = "cross_entropy") -> None:
        super().__init__(config, class_weights, loss)
        self.head = head

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(x, mask)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, mask, y = batch
        return self._log("train", self.head(x, mask), y, len(y))

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, mask, y = batch
        return self._log("val", self.head(x, mask), y, len(y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.head.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)


class ClipModule(_Module):
    """The training step of a clip model on uint8 clips (B, T, C, H, W); the backbone at ``backbone_lr``."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig, class_weights: torch.Tensor | None,
                 backbone_lr: float, *, loss: str = "cross_entropy") -> None:
        super().__init__(config, class_weights, loss)
        self.model = model
        self.backbone_lr = backbone_lr

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(clips)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        clips, y = batch
        logits, targets = self.model.training_logits(clips.contiguous(memory_format=torch.contiguous_format), y)
        return self._log("train", logits, targets, len(y))

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        clips, y = batch
        return self._log("val", self.model(clips), y, len(y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        groups = self.model.parameter_groups(self.config.lr, self.backbone_lr)
        return torch.optim.AdamW(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)


def class_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, normalised to mean 1 over the classes present."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def train_loader(dataset: Dataset, config: TrainConfig) -> DataLoader:
    """Shuffled ``(epoch, index)`` batches, with workers and pinned memory where asked for."""
    return DataLoader(dataset, batch_size=config.batch_size, sampler=EpochSampler(len(dataset), seed=config.seed),
                      num_workers=config.workers, persistent_workers=config.workers > 0,
                      pin_memory=torch.cuda.is_available(), worker_init_fn=die_with_parent)


def fit_module(
    module: _Module,
    train: DataLoader,
    val: DataLoader | None,
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    progress: bool = False,
    resume: bool = False,
) -> FitResult:
    """Fit ``module`` early-stopping on the validation loss (the training loss without validation
    data) and load its best weights back into it.

    With ``out_dir`` the per-epoch metrics CSV and the best and last checkpoints are kept there
    (``checkpoints/``), and ``resume`` continues from the last one; without, they live in a
    temporary folder. Deterministic on the CPU for a given ``config.seed``.
    """
    for noisy in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    monitor = "val_loss" if val is not None else "train_loss"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(out_dir) if out_dir is not None else Path(scratch)
        last = root / CHECKPOINTS / LAST_CHECKPOINT
        if resume and not last.is_file():
            raise ConfigError(f"{root}: nothing to resume (no {CHECKPOINTS}/{LAST_CHECKPOINT}); train without --resume")
        checkpoint = ModelCheckpoint(dirpath=root / CHECKPOINTS, filename="best", monitor=monitor, mode="min",
                                     save_top_k=1, save_last=True, enable_version_counter=False)
        logger = CSVLogger(root, name="", version="") if out_dir is not None else False
        on_cpu = config.accelerator == "cpu" or not torch.cuda.is_available()
        trainer = L.Trainer(
            accelerator=config.accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            use_distributed_sampler=False,  # EpochSampler shares out each epoch itself; every rank validates all
            precision=config.resolved_precision(),
            max_epochs=config.epochs,
            deterministic=True if on_cpu else "warn",
            gradient_clip_val=config.grad_clip or None,
            accumulate_grad_batches=config.accumulate,
            callbacks=[EarlyStopping(monitor=monitor, mode="min", patience=config.patience), checkpoint,
                       *([RichProgressBar(console_kwargs={"stderr": True})] if progress else [])],  # bars on stderr
            logger=logger,
            enable_progress_bar=progress,
            enable_model_summary=False,
            log_every_n_steps=1,
            num_sanity_val_steps=0,
        )
        with warnings.catch_warnings():
            for message in (".*does not have many workers.*", ".*number of training batches.*",
                            ".*exists and is not empty.*", ".*LeafSpec.*", ".*deterministic.*",
                            ".*module\\(s\\) in eval mode.*",  # frozen stages stay in eval mode on purpose
                            ".*no `val_dataloader`.*"):  # without validation data the training loss is monitored
                warnings.filterwarnings("ignore", message=message)
            module.train()  # Lightning keeps each submodule's mode; a pretrained backbone arrives in eval mode
            trainer.fit(module, train, val, ckpt_path=str(last) if resume else None)
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(best["state_dict"])
        best_epoch = int(best.get("epoch", -1))
        # Every rank reads rank 0's checkpoint (Lightning broadcasts its folder), so rank 0 must not
        # delete its temporary folder before the others have read from it.
        trainer.strategy.barrier("best checkpoint read")
    module.eval()
    score = checkpoint.best_model_score
    result = FitResult(
        epochs_run=trainer.current_epoch,
        best_epoch=best_epoch,
        best_val_loss=float(score) if score is not None and val is not None else None,
        metrics_csv=(Path(out_dir) / "metrics.csv") if out_dir is not None else None,
    )
    # The trainer and its loops point at each other, and hold the data loaders (a fit's features or clips):
    # unlinked from the module and collected now, not whenever Python's cycle collector next runs its oldest
    # generation, which in a comparison's 150 fits in one process let the memory grow by about 90 MB a fit.
    module.trainer = None
    del trainer
    gc.collect()
    return result


def fit_head(
    head: TemporalHead,
    train: Sequence[Example],
    val: Sequence[Example],
    spec: ViewSpec,
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    progress: bool = False,
    resume: bool = False,
    loss: str = "cross_entropy",
) -> FitResult:
    """Train ``head`` on feature views of ``train``, early-stopping on ``val``; ``head`` ends with its best weights.
    ``loss``: ``cross_entropy`` over class indices, or ``mse`` / ``huber`` on standardised targets (its one output).
    The ``linear`` head is fitted by scikit-learn instead (:func:`fit_linear`), for classes only."""
    if not train:
        raise ConfigError("no training videos: the training split is empty")
    if isinstance(head, LinearHead):
        return fit_linear(head, train, val, spec, config, loss=loss)
    return fit_head_on(head, GridViews(Files([e.features for e in train]), [e.label for e in train], spec, train=True,
                                       seed=config.seed),
                       GridViews(Files([e.features for e in val]), [e.label for e in val], spec, train=False),
                       [e.label for e in train], config, out_dir=out_dir,
                       progress=progress, resume=resume, loss=loss)


def fit_head_on(
    head: TemporalHead,
    train: Dataset,
    val: Dataset | None,
    labels: Sequence[int] | Sequence[float],
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    progress: bool = False,
    resume: bool = False,
    loss: str = "cross_entropy",
) -> FitResult:
    """Train ``head`` by gradient descent on datasets of ``(x, mask, target)`` views (whole files:
    :class:`vidclass.inputs.views.GridViews` of :class:`vidclass.inputs.units.Files`; clips of recordings: of
    :class:`vidclass.inputs.units.TrackClips`), early-stopping on
    ``val``; ``labels`` are the training targets (for class weights). ``head`` ends with its best weights."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    weights = (class_weights([int(label) for label in labels], head.num_classes)
               if config.class_weights and loss == "cross_entropy" else None)
    module = HeadModule(head, config, weights, loss=loss)
    val_loader = DataLoader(val, batch_size=64) if val is not None and len(val) else None
    result = fit_module(module, train_loader(train, config), val_loader, config, out_dir=out_dir, progress=progress,
                        resume=resume)
    head.eval()
    return result


def fit_clip_model(
    model: torch.nn.Module,
    train: Dataset,
    val: Dataset | None,
    labels: Sequence[int] | Sequence[float],
    config: TrainConfig,
    *,
    backbone_lr: float,
    out_dir: Path | None = None,
    progress: bool = False,
    resume: bool = False,
    loss: str = "cross_entropy",
) -> FitResult:
    """Train a clip model on clip datasets (:class:`vidclass.inputs.pixels.ClipDataset`); ``labels`` are the
    training labels (for class weights). ``loss``: as :func:`fit_head`'s. ``model`` ends with its best weights,
    in eval mode."""
    if len(train) == 0:
        raise ConfigError("no training videos: the training split is empty")
    L.seed_everything(config.seed, workers=True, verbose=False)
    weights = (class_weights([int(label) for label in labels], model.num_classes)
               if config.class_weights and loss == "cross_entropy" else None)
    module = ClipModule(model, config, weights, backbone_lr, loss=loss)
    val_loader = (DataLoader(val, batch_size=config.batch_size, num_workers=config.workers,
                             pin_memory=torch.cuda.is_available()) if val is not None and len(val) else None)
    result = fit_module(module, train_loader(train, config), val_loader, config, out_dir=out_dir, progress=progress,
                        resume=resume)
    model.eval()
    return result
