"""The leak finder: near-duplicate videos across train / val / test, and proposed groups.

Clips cut from one source video (same scene, camera, people) look alike; when such clips
sit on both sides of a split, a model scores by recognising the scene, not the action
(fight-detection papers report 0.90+ on random clip splits where grouped splits give about
0.75). Two cheap signals of "same source", from a few frames per video:

* the **features** of the default frame encoder, cached like any other grid
  (:mod:`vidclass.inputs.features`), centred on the dataset's mean frame feature and compared by
  cosine similarity of each video's mean direction. Centring removes what every video of
  the dataset shares (say, "surveillance footage at night"), so unrelated videos score
  about 0 and clips of one source clearly above (fight_surv: 0.40 +- 0.32 within a source
  video, -0.02 +- 0.12 across sources);
* a **perceptual hash** (pHash, ``imagehash``) of the same frames: the share of equal bits
  of the best-matching frames, which stays near 1 for re-encoded, resized or slightly
  cropped copies whatever the encoder thinks of their content.

A pair is a near-duplicate when either signal passes its threshold. Proposed groups are
the clusters of average-linkage agglomerative clustering on the feature similarity
(``1 - similarity`` as distance, cut at the same threshold), with near-duplicate hash pairs
joined too: one cluster per source video or scene, to review and then split by.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from sklearn.cluster import AgglomerativeClustering

from vidclass.data.items import Catalog
from vidclass.data.splits import Splits
from vidclass.errors import ConfigError, VidclassError
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache, FeatureSpec, load_features
from vidclass.media import video
from vidclass.models.backbones import DEFAULT_BACKBONE, FrameEncoder, create_backbone
from vidclass.util.atomic import write_atomic

FRAMES = 4
SIMILARITY = 0.4
"""Centred cosine similarity at and above which two videos are taken for one source."""
HASH_SIMILARITY = 0.8
"""Share of equal pHash bits (best-matching frames) at and above which two videos are copies."""
THUMBNAIL_SIZE = 96
SHOWN_PAIRS = 8


@dataclass
class Fingerprints:
    """Per readable video: a few frames' encoder features and pHashes, and a thumbnail."""

    paths: list[Path]
    features: np.ndarray  # float32 (N, frames, D)
    hashes: np.ndarray  # bool (N, frames, 64)
    thumbnails: list[np.ndarray]  # uint8 (h, w, 3): the middle sampled frame
    failed: dict[str, str] = field(default_factory=dict)


