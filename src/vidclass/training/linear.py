"""The ``linear`` head's fit: scikit-learn's logistic regression on the mean inputs of every evaluation view,
in one pass (no epochs, no Lightning)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vidclass.errors import ConfigError
from vidclass.inputs.views import ViewSpec, cut_grid_view, view_averaged
from vidclass.models.heads import LinearHead
from vidclass.training.config import Example, FitResult, TrainConfig


def fit_linear(head: LinearHead, train: Sequence[Example], val: Sequence[Example], spec: ViewSpec,
               config: TrainConfig, *, loss: str = "cross_entropy") -> FitResult:
    """Fit the ``linear`` head as scikit-learn's L2 logistic regression (lbfgs, ``C = head.options.c``).

    Every evaluation view of a training video is one sample: the mean of its frames' inputs, standardised by
    the statistics of those means (kept in the head). Deterministic, no epochs; ``val`` gives the reported loss
    (and is left out of the fit, so temperature scaling on it stays honest). Classes only: another ``loss`` (a
    regression's) is refused by name."""
    from sklearn.linear_model import LogisticRegression

    if loss != "cross_entropy":
        raise ConfigError("the linear head is a logistic regression over classes: it has no regression form; "
                          "estimate a number with another head (gru, attention, mean, ...)")

    means, labels = _view_means(train, spec)
    missing = sorted(set(range(head.num_classes)) - set(labels.tolist()))
    if missing:
        raise ConfigError(f"head 'linear': the training split has no video of class index {missing[0]}; "
                          "a logistic regression needs every class")
    mean, std = means.mean(axis=0), np.maximum(means.std(axis=0), 1e-6)
    head.set_standardization(torch.from_numpy(mean), torch.from_numpy(std))
    fitted = LogisticRegression(C=head.options.c, max_iter=5000,
                                class_weight="balanced" if config.class_weights else None)
    fitted.fit((means - mean) / std, labels)
    head.set_weights(torch.from_numpy(fitted.coef_), torch.from_numpy(fitted.intercept_))
    head.eval()
    val_loss = None
    if val:
        probabilities = view_averaged(head, [example.features for example in val], spec)
        picked = probabilities[np.arange(len(val)), [example.label for example in val]]
        val_loss = float(-np.log(np.clip(picked, 1e-12, None)).mean())
    return FitResult(epochs_run=1, best_epoch=None, best_val_loss=val_loss, metrics_csv=None)


def _view_means(examples: Sequence[Example], spec: ViewSpec) -> tuple[np.ndarray, np.ndarray]:
    """(samples, D) means of the real frames of every evaluation view of ``examples``, and their labels."""
    means, labels = [], []
    for example in examples:
        for view in range(spec.test_views):
            x, mask = cut_grid_view(example.features, spec, view=view)
            means.append(x[mask].mean(axis=0))
            labels.append(example.label)
    return np.stack(means).astype(np.float64), np.array(labels)
