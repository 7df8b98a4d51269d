"""Pose vectors of whole videos, cached like CNN features, or read from brought keypoints.

The pose of a video is taken at the same grid frames as its CNN features (a grid spread
uniformly over the whole video, :mod:`vidclass.inputs.features`), so both line up frame by frame.
Estimated poses are cached in the feature cache under the backbone name ``pose:blazepose``,
keyed by the estimator's model files and :class:`PoseSpec`; keypoints brought from another
tool are read from their files each time (reading them costs less than a cache lookup would
save). Decoding and estimation run in ``workers`` background processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np
from torch.utils.data import Dataset

from vidclass.errors import ConfigError, VidclassError
from vidclass.inputs.features import ExtractionReport, FeatureCache, FeatureSpec, VideoFeatures, uncached
from vidclass.inputs.pose.blazepose import BlazePose, require_litert
from vidclass.inputs.pose.keypoints import find_keypoints, read_keypoints
from vidclass.inputs.pose.skeleton import to_coco
from vidclass.inputs.pose.vectors import PoseSequence, frame_vectors, people_present, pose_dim
from vidclass.media import sampling, video
from vidclass.util.workers import in_order

ESTIMATOR = "pose:blazepose"
VECTOR_VERSION = 1  # bump when the vector layout of vectors.py changes: old cache entries then miss
PIPELINE_VERSION = 1  # bump when blazepose.py finds people differently (thresholds, tiles, duplicates)
K = TypeVar("K")  # what grids are keyed by: a video's path, or a recording source's number


@dataclass(frozen=True)
class PoseSpec:
    """How pose vectors are made: ``people`` slots per frame, frames decoded with their short
    side at ``size`` pixels for the estimator, or keypoints read from the ``keypoints`` folder."""

    people: int = 3
    size: int = 256  # efficientnet_lite0's: appearance+pose decodes each video once for both
    keypoints: str | None = None
    interpolation: ClassVar[str] = "bicubic"

    def __post_init__(self) -> None:
        if not 1 <= self.people <= 16:
            raise ConfigError(f"pose people must be between 1 and 16, got {self.people}")
        if self.size < 64:
            raise ConfigError(f"pose frame size must be >= 64 pixels, got {self.size}")
        if self.keypoints is not None and not Path(self.keypoints).is_dir():
            raise ConfigError(f"keypoints folder {self.keypoints} does not exist")
        if self.keypoints is None:
            require_litert()  # here, in the main process, not later in a decoding worker

    @property
    def dim(self) -> int:
        return pose_dim(self.people)

    def vectors(self, frames: np.ndarray) -> np.ndarray:
        """Pose vectors (T, dim) of a video's decoded frames (T, H, W, 3), in order."""
        return estimate_frames(frames, self.people, estimator(self.people))[0]

    def feature_spec(self, grid: int) -> FeatureSpec:
        """The cache key parts of estimated poses on a ``grid``-frame grid."""
        settings = {"people": self.people, "size": self.size, "vector": VECTOR_VERSION, "pipeline": PIPELINE_VERSION}
        return FeatureSpec(ESTIMATOR, BlazePose.weights_id(), settings, grid)


@dataclass
class PoseReport(ExtractionReport):
    """An extraction report that also names the videos in which nobody was ever found and
    counts the people found per grid frame."""

    nobody: list[str] = field(default_factory=list)
    people: list[int] = field(default_factory=list)  # people found in each grid frame of every video


@lru_cache(maxsize=2)
def estimator(people: int, threads: int | None = None) -> BlazePose:
    """One BlazePose per process and setting (LiteRT interpreters cannot be pickled)."""
    return BlazePose(max_people=people, threads=threads)


def estimate_frames(frames: np.ndarray, people: int, model: BlazePose) -> tuple[np.ndarray, np.ndarray]:
    """Pose vectors (T, dim) and slotted COCO skeletons (T, people, 17, 3) of a video's
    frames (T, H, W, 3) in order; skeleton coordinates are pixels of those frames."""
    found = [[to_coco(person.keypoints, "blazepose33") for person in model(frame)] for frame in frames]
    height, width = frames.shape[1:3]
    return frame_vectors(found, width, height, people)


