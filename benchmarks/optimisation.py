"""Optimisation settings of a trained head, scored by grouped CV: does a default fit a small dataset?

Each variant is a registered recipe with some of its ``VideoClassifier`` settings changed (``--vary lr=3e-4``);
every variant (and the recipe as registered) is trained and scored by ``vidclass compare`` on the same grouped
outer folds, results stored under ``--out`` (resumable). Prints a table (accuracy ± std, the mean epoch the
runs stopped at, whether the pooled out-of-fold predictions are at chance) and, last, one summary line.

    python benchmarks/optimisation.py ../shared/data/egogestar --recipe attention-flow \
        --vary lr=3e-4 --vary patience=20 --out /tmp/opt-ego
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from vidclass.compare import CompareSettings, compare
from vidclass.compare.recipes import Recipe, get_recipe
from vidclass.data.catalog import load_catalog


def variant(base: Recipe, change: str) -> Recipe:
    """``base`` with the settings of ``change`` (``name=value[,name=value]``), named after them."""
    params = dict(base.params)
    for pair in change.split(","):
        name, _, value = pair.partition("=")
        params[name] = json.loads(value)
    return Recipe(f"{base.name}@{change}", base.family, f"{base.description}, {change}", params, cost=base.cost)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--recipe", required=True, help="a registered recipe with a trained head")
    parser.add_argument("--vary", action="append", default=[], help="name=value[,name=value]: one variant")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    base = get_recipe(args.recipe)
    recipes = [base] + [variant(base, change) for change in args.vary]
    print(f"load before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    found = compare(load_catalog(args.data), recipes, args.out, CompareSettings(folds=args.folds, seed=args.seed,
                                                                                 speed_clips=0),
                    log=lambda line: print(line, file=sys.stderr))
    print(f"load after: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print("variant\taccuracy\tstd\tepochs run (mean)\tat chance")
    for row in found.rows:
        runs = [json.loads(path.read_text()) for path in sorted((args.out / "runs" / row.name).glob("fold-*.json"))]
        epochs = [run["epochs_run"] for run in runs if run.get("epochs_run") is not None]
        print(f"{row.name}\t{row.accuracy:.3f}\t{row.std:.3f}\t{statistics.fmean(epochs) if epochs else 0:.1f}\t"
              f"{'yes' if row.learnt_nothing else 'no'}")
    best = found.rows[0]
    registered = next(row for row in found.rows if row.name == base.name)
    print(f"summary: {args.data.name} {args.folds}-fold grouped CV: best {best.name} {best.accuracy:.3f}, "
          f"{base.name} as registered {registered.accuracy:.3f} ({best.accuracy - registered.accuracy:+.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
