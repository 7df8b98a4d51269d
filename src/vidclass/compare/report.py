"""The comparison's numbers per recipe, ranked, and the files they are written to.

Per recipe: accuracy mean and standard deviation over the outer folds with a 95 % confidence
interval (Student's t over the folds: each fold is one estimate, and clips of a fold are not
independent), macro-F1, training seconds per fold, inference speed (clips/s and video seconds
labelled per wall second on this machine, from an empty cache) and model size. Written as
``report.md``, ``results.json``, ``results.csv`` and ``accuracy_vs_cost.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from vidclass.compare.run import RecipeOutcome
from vidclass.evaluation.chance import learnt_nothing
from vidclass.util.atomic import write_atomic


@dataclass(frozen=True)
class RecipeSummary:
    """One row of the comparison."""

    name: str
    family: str
    weights: str
    settings: str
    folds: int
    params: dict[str, Any]  # the recipe's VideoClassifier parameters ({} for an ensemble)
    accuracy: float | None = None
    std: float | None = None
    ci95: tuple[float, float] | None = None
    macro_f1: float | None = None
    fold_accuracy: tuple[float, ...] = ()
    fit_seconds: float | None = None  # mean per fold
    clips_per_second: float | None = None
    realtime_factor: float | None = None
    model_mb: float | None = None
    status: str = "ok"  # ok, partial (some folds), failed: ..., skipped: ...
    learnt_nothing: str | None = None  # the warning when the pooled out-of-fold predictions are at chance

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def summarize(outcomes: list[RecipeOutcome], n_folds: int, labels: Sequence[str]) -> list[RecipeSummary]:
    """One summary per recipe, ranked: complete recipes by mean accuracy (then macro-F1), then the rest. A recipe
    whose out-of-fold predictions of every fold, pooled, show it learnt nothing (:mod:`vidclass.evaluation.chance`)
    says so (``learnt_nothing``, and ``at chance`` beside its status)."""
    rows = [_summary(outcome, n_folds, labels) for outcome in outcomes]
    complete = sorted((r for r in rows if r.status == "ok"), key=lambda r: (-r.accuracy, -r.macro_f1, r.name))
    return complete + [r for r in rows if r.status != "ok"]


def _summary(outcome: RecipeOutcome, n_folds: int, labels: Sequence[str]) -> RecipeSummary:
    recipe = outcome.recipe
    base = dict(name=recipe.name, family=recipe.family, weights=recipe.weights, settings=recipe.settings(),
                folds=len(outcome.folds), params=dict(recipe.params))
    if not outcome.folds:
        status = f"failed: {outcome.error}" if outcome.error else f"skipped: {outcome.skipped or 'not run'}"
        return RecipeSummary(**base, status=status)
    accuracies = [r.accuracy for r in outcome.folds]
    mean = statistics.fmean(accuracies)
    std = statistics.stdev(accuracies) if len(accuracies) > 1 else None  # one fold gives no spread, no interval
    ci95 = t_interval(accuracies)
    first = next((r for r in outcome.folds if r.fold == 0), None)
    speed = first.speed if first is not None and first.speed else {}
    status = "ok" if len(outcome.folds) == n_folds else (
        f"partial: {len(outcome.folds)} of {n_folds} folds"
        + (f" ({outcome.error or outcome.skipped})" if outcome.error or outcome.skipped else ""))
    truth = [label for result in outcome.folds for label in result.truth]
    predicted = [int(np.argmax(row)) for result in outcome.folds for row in result.probabilities]
    return RecipeSummary(
        **base, learnt_nothing=learnt_nothing(truth, predicted, labels), accuracy=mean, std=std,
        ci95=(max(0.0, ci95[0]), min(1.0, ci95[1])) if ci95 is not None else None,
        macro_f1=statistics.fmean(r.macro_f1 for r in outcome.folds), fold_accuracy=tuple(accuracies),
        fit_seconds=statistics.fmean(r.fit_seconds for r in outcome.folds),
        clips_per_second=speed.get("clips_per_second"), realtime_factor=speed.get("realtime_factor"),
        model_mb=first.model_bytes / 1e6 if first is not None and first.model_bytes else None, status=status,
    )


def t_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """Student's t 95 % interval of the mean of ``values`` (each fold one estimate: the clips of a fold are not
    independent), or None for fewer than two values."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return (mean - half, mean + half)


HEADERS = ("rank", "recipe", "accuracy", "± std", "95% CI", "macro-F1", "train s/fold", "clips/s", "RTF", "MB",
           "weights", "status")


