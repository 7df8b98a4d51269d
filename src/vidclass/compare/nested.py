"""Selection-aware (nested) comparison: what "pick the best recipe with compare" delivers on new groups.

The best row of a comparison is the maximum of many noisy scores on the same folds, so its
cross-validated accuracy is optimistic as an estimate of the recipe a user then trains. The
nested comparison scores the *procedure* instead: for each outer grouped fold the recipes are
ranked by an inner grouped CV on that fold's training part only, and the inner winner's score on
the outer test fold (the same fit the plain table holds for that recipe and fold) is what the
procedure delivered there. The mean over the outer folds is the selection score; the best row's
accuracy minus it is the optimism, both with Student-t intervals over the outer folds (the
optimism's from the paired per-fold differences). Inner results are stored under
``OUT/nested/outer-K/`` like any comparison, so a rerun computes only what is missing, and
frozen-feature recipes reuse the cached features: the inner folds retrain heads only.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vidclass.compare.recipes import Recipe
from vidclass.compare.report import RecipeSummary, summarize, t_interval
from vidclass.compare.run import CompareSettings, Folds, Log, RecipeOutcome, run_comparison
from vidclass.data.items import Catalog
from vidclass.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NestedEstimate:
    """The selection procedure's score on the outer folds, its optimism and the inner winners."""

    inner_folds: int
    winners: tuple[str, ...]  # the inner ranking's winner, per outer fold
    fold_scores: tuple[float, ...]  # each winner's accuracy on its outer test fold
    score: float  # mean of fold_scores: what choosing by compare delivers on unseen groups
    ci95: tuple[float, float] | None
    best: str  # the plain table's best recipe (the one `train --recipe best` would take)
    best_accuracy: float  # its cross-validated accuracy, the number the plain table reports
    optimism: float  # best_accuracy - score
    optimism_ci95: tuple[float, float] | None
    wins: dict[str, int]  # how often each recipe won the inner ranking

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def format(self) -> str:
        """Three lines for a terminal or a report."""
        interval = f" (95% CI {self.ci95[0]:.3f}-{self.ci95[1]:.3f})" if self.ci95 else ""
        optimism = (f" (95% CI {self.optimism_ci95[0]:+.3f} to {self.optimism_ci95[1]:+.3f})"
                    if self.optimism_ci95 else "")
        wins = ", ".join(f"{name} {count}" for name, count in sorted(self.wins.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"selection-aware accuracy (pick the best recipe by an inner {self.inner_folds}-fold grouped CV, score "
                f"it on the outer fold): {self.score:.3f}{interval}\n"
                f"optimism of the best row ({self.best}, {self.best_accuracy:.3f}): {self.optimism:+.3f}{optimism}\n"
                f"inner winners over {len(self.winners)} outer folds: {wins}")


def first_trainable(rows: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The best-ranked row that finished every fold and trains as one model (an ensemble's members do not)."""
    return next((row for row in rows if row["status"] == "ok" and row["family"] != "ensemble"), None)


def fits_planned(recipes: Sequence[Recipe], outer: int, inner: int) -> int:
    """Model fits a nested comparison makes from scratch: per trained recipe, outer folds x (1 + inner folds)."""
    return sum(1 for recipe in recipes if recipe.family != "ensemble") * outer * (1 + inner)


def run_nested(
    catalog: Catalog,
    outer: Folds,
    recipes: Sequence[Recipe],
    outcomes: Sequence[RecipeOutcome],
    rows: Sequence[RecipeSummary],
    out: Path,
    settings: CompareSettings,
    inner_folds: int,
    *,
    log: Log = lambda message: None,
) -> NestedEstimate:
    """Rank ``recipes`` by an inner grouped CV inside every ``outer`` fold of ``catalog`` and score each inner winner
    with its result on that outer fold (from ``outcomes``, the plain comparison on the same outer folds, whose
    ranked ``rows`` give the best row). ``catalog`` is the one the outer comparison ran on (readable items)."""
    best = first_trainable(row.as_dict() for row in rows)
    if best is None:
        raise ConfigError("no recipe finished every outer fold; a nested comparison needs at least one")
    inner_settings = dataclasses.replace(settings, folds=inner_folds, speed_clips=0, budget=None)
    by_name = {outcome.recipe.name: outcome for outcome in outcomes}
    winners, scores = [], []
    for fold, (train_index, _) in enumerate(outer):
        part = dataclasses.replace(catalog, items=[catalog.items[i] for i in train_index])
        log(f"compare --nested: outer fold {fold + 1}/{len(outer)}: ranking {len(recipes)} recipes by "
            f"{inner_folds}-fold grouped CV on its {len(part.items)} training clips")
        inner = run_comparison(part, recipes, out / "nested" / f"outer-{fold}", inner_settings,
                               log=lambda message: log(f"[outer {fold + 1}] {message}"))
        winner = first_trainable(row.as_dict() for row in summarize(inner, inner_folds, list(catalog.labels)))
        if winner is None:
            raise ConfigError(f"outer fold {fold + 1}: no recipe finished every inner fold, so none can be chosen")
        scored = next((r for r in by_name[winner["name"]].folds if r.fold == fold), None)
        if scored is None:
            raise ConfigError(f"outer fold {fold + 1}: the inner winner {winner['name']} has no result on it")
        winners.append(winner["name"])
        scores.append(scored.accuracy)
        log(f"compare --nested: outer fold {fold + 1}: inner winner {winner['name']} "
            f"({winner['accuracy']:.3f} inner), {scored.accuracy:.3f} on the outer test fold")
    best_folds = list(best["fold_accuracy"])
    score = statistics.fmean(scores)
    return NestedEstimate(
        inner_folds=inner_folds, winners=tuple(winners), fold_scores=tuple(scores), score=score,
        ci95=t_interval(scores), best=best["name"], best_accuracy=best["accuracy"],
        optimism=best["accuracy"] - score,
        optimism_ci95=t_interval([b - s for b, s in zip(best_folds, scores, strict=True)]),
        wins=dict(Counter(winners)),
    )


def check_inner_folds(catalog: Catalog, folds: Folds, inner_folds: int) -> None:
    """Refuse before any work when an outer training part has too few groups for ``inner_folds`` folds."""
    if inner_folds < 2:
        raise ConfigError(f"--inner-folds must be at least 2; got {inner_folds}")
    for fold, (train_index, _) in enumerate(folds):
        groups = {catalog.items[i].fold_group for i in train_index}
        if len(groups) < inner_folds:
            raise ConfigError(f"{catalog.root}: outer fold {fold + 1}'s training part has {len(groups)} groups, "
                              f"too few for {inner_folds} inner folds; lower --inner-folds or --folds")
