"""Score recipes side by side on the same grouped outer folds, resumably.

Every recipe is trained on each fold's training part (its early stopping on a group-aware
validation part carved from that training part only, never from the test fold) and scored
on the fold's test part. Each (recipe, fold) result is written atomically to
``OUT/runs/RECIPE/fold-K.json`` the moment it finishes, with the test probabilities, so a
rerun after a kill, or with more recipes, computes only what is missing, and an ensemble
recipe is the average of its members' stored probabilities. Features, decoded frames and
poses come from the shared caches (``cache_dir``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold

from vidclass.compare.recipes import Recipe
from vidclass.data import catalog as catalog_
from vidclass.data.items import Catalog
from vidclass.errors import ConfigError, DatasetError, VidclassError
from vidclass.util.atomic import write_atomic

Log = Callable[[str], None]
Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class CompareSettings:
    """How recipes are compared: outer folds, their seed, the inner validation fraction, the budget."""

    folds: int = 5
    seed: int = 0
    val: float = 0.2
    budget: float | None = None  # seconds for this run; recipes whose estimate does not fit are skipped
    cache_dir: Path | None = None
    workers: int = 1
    speed_clips: int = 8  # test clips of fold 0 labelled with an empty cache to measure inference speed (0: none)

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2; got {self.folds}")
        if not 0.0 < self.val < 1.0:
            raise ConfigError(f"val must be a fraction between 0 and 1; got {self.val}")
        if self.speed_clips < 0:
            raise ConfigError(f"speed clips must be 0 (no timing) or more; got {self.speed_clips}")
        if self.budget is not None and self.budget <= 0:
            raise ConfigError(f"budget must be positive; got {self.budget}")


@dataclass
class FoldResult:
    """One recipe scored on one outer fold, with what is needed to fuse it into an ensemble."""

    recipe: str
    fold: int
    settings: dict[str, Any]  # the recipe's parameters when it ran: a changed recipe is recomputed
    accuracy: float
    macro_f1: float
    fit_seconds: float
    test_paths: list[str]
    truth: list[int]
    probabilities: list[list[float]]
    epochs_run: int | None = None
    speed: dict[str, float] | None = None  # fold 0: clips/s and video seconds per wall second, empty cache
    model_bytes: int | None = None


@dataclass
class RecipeOutcome:
    """What happened to a recipe in this comparison: its fold results, or why it has none."""

    recipe: Recipe
    folds: list[FoldResult] = field(default_factory=list)
    error: str | None = None  # failed: the message, the other recipes went on
    skipped: str | None = None  # not run: why (the budget)


def grouped_folds(catalog: Catalog, folds: int, seed: int) -> Folds:
    """``StratifiedGroupKFold(folds, shuffle=True, random_state=seed)`` over the catalog's groups
    (each item its own group when it has none): the outer folds every recipe is scored on."""
    labels = list(catalog.labels)
    y = np.array([labels.index(item.label) for item in catalog.items])
    groups = np.array([item.fold_group for item in catalog.items])
    if len(set(groups)) < folds:
        raise DatasetError(f"{catalog.root}: {len(set(groups))} groups cannot make {folds} group-disjoint folds")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


class ResultStore:
    """``OUT/folds.json`` (the folds, checked on every rerun) and ``OUT/runs/RECIPE/fold-K.json``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)

    def check_folds(self, catalog: Catalog, folds: Folds, settings: CompareSettings) -> None:
        """Record the folds, or refuse a rerun whose folds differ from the stored ones."""
        record = {"dataset": str(catalog.root), "labels": list(catalog.labels), "seed": settings.seed,
                  "val": settings.val, "folds": [[str(catalog.items[i].path) for i in test] for _, test in folds]}
        path = self.out / "folds.json"
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored != record:
                raise ConfigError(
                    f"{path}: this folder holds a comparison with other folds (dataset, labels, seed, --folds or "
                    f"--val differ); use another --out or delete {self.out}"
                )
            return
        _write_json(path, record)

    def _path(self, recipe: str, fold: int) -> Path:
        return self.out / "runs" / recipe / f"fold-{fold}.json"

    def load(self, recipe: Recipe, fold: int) -> FoldResult | None:
        """The stored result of ``recipe`` on ``fold`` if it ran with the recipe's current settings."""
        path = self._path(recipe.name, fold)
        if not path.is_file():
            return None
        try:
            result = FoldResult(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None  # a damaged record is recomputed
        return result if result.settings == _settings_of(recipe) else None

    def save(self, result: FoldResult) -> None:
        path = self._path(result.recipe, result.fold)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(path, asdict(result))


def run_comparison(
    catalog: Catalog,
    recipes: Sequence[Recipe],
    out: Path,
    settings: CompareSettings = CompareSettings(),
    *,
    log: Log = lambda message: None,
) -> list[RecipeOutcome]:
    """Score every recipe on the same outer folds of ``catalog``; results stored under ``out`` as they come."""
    if catalog.segmented:
        raise ConfigError(f"{catalog.root}: compare scores whole files; a segment dataset (time ranges of longer "
                          "videos) is trained with `vidclass train` and scored with `vidclass evaluate`")
    catalog = catalog_.drop_unreadable(catalog)
    catalog_.check_trainable(catalog)
    folds = grouped_folds(catalog, settings.folds, settings.seed)
    store = ResultStore(out)
    store.check_folds(catalog, folds, settings)
    started = time.perf_counter()
    outcomes: dict[str, RecipeOutcome] = {}
    if settings.budget is not None:  # cheapest first, so the budget finishes as many recipes as it can

        def cost(recipe: Recipe) -> float:
            stored = [store.load(recipe, fold) for fold in range(len(folds))]
            done = [result for result in stored if result is not None]
            return _estimate(recipe, done, len(catalog.items), len(folds) - len(done))

        recipes = sorted((r for r in recipes if r.family != "ensemble"), key=cost) + [
            r for r in recipes if r.family == "ensemble"]
    for number, recipe in enumerate(recipes, 1):
        outcome = outcomes[recipe.name] = RecipeOutcome(recipe)
        stored = [store.load(recipe, fold) for fold in range(len(folds))]
        if recipe.family == "ensemble":
            _fuse(outcome, outcomes, len(folds))
            continue
        missing = [fold for fold, result in enumerate(stored) if result is None]
        outcome.folds = [result for result in stored if result is not None]
        if missing and settings.budget is not None:
            left = settings.budget - (time.perf_counter() - started)
            estimate = _estimate(recipe, outcome.folds, len(catalog.items), len(missing))
            if estimate > left:
                outcome.error = _weights_problem(recipe)  # a recipe that cannot run says why, not that it was skipped
                if outcome.error is not None:
                    log(f"compare: {recipe.name} cannot run: {outcome.error}")
                    continue
                outcome.skipped = f"estimated {_minutes(estimate)} for {len(missing)} folds, {_minutes(max(left, 0))} left"
                log(f"compare: skipping {recipe.name}: {outcome.skipped}")
                continue
        for fold in missing:
            spent = time.perf_counter() - started
            if settings.budget is not None and outcome.folds and spent + _estimate(
                    recipe, outcome.folds, len(catalog.items), 1) > settings.budget:
                outcome.skipped = f"the budget ran out after {len(outcome.folds)} folds"
                log(f"compare: stopping {recipe.name}: {outcome.skipped}")
                break
            log(f"compare: recipe {number}/{len(recipes)} {recipe.name}, fold {fold + 1}/{len(folds)} "
                f"({_minutes(spent)} elapsed{_left(settings, spent)})")
            try:
                result = _run_fold(catalog, recipe, folds, fold, settings, log)
            except Exception as error:  # noqa: BLE001 - any failure of a recipe is reported, the others go on
                outcome.error = f"{type(error).__name__}: {error}"
                log(f"compare: {recipe.name} failed on fold {fold + 1}: {outcome.error}")
                break
            store.save(result)
            outcome.folds.append(result)
            log(f"compare: {recipe.name} fold {fold + 1}: accuracy {result.accuracy:.3f} "
                f"in {result.fit_seconds:.0f} s")
        outcome.folds.sort(key=lambda r: r.fold)
    return list(outcomes.values())


def _weights_problem(recipe: Recipe) -> str | None:
    """Why ``recipe``'s network cannot be built here (its pretrained weights are missing, its settings
    are wrong), or None."""
    from vidclass.estimator.classifier import VideoClassifier

    try:
        VideoClassifier(**recipe.classifier_params()).check_weights()
    except VidclassError as error:
        return f"{type(error).__name__}: {error}"
    return None


def _run_fold(
    catalog: Catalog, recipe: Recipe, folds: Folds, fold: int, settings: CompareSettings, log: Log
) -> FoldResult:
    """Fit ``recipe`` on the training part of ``fold`` and score its test part."""
    from vidclass.estimator.classifier import VideoClassifier

    train_index, test_index = folds[fold]
    labels = list(catalog.labels)
    train = Catalog(catalog.root, [catalog.items[i] for i in train_index], labels, catalog.source_format)
    test = [catalog.items[i] for i in test_index]
    model = VideoClassifier(**recipe.classifier_params(), seed=settings.seed, val=settings.val, test=0.0,
                            cache_dir=settings.cache_dir, workers=settings.workers)
    start = time.perf_counter()
    model.fit(train, on_video=_every(25, len(train.items), f"{recipe.name}: inputs of", log))
    fit_seconds = time.perf_counter() - start
    probabilities = model.predict_proba([item.path for item in test])
    truth = np.array([labels.index(item.label) for item in test])
    predicted = probabilities.argmax(axis=1)
    speed = (_inference_speed(model, [item.path for item in test[: settings.speed_clips]])
             if fold == 0 and settings.speed_clips > 0 else None)
    return FoldResult(
        recipe=recipe.name, fold=fold, settings=_settings_of(recipe),
        accuracy=float((predicted == truth).mean()),
        macro_f1=float(f1_score(truth, predicted, average="macro", labels=range(len(labels)), zero_division=0)),
        fit_seconds=fit_seconds, test_paths=[str(item.path) for item in test], truth=truth.tolist(),
        probabilities=probabilities.round(6).tolist(), epochs_run=model.training_["epochs_run"], speed=speed,
        model_bytes=_bundle_bytes(model) if fold == 0 else None,
    )


def _every(step: int, total: int, what: str, log: Log) -> Callable[[str, str], None]:
    """An ``on_video`` callback logging every ``step`` videos prepared (decoded, extracted or read from the cache)."""
    done = 0

    def advance(path: str, status: str) -> None:
        nonlocal done
        done += 1
        if done % step == 0 or done == total:
            log(f"compare: {what} {done}/{total} videos ready")

    return advance


def _inference_speed(model: Any, paths: Sequence[Path]) -> dict[str, float]:
    """Clips/s and video seconds labelled per wall second for ``paths``, decoding from scratch (an empty cache)."""
    from vidclass.media.video import probe

    seconds_of_video = sum(probe(path).duration for path in paths)
    cache_dir = model.cache_dir
    with tempfile.TemporaryDirectory(prefix="vidclass-speed-") as empty:
        model.cache_dir = empty
        try:
            start = time.perf_counter()
            model.predict_proba(list(paths))
            wall = time.perf_counter() - start
        finally:
            model.cache_dir = cache_dir
    return {"clips_per_second": len(paths) / wall, "realtime_factor": seconds_of_video / wall, "clips": len(paths)}


def _bundle_bytes(model: Any) -> int:
    """Size of the saved model bundle (what ``vidclass train`` writes to ``model/``)."""
    with tempfile.TemporaryDirectory(prefix="vidclass-size-") as folder:
        bundle = model.save(Path(folder) / "model")
        return sum(path.stat().st_size for path in bundle.rglob("*") if path.is_file())


def _fuse(outcome: RecipeOutcome, outcomes: dict[str, RecipeOutcome], n_folds: int) -> None:
    """An ensemble's fold results: the mean of its members' probabilities on each fold."""
    members = [outcomes.get(name) for name in outcome.recipe.members]
    if any(m is None or len(m.folds) < n_folds for m in members):
        outcome.skipped = "needs every fold of " + ", ".join(outcome.recipe.members)
        return
    for fold in range(n_folds):
        parts = [m.folds[fold] for m in members]  # type: ignore[union-attr]
        if any(p.test_paths != parts[0].test_paths for p in parts):
            raise ConfigError(f"ensemble {outcome.recipe.name}: its members were scored on different folds")
        probabilities = np.mean([np.asarray(p.probabilities) for p in parts], axis=0)
        truth = np.asarray(parts[0].truth)
        predicted = probabilities.argmax(axis=1)
        speeds = [p.speed for p in parts if p.speed]
        speed = None
        if fold == 0 and len(speeds) == len(parts):  # the members run one after the other
            speed = {key: 1.0 / sum(1.0 / s[key] for s in speeds) for key in ("clips_per_second", "realtime_factor")}
        outcome.folds.append(FoldResult(
            recipe=outcome.recipe.name, fold=fold, settings=_settings_of(outcome.recipe),
            accuracy=float((predicted == truth).mean()),
            macro_f1=float(f1_score(truth, predicted, average="macro", labels=range(probabilities.shape[1]),
                                    zero_division=0)),
            fit_seconds=sum(p.fit_seconds for p in parts), test_paths=parts[0].test_paths, truth=parts[0].truth,
            probabilities=probabilities.round(6).tolist(), speed=speed,
            model_bytes=sum(p.model_bytes or 0 for p in parts) if fold == 0 else None,
        ))


def _estimate(recipe: Recipe, done: Sequence[FoldResult], clips: int, missing: int) -> float:
    """Seconds the missing folds should take: measured folds if any, else the recipe's cost per 100 clips."""
    if done:
        return float(np.mean([r.fit_seconds for r in done])) * missing
    return recipe.cost * clips / 100 * missing


def _settings_of(recipe: Recipe) -> dict[str, Any]:
    return json.loads(json.dumps({"params": dict(recipe.params), "members": list(recipe.members)}))


def _left(settings: CompareSettings, spent: float) -> str:
    return f", {_minutes(settings.budget - spent)} of the budget left" if settings.budget is not None else ""


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _write_json(path: Path, data: Any) -> None:
    write_atomic(path, lambda f: f.write((json.dumps(data, indent=1) + "\n").encode()))