def table_rows(rows: list[RecipeSummary]) -> list[list[str]]:
    """The printed table's cells (``-`` where a recipe has no number)."""
    out = []
    for rank, row in enumerate(rows, 1):
        out.append([
            str(rank) if row.status == "ok" else "-", row.name, _f(row.accuracy, 3), _f(row.std, 3),
            f"{row.ci95[0]:.2f}-{row.ci95[1]:.2f}" if row.ci95 else "-",
            _f(row.macro_f1, 3), _f(row.fit_seconds, 0), _f(row.clips_per_second, 2), _f(row.realtime_factor, 1),
            _f(row.model_mb, 1), row.weights, f"{row.status}, at chance" if row.learnt_nothing else row.status,
        ])
    return out


def write_reports(out: Path, rows: list[RecipeSummary], meta: dict[str, Any], nested: str | None = None
                  ) -> dict[str, Path]:
    """``report.md``, ``results.json``, ``results.csv`` and ``accuracy_vs_cost.png`` in ``out`` (atomically);
    ``nested``, the selection-aware estimate in words, goes into the report beside the table."""
    paths = {"json": out / "results.json", "csv": out / "results.csv", "md": out / "report.md",
             "png": out / "accuracy_vs_cost.png"}
    data = {**meta, "recipes": [row.as_dict() for row in rows]}
    _write_text(paths["json"], json.dumps(data, indent=1) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    fields = [name for name in RecipeSummary.__dataclass_fields__ if name not in ("fold_accuracy", "params")]
    writer.writerow(fields + ["fold_accuracy"])
    for row in rows:
        values = row.as_dict()
        writer.writerow([_csv(values[name]) for name in fields] + [" ".join(f"{a:.4f}" for a in row.fold_accuracy)])
    _write_text(paths["csv"], buffer.getvalue())
    _write_text(paths["md"], _markdown(rows, meta, nested))
    _plot(rows, paths["png"])
    return paths


def _markdown(rows: list[RecipeSummary], meta: dict[str, Any], nested: str | None) -> str:
    lines = [f"# Comparison on {meta['dataset']}", "",
             f"{meta['clips']} clips, {meta['groups']} groups, {meta['folds']}-fold StratifiedGroupKFold "
             f"(seed {meta['seed']}); early stopping on a group-aware {meta['val']:.0%} of each fold's training part. "
             f"Run took {meta['seconds'] / 60:.1f} min on {meta['machine']} (load average at the end "
             f"{' / '.join(str(x) for x in meta.get('load_average', []))}); the results in the table hold "
             f"{meta.get('training_seconds', 0) / 60:.1f} min of training over every run that stored them.", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    if nested is not None:
        lines += ["", "## Selection-aware estimate (nested)", "",
                  "The best row's accuracy is the best of several noisy scores on the same folds. Choosing the "
                  "recipe inside each outer fold, by an inner grouped CV on its training part only, and scoring that "
                  "choice on the outer test fold measures what choosing by this table delivers on new groups:", ""]
        lines += [f"- {line}" for line in nested.splitlines()]
    lines += ["", "RTF: seconds of video labelled per wall second, decoding from an empty cache (fold 0's first test "
              "clips). MB: the saved bundle (frozen-feature bundles hold the head; the backbone comes from its "
              "package). 95% CI: Student's t over the folds.", "", "Settings per recipe:", ""]
    lines += [f"- `{row.name}` ({row.family}): {row.settings}" for row in rows]
    warned = [row for row in rows if row.learnt_nothing]
    if warned:
        lines += ["", "Recipes at chance (their out-of-fold predictions of every fold, pooled):", ""]
        lines += [f"- `{row.name}`: {row.learnt_nothing}" for row in warned]
    return "\n".join(lines) + "\n"


def _plot(rows: list[RecipeSummary], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    scored = [r for r in rows if r.accuracy is not None and r.clips_per_second]
    fig, ax = plt.subplots(figsize=(8, 5))
    for row in scored:
        ax.errorbar(1.0 / row.clips_per_second, row.accuracy, yerr=row.std or 0.0, fmt="o", capsize=3)
        ax.annotate(row.name, (1.0 / row.clips_per_second, row.accuracy), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("inference seconds per clip on this machine (log)")
    ax.set_ylabel("accuracy over the folds (± std)")
    ax.set_title("accuracy against inference cost")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _csv(value: Any) -> Any:
    if isinstance(value, tuple):
        return " ".join(f"{v:.4f}" for v in value)
    return "" if value is None else value


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))
