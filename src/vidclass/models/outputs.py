"""What a network's raw outputs mean for each task, in one place: a classifier's logits become class
probabilities (softmax), a regression model's one output is its standardised value. Batch prediction
averages these over evaluation views (:func:`vidclass.inputs.views.view_averaged`,
:func:`vidclass.inputs.pixels.clip_model_outputs`); the task strategy names which applies
(:mod:`vidclass.estimator.tasks`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tensors' own methods do the work: importing this module imports no torch
    import torch

Outputs = Callable[["torch.Tensor"], "torch.Tensor"]  # (B, outputs) raw -> (B, outputs) what is averaged


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (B, C) of a classifier's logits."""
    return logits.float().softmax(dim=1)


def values(outputs: torch.Tensor) -> torch.Tensor:
    """A regression model's standardised value (B, 1): its one output."""
    return outputs[:, :1].float()
