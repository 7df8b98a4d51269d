"""Saying when a classifier learnt nothing: test predictions that cannot be told from guessing, or that are
(almost) all one class.

Two signs, either enough: the mean class accuracy (balanced accuracy: what always answering one class, or
answering at random, scores ``1 / classes``) is not above chance by more than a one-sided 95 % margin of a
guesser on this many test videos (``1.645 * sqrt(p (1 - p) / n)`` with ``p = 1 / classes``), a margin never
wider than half the way from chance to a perfect score (so a tiny test split that a model gets all right is not
called chance); or one class takes :data:`ONE_CLASS_SHARE` of the predictions while the true labels are not that
lopsided. Training, evaluation and
comparison report it with what to try, instead of printing a model at chance as an ordinary result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ONE_CLASS_SHARE = 0.9  # the most predicted class takes at least this share of the predictions: (almost) one class
MARGIN_Z = 1.645  # one-sided 95 %: a guesser scores above chance + this many standard errors one time in twenty
EARLY_EPOCHS = 2  # a head whose best epoch is among its first this many stopped before it learnt anything
LEARNT_NOTHING = "the model may have learnt nothing"

TRY = ("try more epochs or another learning rate (--epochs, --lr), other inputs or heads (`vidclass compare`), "
       "more videos per class, or check the labels (`vidclass data`)")


def learnt_nothing(y_true: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> str | None:
    """A warning (what was seen, and what to try) when the predictions of true classes ``y_true`` (indices into
    ``labels``) show that the model learnt nothing, else None; None too where fewer than two classes were
    tested, since chance is then undefined."""
    y, p = np.asarray(y_true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    present = np.unique(y)
    if len(y) == 0 or len(present) < 2:
        return None
    chance = 1.0 / len(present)
    balanced = float(np.mean([np.mean(p[y == c] == c) for c in present]))
    margin = min(MARGIN_Z * math.sqrt(chance * (1 - chance) / len(y)), (1 - chance) / 2)
    top = int(np.bincount(p, minlength=len(labels)).argmax())
    share = float(np.mean(p == top))
    signs = []
    if balanced <= chance + margin:
        signs.append(f"its mean class accuracy {balanced:.3f} on {len(y)} test videos is at chance level "
                     f"({chance:.3f} for {len(present)} classes; up to {chance + margin:.3f} it cannot be told from "
                     "guessing)")
    if share >= ONE_CLASS_SHARE and np.mean(y == top) < ONE_CLASS_SHARE:
        signs.append(f"it predicts {labels[top]!r} for {share:.0%} of them")
    if not signs:
        return None
    return f"{LEARNT_NOTHING}: {' and '.join(signs)}; {TRY}"


def stopped_early(best_epoch: int | None, epochs_run: int, *, lr: float, patience: int, batch_size: int) -> str | None:
    """For a model that learnt nothing: a warning when its trained head's best epoch (0-based) was among its first
    :data:`EARLY_EPOCHS` and early stopping ended the run, so either its optimisation settings do not fit the data
    or its inputs hold nothing a head can use, else None (no epochs: a head fitted in one pass).

    Both causes are named because both were seen: on egogestar (11 gestures) the attention head on RGB differences
    stayed at 0.15-0.23 under learning rates 3e-4 to 3e-3 and patience 10 or 30, where the linear head, which has
    no optimisation settings, scored 0.22 on those inputs and 0.76 on flow (``benchmarks/optimisation.py``)."""
    if best_epoch is None or best_epoch >= EARLY_EPOCHS:
        return None
    return (f"its head was best after epoch {best_epoch + 1} and early stopping ended it {epochs_run - best_epoch - 1} "
            f"epochs later (patience {patience}): either the optimisation settings (lr {lr:g}, batch {batch_size}) do "
            f"not fit this dataset, so try a smaller --lr (e.g. {lr / 3:.2g}) with a larger --patience, or --batch-size "
            f"{max(1, batch_size // 2)}, or the inputs hold nothing for these classes: if `--head linear` (no epochs) "
            "on the same --inputs is at chance too, try other --inputs")
