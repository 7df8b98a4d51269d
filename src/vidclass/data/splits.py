"""Honest splits: keep the split a dataset brings, and make the missing parts group-aware (clips that
share a source stay on one side) and stratified by label."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass

from vidclass.data.items import SPLITS, Catalog, VideoItem
from vidclass.errors import ConfigError, DatasetError

# --- splits -----------------------------------------------------------------------------------


@dataclass
class Splits:
    """Train/val/test items and how they were made (``method`` says whether groups were used)."""

    train: list[VideoItem]
    val: list[VideoItem]
    test: list[VideoItem]
    method: str
    seed: int

    def parts(self) -> dict[str, list[VideoItem]]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}


def split_catalog(catalog: Catalog, *, val: float = 0.15, test: float = 0.15, seed: int = 0) -> Splits:
    """Split ``catalog`` into train/val/test with every group on one side, stratified by label.

    ``val`` and ``test`` are fractions of all clips. A split the dataset brings is kept; a
    missing val or test part is carved out of its train part (group-aware, stratified, the
    same fractions of all clips). Without groups each clip is its own unit, and ``method`` says
    so. The same catalog and seed always give the same split.
    """
    for name, value in (("val", val), ("test", test)):
        if not (isinstance(value, (int, float)) and 0 <= value < 1):
            raise ConfigError(f"{name} must be a fraction in [0, 1); got {value!r}")
    if val + test >= 1:
        raise ConfigError(f"val + test must be below 1 to leave clips for training; got {val} + {test}")
    given = [item for item in catalog.items if item.split is not None]
    if not given:
        parts, how = group_split(catalog.items, {"train": 1 - val - test, "val": val, "test": test}, seed)
        return Splits(parts["train"], parts["val"], parts["test"], how, seed)
    if len(given) != len(catalog.items):
        raise DatasetError(
            f"{catalog.root}: {len(catalog.items) - len(given)} of {len(catalog.items)} clips have no split; "
            "give every clip a split, or none"
        )
    parts = {name: [item for item in catalog.items if item.split == name] for name in SPLITS}
    if not parts["train"]:
        raise DatasetError(f"{catalog.root}: the dataset's own split has no train clips")
    total = len(catalog.items)
    wanted = {name: fraction for name, fraction in (("val", val), ("test", test)) if fraction and not parts[name]}
    method = f"given {'/'.join(name for name in SPLITS if parts[name])}"
    if wanted:
        train_share = 1 - sum(fraction * total / len(parts["train"]) for fraction in wanted.values())
        if train_share <= 0:
            raise DatasetError(
                f"{catalog.root}: the given train part ({len(parts['train'])} clips) is too small to carve "
                f"{', '.join(wanted)} of {total} clips from it"
            )
        fractions = {"train": train_share}
        fractions.update({name: fraction * total / len(parts["train"]) for name, fraction in wanted.items()})
        carved, how = group_split(parts["train"], fractions, seed)
        parts.update({name: carved[name] for name in ("train", *wanted)})
        method += f"; {' and '.join(wanted)} carved from train by {how}"
    leaked = _groups_on_several_sides(parts)
    if leaked:
        method += f"; warning: {leaked} groups appear in more than one part"
    return Splits(parts["train"], parts["val"], parts["test"], method, seed)


def _groups_on_several_sides(parts: dict[str, list[VideoItem]]) -> int:
    sides: dict[str, set[str]] = defaultdict(set)
    for name, items in parts.items():
        for item in items:
            if item.group is not None:
                sides[item.group].add(name)
    return sum(len(names) > 1 for names in sides.values())


def group_split(
    items: list[VideoItem], fractions: dict[str, float], seed: int
) -> tuple[dict[str, list[VideoItem]], str]:
    """Assign whole groups (or single clips without a group) to parts; the description of how."""
    units: dict[tuple[int, str], list[VideoItem]] = defaultdict(list)
    for item in items:
        units[(0, item.group) if item.group is not None else (1, str(item.path))].append(item)
    keys = sorted(units)
    wanted = [name for name, fraction in fractions.items() if fraction > 0]
    if len(keys) < len(wanted):
        raise DatasetError(
            f"only {len(keys)} {'groups' if any(k[0] == 0 for k in keys) else 'clips'} to share among "
            f"{', '.join(wanted)}; add data or set the unused fractions to 0"
        )
    counts = [Counter(item.label for item in units[key]) for key in keys]
    chosen = _fill_empty_parts(_assign(counts, {name: fractions[name] for name in wanted}, seed), counts, wanted)
    parts: dict[str, list[VideoItem]] = {name: [] for name in fractions}
    for key, name in zip(keys, chosen):
        parts[name] += units[key]
    groups = sum(key[0] == 0 for key in keys)
    singles = len(keys) - groups
    if groups == 0:
        how = "stratified clip split: no groups known"
    elif singles:
        how = f"stratified group split ({groups} groups; {singles} clips without a group split as single clips)"
    else:
        how = f"stratified group split ({groups} groups)"
    return parts, how


def _fill_empty_parts(chosen: list[str], units: list[Counter[str]], wanted: list[str]) -> list[str]:
    """Give every wanted part at least one unit: a tiny fraction of few units can round to nothing,
    which would leave, say, an empty validation part described as carved from train."""
    chosen = list(chosen)
    for name in wanted:
        if name in chosen:
            continue
        sizes = Counter(chosen)
        donor = max(wanted, key=lambda part: sizes[part])  # the part with the most units
        index = min((i for i, part in enumerate(chosen) if part == donor), key=lambda i: units[i].total())
        chosen[index] = name
    return chosen


def _assign(units: list[Counter[str]], fractions: dict[str, float], seed: int) -> list[str]:
    """A part for each unit (its label counts) so every part's label counts match its fraction.

    Greedy: units in a seeded random order each go to the part where they most reduce the squared
    shortfall (per label, relative to the label's size, plus the part's total size). Several
    seeded orders are tried and the best kept, so large groups seen late cannot spoil the result.
    """
    names = list(fractions)
    per_label = Counter()
    for counts in units:
        per_label.update(counts)
    total = sum(per_label.values())
    target = {name: {label: f * n for label, n in per_label.items()} for name, f in fractions.items()}
    size_target = {name: f * total for name, f in fractions.items()}
    rng = random.Random(seed)
    best: tuple[float, list[str]] | None = None
    for _ in range(max(1, min(64, 50_000 // len(units)))):
        order = list(range(len(units)))
        rng.shuffle(order)
        have = {name: Counter() for name in names}
        size = dict.fromkeys(names, 0)
        chosen = [""] * len(units)
        for index in order:
            counts = units[index]
            gains = [_gain(have[n], size[n], target[n], size_target[n], counts, per_label, total) for n in names]
            name = names[gains.index(min(gains))]
            chosen[index] = name
            have[name].update(counts)
            size[name] += counts.total()
        cost = sum(
            (have[name][label] - target[name][label]) ** 2 / per_label[label] for name in names for label in per_label
        ) + sum((size[name] - size_target[name]) ** 2 / total for name in names)
        cost += 1e9 * sum(size[name] == 0 for name in names)
        if best is None or cost < best[0]:
            best = (cost, chosen)
    assert best is not None
    return best[1]


def _gain(
    have: Counter[str],
    size: int,
    target: dict[str, float],
    size_target: float,
    counts: Counter[str],
    per_label: Counter[str],
    total: int,
) -> float:
    """Change of a part's squared shortfall (per label, relative to its size) if it takes ``counts``."""
    by_label = sum(
        ((have[label] + k - target[label]) ** 2 - (have[label] - target[label]) ** 2) / per_label[label]
        for label, k in counts.items()
    )
    n = counts.total()
    return by_label + ((size + n - size_target) ** 2 - (size - size_target) ** 2) / total
