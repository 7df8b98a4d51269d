"""``compare``: run the recipes, rank them (nested: and measure the ranking), write the reports; ``best_recipe``
reads a finished one back."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidclass.compare.nested import NestedEstimate, check_inner_folds, first_trainable, fits_planned, run_nested
from vidclass.compare.recipes import Recipe
from vidclass.compare.report import RecipeSummary, summarize, write_reports
from vidclass.compare.run import CompareSettings, Log, grouped_folds, run_comparison
from vidclass.data import catalog as catalog_
from vidclass.data.items import Catalog
from vidclass.errors import ConfigError


@dataclass(frozen=True)
class Comparison:
    """What ``compare`` found: the ranked rows, the report files and, when nested, the selection-aware estimate."""

    rows: list[RecipeSummary]
    paths: dict[str, Path]
    nested: NestedEstimate | None = None


def compare(
    catalog: Catalog,
    recipes: Sequence[Recipe],
    out: str | Path,
    settings: CompareSettings = CompareSettings(),
    *,
    inner_folds: int | None = None,
    log: Log = lambda message: None,
) -> Comparison:
    """Score ``recipes`` on the grouped folds of ``catalog``, rank them and write the reports into ``out``; with
    ``inner_folds``, also the selection-aware estimate (:mod:`vidclass.compare.nested`)."""
    out = Path(out)
    start = time.perf_counter()
    catalog = catalog_.drop_unreadable(catalog)  # probed once: the nested comparison splits the same readable clips
    outer = grouped_folds(catalog, settings.folds, settings.seed) if inner_folds is not None else []
    if inner_folds is not None:
        check_inner_folds(catalog, outer, inner_folds)
        log(f"compare --nested: {fits_planned(recipes, settings.folds, inner_folds)} fits ({settings.folds} outer folds "
            f"x (1 + {inner_folds} inner) per recipe); the recipes' costs estimate "
            f"{_planned_minutes(recipes, len(catalog.items), settings.folds, inner_folds):.0f} min of training "
            "once inputs are cached (stored results are reused)")
    outcomes = run_comparison(catalog, recipes, out, settings, log=log)
    rows = summarize(outcomes, settings.folds, list(catalog.labels))
    nested = (run_nested(catalog, outer, recipes, outcomes, rows, out, settings, inner_folds, log=log)
              if inner_folds is not None else None)
    groups = {item.fold_group for item in catalog.items}
    meta: dict[str, Any] = {
        "dataset": str(catalog.root), "clips": len(catalog.items), "groups": len(groups), "folds": settings.folds,
        "seed": settings.seed, "val": settings.val, "budget_seconds": settings.budget,
        "seconds": time.perf_counter() - start,
        # what the table cost, over every run that stored its (recipe, fold) results (a resumed comparison's own
        # run time says only what that run added); ensembles reuse their members' fits
        "training_seconds": sum(r.fit_seconds * r.folds for r in rows if r.family != "ensemble" and r.fit_seconds),
        "load_average": [round(x, 1) for x in os.getloadavg()],  # times mean little on a busy machine: say how busy
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "nested": nested.as_dict() if nested is not None else None,
    }
    return Comparison(rows, write_reports(out, rows, meta, nested.format() if nested is not None else None), nested)


def _planned_minutes(recipes: Sequence[Recipe], clips: int, outer: int, inner: int) -> float:
    """Training minutes a nested run should take by the recipes' own costs (seconds per fold per 100 clips of the
    dataset a comparison splits): each outer fold splits all ``clips``, each inner fold an outer training part."""
    per_100 = sum(recipe.cost for recipe in recipes if recipe.family != "ensemble") / 100
    return per_100 * outer * (clips + inner * clips * (outer - 1) / outer) / 60


def best_recipe(compare_dir: str | Path) -> tuple[Recipe, str]:
    """The best-ranked recipe of a finished comparison that trains as one model (an ensemble's members do not),
    and the estimate that backs the choice: the nested one when the comparison measured it."""
    path = Path(compare_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no comparison results here; run `vidclass compare DATASET --out {compare_dir}` first")
    results = json.loads(path.read_text())
    row = first_trainable(results["recipes"])
    if row is None:
        raise ConfigError(f"{path}: no recipe finished every fold; nothing to train")
    recipe = Recipe(row["name"], row["family"], f"the best recipe of {compare_dir}", row["params"],
                    weights=row["weights"])
    ranked = sum(1 for r in results["recipes"] if r["status"] == "ok")
    cv = (f"{row['accuracy']:.3f} ({results['folds']}-fold grouped CV, the best of {ranked} recipes on the same "
          "folds")
    nested = results.get("nested")
    if nested is None:
        return recipe, (f"{cv}: optimistic, since it was chosen on the folds it is scored on; `vidclass compare "
                        "--nested` measures by how much)")
    return recipe, (f"{nested['score']:.3f}, the selection-aware estimate of choosing this way (nested CV, "
                    f"optimism {nested['optimism']:+.3f}); its own CV {cv})")
