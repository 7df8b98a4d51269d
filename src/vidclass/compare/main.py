"""``compare``: run the recipes, rank them, write the reports; ``best_recipe`` reads a finished one back."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidclass.compare.recipes import Recipe
from vidclass.compare.report import RecipeSummary, summarize, write_reports
from vidclass.compare.run import CompareSettings, Log, run_comparison
from vidclass.data.items import Catalog
from vidclass.errors import ConfigError


def compare(
    catalog: Catalog,
    recipes: Sequence[Recipe],
    out: str | Path,
    settings: CompareSettings = CompareSettings(),
    *,
    log: Log = lambda message: None,
) -> tuple[list[RecipeSummary], dict[str, Path]]:
    """Score ``recipes`` on the grouped folds of ``catalog``, rank them and write the reports into ``out``."""
    out = Path(out)
    start = time.perf_counter()
    outcomes = run_comparison(catalog, recipes, out, settings, log=log)
    rows = summarize(outcomes, settings.folds, list(catalog.labels))
    groups = {item.group if item.group is not None else str(item.path) for item in catalog.items}
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
    }
    return rows, write_reports(out, rows, meta)


def best_recipe(compare_dir: str | Path) -> Recipe:
    """The best-ranked recipe of a finished comparison that trains as one model (an ensemble's members do not)."""
    path = Path(compare_dir) / "results.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no comparison results here; run `vidclass compare DATASET --out {compare_dir}` first")
    for row in json.loads(path.read_text())["recipes"]:
        if row["status"] == "ok" and row["family"] != "ensemble":
            return Recipe(row["name"], row["family"], f"the best recipe of {compare_dir}", row["params"],
                          weights=row["weights"])
    raise ConfigError(f"{path}: no recipe finished every fold; nothing to train")
