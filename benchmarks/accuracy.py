"""Accuracy of vidclass's heads under grouped cross-validation, on real and synthetic data.

Two tasks, each on frame features extracted once into a feature cache (default
``.bench/features`` in the repository) and then cross-validated for many recipes:

- ``fight``: the Surveillance Camera Fight clips (default ``../shared/data/fight_surv`` beside
  the repository, 221 clips in 32 source-video groups), ``StratifiedGroupKFold(5, shuffle=True,
  random_state=0)`` over the groups of ``groups.csv``, backbone ``efficientnet_lite0``. Every head
  is scored with the recommended recipe, next to logistic regression on pooled features
  (mean, and mean + mean |frame-to-frame change|). ``--sweep`` adds every tuning recipe tried;
  ``--pose`` adds every head on BlazePose vectors (:mod:`vidclass.inputs.pose`) of the same grid frames:
  ``pose``, ``pose+velocity``, ``appearance+pose``, ``appearance+rgbdiff+pose``.
- ``synthetic``: ``vidclass.data.synthetic``'s direction task (a square that approaches or recedes:
  only temporal order separates the classes), 5-fold CV; order-aware heads should reach >= 0.98, mean pooling on appearance
  alone should stay near chance (the motion channel lets even mean pooling see direction).

Inside each training fold a group-aware 20% validation part (``split_catalog``) drives early
stopping; test folds are only ever scored. Accuracy is reported as the mean over folds with the
std and min-max across folds; with ``--seeds N`` each fold's accuracy is first averaged over N
training seeds, or with ``--ensemble`` is that of the N seeds' averaged probabilities. ``s/fold`` is the mean time of one ``fit_head`` on cached features.

Prints one table per task, then one summary line (the last line). Usage::

    python benchmarks/accuracy.py [--task all|fight|synthetic] [--heads attention,mean] [--quick]
        [--sweep] [--pose] [--seeds 1] [--ensemble] [--data PATH] [--cache-dir DIR] [--threads N] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from cvbench import (
    POOLINGS,
    Dataset,
    PixelRecipe,
    Recipe,
    Score,
    cached_dataset,
    catalog_folds,
    cross_validate,
    cross_validate_pixels,
    logistic_cv,
    outer_folds,
    with_pose,
)

from vidclass.data import synthetic as synthetic_data
from vidclass.data.catalog import load_catalog
from vidclass.data.synthetic import SyntheticSpec
from vidclass.inputs.features import FeatureCache
from vidclass.inputs.views import DEFAULT_INPUTS, INPUTS
from vidclass.media.motion import PAIR_IMAGES
from vidclass.models.backbones import create_backbone
from vidclass.models.heads import list_heads

REPO = Path(__file__).resolve().parents[1]
ORDER_HEADS = ("lstm", "bilstm", "gru", "attention", "transformer")
FIGHT_TARGET = 0.80
ORDER_TARGET = 0.98

# The recommended fight_surv recipe per head (see the module docstring of heads.py for the
# heads' own defaults): regularised input stage, motion channel, 16 of 32 cached frames.
FIGHT_OPTIONS: dict[str, dict] = {head: {} for head in list_heads()}


def fight_recipes(heads: Sequence[str], inputs: str) -> list[Recipe]:
    return [Recipe.make(head, options=FIGHT_OPTIONS[head], inputs=inputs) for head in heads]


POSE_RECIPE_INPUTS = ("pose", "pose+velocity", "appearance+pose", "appearance+rgbdiff+pose")


def pose_recipes(heads: Sequence[str]) -> list[Recipe]:
    """The pose recipes of issue 16: pose alone, with velocities, beside appearance (and RGB differences)."""
    return [Recipe.make(head, options=FIGHT_OPTIONS[head], inputs=inputs) for inputs in POSE_RECIPE_INPUTS for head in heads]


def sweep_recipes(heads: Sequence[str]) -> list[Recipe]:
    """Every recipe tried while tuning on fight_surv (all scored on the same outer folds)."""
    recipes: list[Recipe] = []
    for head in heads:
        for inputs in INPUTS:
            recipes.append(Recipe.make(head, inputs=inputs))
        recipes.append(Recipe.make(head, inputs="appearance+rgbdiff", options={"proj_dim": 64, "input_dropout": 0.5}))
    return recipes


# --- running ------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pixel_task(args: argparse.Namespace) -> list[Score]:
    """fight_surv rows for the models trained on pixels, on the same outer folds as the heads."""
    catalog = load_catalog(args.data)
    folds = catalog_folds(catalog, args.folds, args.cv_seed)
    recipes = [PixelRecipe(model, inputs=inputs, arch=arch or None, epochs=args.pixel_epochs, frames=args.pixel_frames,
                           size=args.pixel_size, lr=args.pixel_lr)
               for model, _, arch in (entry.partition(":") for entry in args.pixels.split(","))
               for inputs in args.pixel_inputs.split(",")]
    scores = []
    for number, recipe in enumerate(recipes, 1):
        start = time.perf_counter()

        def on_fold(fold: int, accuracy: float, seconds: float, name: str = recipe.describe()) -> None:
            log(f"fight [pixels {number}/{len(recipes)}] {name} fold {fold}: {accuracy:.3f} (fit {seconds:.0f} s, "
                f"load {', '.join(f'{x:.1f}' for x in os.getloadavg())})")

        score = cross_validate_pixels(catalog, recipe, folds, cache_dir=args.cache_dir.parent / "pixels",
                                      workers=args.workers, on_fold=on_fold)
        log(f"fight [pixels {number}/{len(recipes)}] {score.name}: {score.mean:.3f} +- {score.std:.3f} "
            f"(folds {', '.join(f'{a:.2f}' for a in score.fold_accuracy)}; {time.perf_counter() - start:.0f} s)")
        scores.append(score)
    return scores


def recipe_task(args: argparse.Namespace) -> list[Score]:
    """fight_surv rows for named recipes (``vidclass recipes``) through ``vidclass.compare``: the same
    outer folds, per-fold results stored (and resumed) under ``--recipes-out``."""
    from vidclass.compare import CompareSettings, compare
    from vidclass.compare.recipes import select_recipes

    settings = CompareSettings(folds=args.folds, seed=args.cv_seed, cache_dir=args.cache_dir.parent / "cache",
                               workers=args.workers)
    rows = compare(load_catalog(args.data), select_recipes(args.recipes), args.recipes_out, settings, log=log).rows
    return [Score(f"recipe {row.name}", list(row.fold_accuracy), fit_seconds=[row.fit_seconds or 0.0],
                  seed_accuracy=[row.accuracy]) for row in rows if row.fold_accuracy]


def fight_task(args: argparse.Namespace, heads: Sequence[str]) -> tuple[list[Score], dict]:
    catalog = load_catalog(args.data)
    encoder = create_backbone(args.backbone)
    cache = FeatureCache(args.cache_dir)
    recipes = fight_recipes(heads, args.inputs) + (sweep_recipes(heads) if args.sweep else [])
    recipes += pose_recipes(heads) if args.pose else []
    recipes = list(dict.fromkeys(recipes))  # the sweep repeats the recommended recipes
    # one feature set per (grid, kind of pair image or ""); the baselines use (32, "rgbdiff")
    kinds = sorted({(recipe.grid, recipe.view.pair_image or "") for recipe in recipes} | {(32, "rgbdiff")})
    data: dict[tuple[int, str], Dataset] = {}
    for grid, pairs in kinds:
        start = time.perf_counter()
        what = f"appearance + {pairs}" if pairs else "appearance"
        log(f"fight: {what} features of {len(catalog.items)} clips, grid {grid} ({args.backbone}) ...")
        data[grid, pairs] = cached_dataset(catalog, encoder, grid, cache, args.workers, pair_image=pairs or None)
        log(f"fight: grid {grid} ready in {time.perf_counter() - start:.0f} s")
        if args.pose:  # pose vectors of the same frames beside every feature set (estimated once, cached)
            data[grid, pairs], report = with_pose(data[grid, pairs], cache, args.workers)
            log(f"fight: pose of grid {grid}: {sum(report.people) / max(len(report.people), 1):.2f} people "
                f"per frame, nobody ever in {len(report.nobody)} clips")
    base = data[32, "rgbdiff"]
    folds = outer_folds(base, args.folds, args.cv_seed)
    for kind, part in data.items():  # every feature set must hold the same clips for the folds to be shared
        if [item.path for item in part.items] != [item.path for item in base.items]:
            raise SystemExit(f"fight: features {kind} lack some clips; rerun to extract them")
    scores = [logistic_cv(base, folds, frames=16, pooling=pooling, c=None) for pooling in POOLINGS]
    scores += _run_recipes(
        "fight", recipes, lambda recipe: data[recipe.grid, recipe.view.pair_image or ""], folds, args.seeds, args.ensemble
    )
    info = {
        "clips": len(base.items),
        "groups": len(set(base.groups)),
        "folds": [len(test) for _, test in folds],
        "labels": base.labels,
    }
    return scores, info


def synthetic_task(args: argparse.Namespace, heads: Sequence[str]) -> tuple[list[Score], dict]:
    spec = SyntheticSpec(clips_per_class=args.synthetic_clips, seconds=2.0, fps=12.0, size=128, seed=0)
    # the folder name carries a hash of the generator's source, so a changed generator writes afresh
    version = hashlib.sha256(Path(synthetic_data.__file__).read_bytes()).hexdigest()[:8]
    name = f"direction-{version}-{spec.clips_per_class}x{spec.seconds:g}s-{spec.fps:g}fps-{spec.size}px"
    root = REPO / ".bench" / name
    if not (root / "labels.csv").is_file():
        log(f"synthetic: writing {2 * spec.clips_per_class} clips to {root} ...")
        synthetic_data.make_direction_dataset(root, spec)
    catalog = load_catalog(root)
    encoder = create_backbone(args.backbone)
    frames = int(spec.seconds * spec.fps) // 2
    data = {pairs: cached_dataset(catalog, encoder, 2 * frames, FeatureCache(args.cache_dir), args.workers,
                                  pair_image=pairs) for pairs in PAIR_IMAGES}
    folds = outer_folds(data["rgbdiff"], args.folds, args.cv_seed)
    recipes = [
        Recipe.make(head, frames=frames, grid=2 * frames, inputs=inputs)
        for inputs in INPUTS
        for head in heads
    ]
    scores = _run_recipes("synthetic", recipes, lambda recipe: data[recipe.view.pair_image or "rgbdiff"], folds,
                          args.seeds, args.ensemble)
    return scores, {"clips": len(data["rgbdiff"].items), "frames": frames, "grid": 2 * frames}


def _run_recipes(
    task: str,
    recipes: Sequence[Recipe],
    data_of: Callable[[Recipe], Dataset],
    folds: list,
    seeds: int,
    ensemble: bool,
) -> list[Score]:
    scores = []
    for number, recipe in enumerate(recipes, 1):
        start = time.perf_counter()
        score = cross_validate(data_of(recipe), recipe, folds, seeds=range(seeds), ensemble=ensemble)
        log(
            f"{task} [{number}/{len(recipes)}] {score.name}: {score.mean:.3f} +- {score.std:.3f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
        scores.append(score)
    return scores


# --- reporting ----------------------------------------------------------------------------------


def table(title: str, scores: Sequence[Score]) -> str:
    width = max(len(score.name) for score in scores)
    lines = [title, f"{'recipe':<{width}}  {'acc':>5}  {'std':>5}  {'min-max':>11}  {'s/fold':>6}  {'epochs':>6}"]
    for score in scores:
        epochs = f"{sum(score.epochs) / len(score.epochs):.0f}" if score.epochs else "-"
        lines.append(
            f"{score.name:<{width}}  {score.mean:5.3f}  {score.std:5.3f}  {score.low:5.3f}-{score.high:5.3f}"
            f"  {score.seconds:6.1f}  {epochs:>6}"
        )
    return "\n".join(lines)


def summary(fight: list[Score] | None, synthetic: list[Score] | None) -> str:
    parts = []
    if fight:
        best = max((s for s in fight if not s.name.startswith("logreg")), key=lambda s: s.mean, default=None)
        if best is not None:
            parts.append(f"best fight_surv {best.name} {best.mean:.2f} +- {best.std:.2f} (target >= {FIGHT_TARGET:.2f})")
        baseline = max((s for s in fight if s.name.startswith("logreg")), key=lambda s: s.mean, default=None)
        if baseline is not None:
            parts.append(f"logreg baseline {baseline.mean:.2f}")
    if synthetic:
        order = [s for s in synthetic if s.name.split()[0] in ORDER_HEADS and " appear " in f" {s.name} "]
        if order:
            worst = min(order, key=lambda s: s.mean)
            verdict = "yes" if worst.mean >= ORDER_TARGET else "no"
            parts.append(f"synthetic order heads >= {ORDER_TARGET}: {verdict} (lowest {worst.name.split()[0]} {worst.mean:.2f})")
        for s in synthetic:
            if s.name.split()[0] == "mean":
                parts.append(f"mean ({s.name.split()[1]}) {s.mean:.2f}")
    return "accuracy: " + "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("all", "fight", "synthetic"), default="all")
    parser.add_argument("--heads", default=",".join(list_heads()), help="comma-separated heads to score")
    parser.add_argument("--quick", action="store_true", help="synthetic with 16 clips per class, fight heads attention and mean")
    parser.add_argument("--sweep", action="store_true", help="also score every fight recipe tried while tuning")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per fold (fold accuracy = their mean)")
    parser.add_argument("--inputs", choices=INPUTS, default=DEFAULT_INPUTS, help="inputs of the fight recipes")
    parser.add_argument("--ensemble", action="store_true", help="score the seeds' averaged probabilities instead")
    parser.add_argument("--pose", action="store_true", help="fight: also score every head on " + ", ".join(POSE_RECIPE_INPUTS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cv-seed", type=int, default=0, help="random_state of StratifiedGroupKFold")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "fight_surv")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--synthetic-clips", type=int, default=40, help="synthetic clips per class")
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".bench" / "features")
    parser.add_argument("--workers", type=int, default=1, help="decode processes during extraction")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, help="also write every score to this JSON file")
    parser.add_argument("--recipes", default="", help="fight: also score these recipes of `vidclass recipes` (or all, fast)")
    parser.add_argument("--recipes-out", type=Path, default=REPO / ".bench" / "compare-accuracy",
                        help="where --recipes stores its per-fold results (a rerun resumes)")
    parser.add_argument("--pixels", default="", help="fight: also score these models trained on pixels, e.g. frame,lrcn,3d:c3d_small")
    parser.add_argument("--pixel-inputs", default="rgb,rgbdiff", help="inputs of the pixel models (rgb, rgbdiff)")
    parser.add_argument("--pixel-epochs", type=int, default=None, help="most epochs of the pixel models (default theirs)")
    parser.add_argument("--pixel-frames", type=int, default=PixelRecipe.frames, help="frames per clip of the pixel models")
    parser.add_argument("--pixel-size", type=int, default=PixelRecipe.size, help="frame side in pixels of the pixel models")
    parser.add_argument("--pixel-lr", type=float, default=PixelRecipe.lr, help="learning rate of the pixel models")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    heads = [h.strip() for h in args.heads.split(",") if h.strip() and h.strip() != "none"]
    unknown = sorted(set(heads) - set(list_heads()))
    if unknown:
        parser.error(f"unknown heads {', '.join(unknown)}; allowed: {', '.join(list_heads())}")
    if args.quick:
        args.synthetic_clips = min(args.synthetic_clips, 16)
    fight = synthetic = None
    report: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    if args.task in ("all", "synthetic"):
        synthetic, report["synthetic"] = synthetic_task(args, heads)
        print(table(f"synthetic direction task, {args.folds}-fold CV ({report['synthetic']})", synthetic))
        print()
    if args.task in ("all", "fight"):
        if not args.data.is_dir():
            raise SystemExit(f"{args.data}: fight_surv data not found; pass --data")
        fight_heads = [h for h in heads if h in ("attention", "mean")] if args.quick else heads
        fight, report["fight"] = fight_task(args, fight_heads) if fight_heads else ([], {})
        if args.pixels:
            fight += pixel_task(args)
        if args.recipes:
            fight += recipe_task(args)
        print(table(f"fight_surv, grouped {args.folds}-fold CV ({report['fight']})", fight))
        print()
    if args.json:
        report["scores"] = {name: [asdict(s) for s in scores] for name, scores in (("fight", fight), ("synthetic", synthetic)) if scores}
        args.json.write_text(json.dumps(report, indent=2))
    print(summary(fight, synthetic))


if __name__ == "__main__":
    main()
