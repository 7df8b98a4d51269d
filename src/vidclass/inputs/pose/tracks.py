"""Pose tracks: the pose vectors of a long recording's (or segment's) frames at a track's rate, so that
clips cut from the recording get pose inputs as they get CNN features (:mod:`vidclass.inputs.tracks`).

A track's frames are those of its feature track (:func:`vidclass.inputs.tracks.track_indices`), so
both line up frame by frame. People keep their slots along the whole recording: estimated poses
are found chunk after chunk of decoded frames with one :class:`~vidclass.inputs.pose.vectors.PoseSequence`
(memory stays flat in the recording's length), brought keypoints are read from the recording's
keypoint file. Estimated tracks are cached like feature tracks; each source is one item for the
``workers`` background processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from vidclass.data.recordings import Source
from vidclass.errors import VidclassError
from vidclass.inputs.extraction import CHUNK_FRAMES
from vidclass.inputs.features import FeatureCache, VideoFeatures
from vidclass.inputs.pose.extract import PoseReport, PoseSpec, estimator
from vidclass.inputs.pose.keypoints import find_keypoints, read_keypoints
from vidclass.inputs.pose.skeleton import to_coco
from vidclass.inputs.pose.vectors import PoseSequence, frame_vectors, people_present
from vidclass.inputs.tracks import track_indices, track_key
from vidclass.media import video
from vidclass.util.workers import in_order


def source_pose(source: Source, rate: float, spec: PoseSpec, *, threads: int | None = None) -> VideoFeatures:
    """The pose vectors of ``source``'s track frames at ``rate`` per second (estimated, or brought)."""
    info = video.probe(source.path)
    indices = track_indices(source.start, source.end, rate, info)
    if spec.keypoints is not None:
        skeletons = read_keypoints(find_keypoints(Path(spec.keypoints), source.path), info.width, info.height)
        vectors, _ = frame_vectors([skeletons.get(int(i), []) for i in indices], info.width, info.height,
                                   spec.people)
    else:
        model, sequence, rows = estimator(spec.people, threads), PoseSequence(spec.people), []
        for k in range(0, len(indices), CHUNK_FRAMES):
            frames = video.read_frames(source.path, indices[k : k + CHUNK_FRAMES], size=spec.size,
                                       interpolation=spec.interpolation, info=info)
            height, width = frames.shape[1:3]
            rows += [sequence.add([to_coco(p.keypoints, "blazepose33") for p in model(frame)], width, height)[0]
                     for frame in frames]
        vectors = np.stack(rows)
    return VideoFeatures(vectors, indices, np.ones(len(indices), dtype=bool), info.fps, info.num_frames,
                         source.seconds)


@dataclass(frozen=True)
class _Done:
    position: int
    entry: VideoFeatures | None
    error: str | None


class _Sources(Dataset):
    def __init__(self, sources: Sequence[Source], rates: Sequence[float], spec: PoseSpec, threads: int) -> None:
        self.sources, self.rates, self.spec, self.threads = list(sources), list(rates), spec, threads

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, position: int) -> _Done:
        try:
            return _Done(position, source_pose(self.sources[position], self.rates[position], self.spec,
                                               threads=self.threads), None)
        except (VidclassError, OSError) as error:
            return _Done(position, None, str(error))


def pose_tracks(
    sources: Sequence[Source],
    rates: Sequence[float],
    spec: PoseSpec,
    *,
    cache: FeatureCache,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[dict[int, VideoFeatures], PoseReport]:
    """The pose track of every readable source at its rate (by position in ``sources``) and what it took:
    estimated tracks come from the cache or are computed and cached; brought keypoints are read. Sources
    that cannot be read, or lack a keypoint file, are in ``report.failed``; those in which nobody was ever
    found, in ``report.nobody``."""
    notify = on_video or (lambda path, status: None)
    report = PoseReport(total=len(sources))
    found: dict[int, VideoFeatures] = {}
    pending: list[tuple[int, str]] = []
    for i, (source, rate) in enumerate(zip(sources, rates)):
        try:
            key = track_key(source.path, source.start, source.end, rate)
            length = len(track_indices(source.start, source.end, rate, video.probe(source.path)))
        except (VidclassError, OSError) as error:
            report.failed[str(source.path)] = str(error)
            notify(str(source.path), "failed")
            continue
        entry = cache.load(spec.feature_spec(length), key) if spec.keypoints is None else None
        if entry is not None:
            found[i] = entry
            report.cached += 1
            notify(str(source.path), "cached")
        else:
            pending.append((i, key))
    started = time.perf_counter()
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    todo = _Sources([sources[i] for i, _ in pending], [rates[i] for i, _ in pending], spec, threads)
    for done in in_order(todo, min(workers, len(pending))):
        i, key = pending[done.position]
        path = sources[i].path
        if done.entry is None:
            report.failed[str(path)] = done.error or f"{path}: pose estimation failed"
            notify(str(path), "failed")
            continue
        if spec.keypoints is None:
            cache.save(spec.feature_spec(len(done.entry.indices)), key, done.entry, path)
        found[i] = done.entry
        report.computed += 1
        report.frames += len(done.entry.indices)
        notify(str(path), "computed")
    report.seconds = time.perf_counter() - started
    for i, entry in found.items():
        counts = people_present(entry.features)
        report.people.extend(counts.tolist())
        if not counts.any():
            report.nobody.append(str(sources[i].path))
    return found, report