def fingerprint_videos(
    paths: Sequence[str | Path],
    *,
    encoder: FrameEncoder | None = None,
    frames: int = FRAMES,
    cache: FeatureCache | None = None,
    workers: int = 1,
) -> Fingerprints:
    """Features (cached, default encoder unless ``encoder``) and pHashes of ``frames`` frames per video.

    Unreadable videos go to ``failed`` with their reason, the rest carry on.
    """
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    encoder = encoder or create_backbone(DEFAULT_BACKBONE)
    cache = cache or FeatureCache()
    paths = [Path(p) for p in paths]
    report = extract_features(paths, encoder, frames, cache=cache, workers=workers)
    grids = load_features(paths, FeatureSpec.for_encoder(encoder, frames), cache)
    failed = dict(report.failed)
    kept, features, hashes, thumbnails = [], [], [], []
    for path in paths:
        if path not in grids:
            failed.setdefault(str(path), f"{path}: no features")
            continue
        try:
            images = video.read_frames(path, grids[path].indices, size=THUMBNAIL_SIZE)
        except VidclassError as error:
            failed[str(path)] = str(error)
            continue
        kept.append(path)
        features.append(grids[path].features)
        hashes.append(np.stack([imagehash.phash(Image.fromarray(image)).hash.reshape(-1) for image in images]))
        thumbnails.append(images[len(images) // 2])
    width = encoder.spec.dim
    return Fingerprints(
        kept,
        np.stack(features) if features else np.zeros((0, frames, width), np.float32),
        np.stack(hashes) if hashes else np.zeros((0, frames, 64), bool),
        thumbnails,
        failed,
    )


def feature_similarity(features: np.ndarray) -> np.ndarray:
    """(N, N) cosine similarity of the videos' mean frame directions, centred on the dataset mean."""
    x = features.astype(np.float64)
    x = x - x.reshape(-1, x.shape[-1]).mean(axis=0)
    x /= np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    mean = x.mean(axis=1)
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    return np.clip(mean @ mean.T, -1.0, 1.0)


def hash_similarity(hashes: np.ndarray) -> np.ndarray:
    """(N, N) share of equal pHash bits, each frame matched to its closest frame of the other video."""
    n = len(hashes)
    out = np.ones((n, n))
    for i in range(n):
        equal = (hashes[i][None, :, None, :] == hashes[:, None, :, :]).mean(axis=-1)  # (N, F_i, F_j)
        out[i] = 0.5 * (equal.max(axis=2).mean(axis=1) + equal.max(axis=1).mean(axis=1))
    return np.minimum(out, out.T)


@dataclass(frozen=True)
class Pair:
    """Two videos that look like one source."""

    a: Path
    b: Path
    part_a: str | None
    part_b: str | None
    similarity: float
    hash_similarity: float

    @property
    def strength(self) -> float:
        """The stronger signal on one scale: similarity, or the hash mapped so random bits (0.5) give 0."""
        return max(self.similarity, 2.0 * self.hash_similarity - 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": str(self.a), "b": str(self.b), "part_a": self.part_a, "part_b": self.part_b,
            "similarity": round(self.similarity, 4), "hash_similarity": round(self.hash_similarity, 4),
        }


def near_duplicate_pairs(
    prints: Fingerprints,
    parts: dict[Path, str] | None = None,
    *,
    similarity: float = SIMILARITY,
    hash_threshold: float = HASH_SIMILARITY,
) -> list[Pair]:
    """Pairs passing either threshold, strongest first; with ``parts`` only pairs in different parts."""
    features = feature_similarity(prints.features)
    hashes = hash_similarity(prints.hashes)
    parts = parts or {}
    found = []
    for i, j in zip(*np.triu_indices(len(prints.paths), 1)):
        if features[i, j] < similarity and hashes[i, j] < hash_threshold:
            continue
        a, b = prints.paths[i], prints.paths[j]
        if parts and parts.get(a) == parts.get(b):
            continue
        found.append(Pair(a, b, parts.get(a), parts.get(b), float(features[i, j]), float(hashes[i, j])))
    return sorted(found, key=lambda p: (-p.strength, str(p.a), str(p.b)))


def propose_groups(
    prints: Fingerprints, *, similarity: float = SIMILARITY, hash_threshold: float = HASH_SIMILARITY
) -> dict[Path, str]:
    """A proposed group (``auto-001``, ...; largest first) for every fingerprinted video."""
    n = len(prints.paths)
    if n == 0:
        return {}
    if n == 1:
        return {prints.paths[0]: "auto-001"}
    features = feature_similarity(prints.features)
    copies = hash_similarity(prints.hashes) >= hash_threshold
    distance = np.where(copies, 0.0, 1.0 - features)
    np.fill_diagonal(distance, 0.0)
    clusters = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1.0 - similarity
    ).fit_predict(distance)
    sizes = Counter(clusters.tolist())
    first = {c: i for i, c in reversed(list(enumerate(clusters.tolist())))}
    order = sorted(sizes, key=lambda c: (-sizes[c], first[c]))
    names = {cluster: f"auto-{rank:03d}" for rank, cluster in enumerate(order, start=1)}
    return {path: names[cluster] for path, cluster in zip(prints.paths, clusters)}


def with_groups(catalog: Catalog, groups: dict[Path, str]) -> Catalog:
    """``catalog`` with each item's group replaced by its proposed one (unfingerprinted items keep none)."""
    items = [replace(item, group=groups.get(item.path)) for item in catalog.items]
    return replace(catalog, items=items)


def write_groups_csv(catalog: Catalog, out: str | Path) -> Path:
    """``path,label,group`` per item (paths relative to the CSV's folder where possible), atomically.

    The file is a catalog of its own: ``vidclass data <folder>`` reads it in preference to
    the class folders, so once reviewed it is used for every split.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "label", "group"])
    base = out.parent.resolve()
    for item in catalog.items:
        path = item.path.relative_to(base) if item.path.is_relative_to(base) else item.path
        writer.writerow([path.as_posix(), item.label, item.group or ""])
    return write_atomic(out, lambda f: f.write(buffer.getvalue().encode()))


def default_groups_csv(catalog: Catalog) -> Path:
    """Where proposed groups go by default: ``groups.csv`` in the dataset folder (beside a CSV source)."""
    root = catalog.root if catalog.root.is_dir() else catalog.root.parent
    return root / "groups.csv"


def auto_group(
    catalog: Catalog, prints: Fingerprints, groups_csv: str | Path | None = None, *, similarity: float = SIMILARITY
) -> tuple[Catalog, dict[Path, str], Path]:
    """Propose groups for a catalog without any, write them as a reviewable ``groups.csv``
    (never over an existing file), and return the catalog grouped by them."""
    named = sorted({item.group for item in catalog.items if item.group is not None})
    if named:
        raise ConfigError(
            f"{catalog.root}: the dataset already has {len(named)} groups; --groups auto is for datasets without "
            "any (read it with --format folders to ignore them)"
        )
    out = Path(groups_csv) if groups_csv is not None else default_groups_csv(catalog)
    if out.exists():
        raise ConfigError(f"{out}: exists; pass --groups-csv PATH to write the proposed groups elsewhere")
    groups = propose_groups(prints, similarity=similarity)
    grouped = with_groups(catalog, groups)
    return grouped, groups, write_groups_csv(grouped, out)


def cluster_sizes(groups: dict[Path, str]) -> list[int]:
    """Sizes of the proposed groups, largest first."""
    return sorted(Counter(groups.values()).values(), reverse=True)


def plot_pairs(pairs: Sequence[Pair], prints: Fingerprints, out_png: str | Path, *, shown: int = SHOWN_PAIRS) -> Path:
    """A thumbnail strip PNG: one row per pair (the closest ``shown``), both middle frames and their scores."""
    index = {path: i for i, path in enumerate(prints.paths)}
    rows = list(pairs[:shown])
    fig = Figure(figsize=(6.5, 2.1 * max(len(rows), 1)), layout="constrained")
    axes = np.asarray(fig.subplots(max(len(rows), 1), 2, squeeze=False))
    for (left, right), pair in zip(axes, rows):
        for ax, path, part in ((left, pair.a, pair.part_a), (right, pair.b, pair.part_b)):
            ax.imshow(prints.thumbnails[index[path]])
            ax.set_title(f"{part + ': ' if part else ''}{path.parent.name}/{path.name}", fontsize=8)
            ax.axis("off")
        left.text(1.02, -0.08, f"similarity {pair.similarity:.2f}, hash {pair.hash_similarity:.2f}",
                  transform=left.transAxes, ha="center", va="top", fontsize=8)
    if not rows:
        for ax in axes.ravel():
            ax.axis("off")
        axes[0, 0].text(0.5, 0.5, "no near-duplicate pairs", transform=axes[0, 0].transAxes, ha="center")
    fig.suptitle(f"Closest near-duplicate pairs ({len(rows)} of {len(pairs)})", fontsize=10)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out_png, lambda f: fig.savefig(f, format="png", dpi=110))


@dataclass
class LeakReport:
    """What ``check_leaks`` found: cross-split pairs, the PNG and the proposed groups, if asked."""

    videos: int
    pairs: list[Pair]
    similarity: float
    hash_threshold: float
    thumbnails: Path | None
    groups: dict[Path, str] | None = None
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "videos": self.videos,
            "similarity_threshold": self.similarity,
            "hash_threshold": self.hash_threshold,
            "pairs_across_splits": len(self.pairs),
            "pairs": [pair.to_dict() for pair in self.pairs],
            "thumbnails": str(self.thumbnails) if self.thumbnails else None,
            "unreadable": dict(self.failed),
        }
        if self.groups is not None:
            sizes = cluster_sizes(self.groups)
            data["proposed_groups"] = {"clusters": len(sizes), "sizes": sizes}
        return data


def split_parts(splits: Splits) -> dict[Path, str]:
    """``{path: "train" | "val" | "test"}`` of a split."""
    return {item.path: name for name, items in splits.parts().items() for item in items}


def check_leaks(
    prints: Fingerprints,
    splits: Splits,
    out_dir: str | Path | None,
    *,
    groups: dict[Path, str] | None = None,
    similarity: float = SIMILARITY,
    hash_threshold: float = HASH_SIMILARITY,
) -> LeakReport:
    """Near-duplicate pairs across the parts of ``splits``; the thumbnail strip goes to ``out_dir``."""
    pairs = near_duplicate_pairs(prints, split_parts(splits), similarity=similarity, hash_threshold=hash_threshold)
    png = plot_pairs(pairs, prints, Path(out_dir) / "near_duplicates.png") if out_dir is not None else None
    return LeakReport(len(prints.paths), pairs, similarity, hash_threshold, png, groups, dict(prints.failed))