class StreamPose:
    """Pose vectors of a stream's sampled frames, one batch after another, slots kept across
    batches (what a timeline needs; see :func:`vidclass.estimator.stream.features_stream`)."""

    def __init__(self, spec: PoseSpec) -> None:
        self.spec = spec
        self.sequence = PoseSequence(spec.people)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(N, dim) vectors of the next N whole frames (N, H, W, 3), short side ``spec.size``."""
        model = estimator(self.spec.people)
        height, width = frames.shape[1:3]
        rows = [self.sequence.add([to_coco(p.keypoints, "blazepose33") for p in model(frame)], width, height)[0]
                for frame in frames]
        return np.stack(rows) if rows else np.zeros((0, self.spec.dim), np.float32)


def centre_crop(frames: np.ndarray, crop: int) -> np.ndarray:
    """The centre ``crop`` square of (N, H, W, 3) frames, as :func:`vidclass.media.video.read_frames` cuts it."""
    height, width = frames.shape[1:3]
    top, left = (height - crop) // 2, (width - crop) // 2
    return np.ascontiguousarray(frames[:, top : top + crop, left : left + crop])


def grid_pose(path: Path, grid: int, spec: PoseSpec, *, threads: int | None = None) -> VideoFeatures:
    """The pose vectors of ``path`` at its ``grid`` frames (estimated or brought)."""
    info = video.probe(path)
    sample = sampling.uniform(info.num_frames, grid)
    distinct, rows = np.unique(sample.indices, return_inverse=True)
    if spec.keypoints is not None:
        skeletons = read_keypoints(find_keypoints(Path(spec.keypoints), path), info.width, info.height)
        vectors, _ = frame_vectors([skeletons.get(int(i), []) for i in distinct], info.width, info.height, spec.people)
    else:
        frames = video.read_frames(path, distinct, size=spec.size, interpolation=spec.interpolation, info=info)
        vectors, _ = estimate_frames(frames, spec.people, estimator(spec.people, threads))
    return VideoFeatures(vectors[rows.reshape(-1)], sample.indices, sample.mask, info.fps, info.num_frames, info.duration)


@dataclass(frozen=True)
class _Done:
    position: int
    entry: VideoFeatures | None
    error: str | None


class _PoseVideos(Dataset):
    def __init__(self, paths: Sequence[Path], grid: int, spec: PoseSpec, threads: int) -> None:
        self.paths, self.grid, self.spec, self.threads = list(paths), grid, spec, threads

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> _Done:
        try:
            entry = grid_pose(self.paths[position], self.grid, self.spec, threads=self.threads)
        except VidclassError as error:
            return _Done(position, None, str(error))
        return _Done(position, entry, None)


def pose_features(
    paths: Sequence[str | Path],
    spec: PoseSpec,
    grid: int,
    *,
    cache: FeatureCache,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[dict[Path, VideoFeatures], PoseReport]:
    """The pose vectors of every readable video of ``paths`` and what it took.

    Estimated poses come from the cache (where :func:`vidclass.inputs.features.extract_features`
    may have put them, from the frames it decoded) or are computed (in ``workers`` processes, each
    with its share of the CPU threads) and cached; brought keypoints are read. Videos that
    cannot be read, or lack a keypoint file, are in ``report.failed``; videos in which
    nobody was found at any grid frame are in ``report.nobody`` (and still returned: every
    step of them is masked).
    """
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (0 estimates in this process), got {workers}")
    report = PoseReport(total=len(paths))
    notify = on_video or (lambda path, status: None)
    feature_spec = spec.feature_spec(grid)
    found, pending = uncached(paths, lambda video_print: cache.load(feature_spec, video_print)
                              if spec.keypoints is None else None, report, notify)
    start = time.perf_counter()
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    for done in in_order(_PoseVideos([p for p, _ in pending], grid, spec, threads), min(workers, len(pending))):
        path, video_print = pending[done.position]
        if done.entry is None:
            report.failed[str(path)] = done.error or f"{path}: pose estimation failed"
            notify(str(path), "failed")
            continue
        if spec.keypoints is None:
            cache.save(feature_spec, video_print, done.entry, path)
        found[path] = done.entry
        report.computed += 1
        report.frames += grid
        notify(str(path), "computed")
    report.seconds = time.perf_counter() - start
    for path, entry in found.items():
        counts = people_present(entry.features[entry.mask])
        report.people.extend(counts.tolist())
        if not counts.any():
            report.nobody.append(str(path))
    return found, report


def with_pose(grids: dict[K, VideoFeatures] | None, poses: dict[K, VideoFeatures]) -> dict[K, VideoFeatures]:
    """The CNN ``grids`` (or tracks) with the pose vectors of the same frames beside them (``pose``);
    without ``grids`` (pose-only inputs), grids whose features are empty. Videos missing
    from either side are left out."""
    if grids is None:
        return {path: replace(entry, features=np.zeros((len(entry.indices), 0), np.float32), pose=entry.features)
                for path, entry in poses.items()}
    merged = {}
    for path, grid in grids.items():
        if path in poses:
            if not np.array_equal(poses[path].indices, grid.indices):
                raise VidclassError(f"{path}: pose and CNN features were taken at different frames; clear the cache")
            merged[path] = replace(grid, pose=poses[path].features)
    return merged
