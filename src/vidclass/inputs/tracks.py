"""Feature tracks of long recordings and segments, from which training clips are cut
(:class:`vidclass.inputs.units.TrackClips`).

Features are cached per source (recording and time range) as a *track*: backbone features
of frames at a fixed rate over the source, one pass of decoding (in chunks, so memory stays
flat in the recording's length). A clip's grid is cut from its source's track, so 2000
clips cost one pass over the video, not 2000.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from vidclass.data.recordings import Source
from vidclass.errors import VidclassError
from vidclass.inputs.extraction import FrameJob, Frames, encode_jobs
from vidclass.inputs.features import ExtractionReport, FeatureCache, FeatureSpec, VideoFeatures, fingerprint
from vidclass.inputs.views import ViewSpec
from vidclass.media import video
from vidclass.media.motion import MOTION_RULE

T = TypeVar("T")

# --- feature tracks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """Backbone features of one source at ``rate`` frames per second, from ``start`` seconds."""

    features: VideoFeatures
    start: float
    rate: float

    def grid(self, start: float, end: float, grid: int) -> VideoFeatures:
        """The ``grid`` frames of the clip ``start``-``end`` s, picked from the track (no decoding)."""
        f = self.features
        positions = track_positions(start, end, grid, self.start, self.rate, len(f.features))
        return VideoFeatures(
            features=f.features[positions], indices=f.indices[positions], mask=np.ones(grid, dtype=bool),
            fps=f.fps, num_frames=f.num_frames, duration=end - start,
            rgbdiff=f.rgbdiff[positions] if f.rgbdiff is not None else None,
            pose=f.pose[positions] if f.pose is not None else None,
        )


def track_positions(start: float, end: float, grid: int, track_start: float, rate: float, length: int) -> np.ndarray:
    """The positions in a track (``length`` frames at ``rate`` per second from ``track_start``) of the ``grid``
    frames spread over the clip ``start``-``end`` s (feature and frame tracks)."""
    times = start + (np.arange(grid) + 0.5) * (end - start) / grid
    return np.clip(np.floor((times - track_start) * rate).astype(np.int64), 0, length - 1)


def track_rate(view: ViewSpec, shortest: float, fps: float) -> float:
    """Frames per second a track needs so the shortest clip holds a whole grid of distinct frames."""
    return float(min(fps, math.ceil(view.grid / shortest)))


def track_key(path: Path, start: float, end: float, rate: float) -> str:
    """The cache key of a source's track (feature or pose): the video's content, time range and rate."""
    return f"{fingerprint(path)}:track:{start:.3f}-{end:.3f}@{rate:g}"


def track_indices(start: float, end: float, rate: float, info: video.VideoInfo) -> np.ndarray:
    """Video frame indices of a track: ``rate`` per second over ``start``-``end`` s (feature and frame tracks)."""
    n = max(1, int(round((end - start) * rate)))
    times = start + (np.arange(n) + 0.5) / rate
    return np.minimum(np.floor(times * info.fps).astype(np.int64), info.num_frames - 1)


def extract_tracks(
    sources: Sequence[Source],
    encoder,
    rates: Sequence[float],
    *,
    cache: FeatureCache,
    pair_image: str | None = None,
    motion_rule: str = MOTION_RULE,
    batch_size: int | None = None,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[dict[int, Track], ExtractionReport]:
    """The feature track of every source at its rate, computing what the cache lacks (each source one
    :class:`~vidclass.inputs.extraction.FrameJob` of :func:`~vidclass.inputs.extraction.encode_jobs`, decoded
    in chunks by ``workers`` threads beside the backbone)."""
    notify = on_video or (lambda path, status: None)
    report = ExtractionReport(total=len(sources))
    found, jobs, wanted = source_jobs(
        sources, rates, lambda source, rate: track_key(source.path, source.start, source.end, rate),
        lambda key, length: cache.load(FeatureSpec.for_encoder(encoder, length, pair_image=pair_image,
                                                               motion_rule=motion_rule), key),
        report, notify)
    tracks = {i: Track(entry, sources[i].start, rates[i]) for i, entry in found.items()}
    for position, entry in encode_jobs(jobs, encoder, cache, report, pair_image=pair_image, motion_rule=motion_rule,
                                       batch_size=batch_size, workers=workers, notify=notify):
        i = wanted[position]
        tracks[i] = Track(entry, sources[i].start, rates[i])
    return tracks, report


def track_frames(source: Source, rate: float, info: video.VideoInfo) -> Frames:
    """A track's frames: ``rate`` per second over the source."""
    indices = track_indices(source.start, source.end, rate, info)
    return Frames(indices, np.ones(len(indices), dtype=bool), source.seconds)


def source_jobs(
    sources: Sequence[Source],
    rates: Sequence[float],
    key: Callable[[Source, float], str],
    cached: Callable[[str, int], T | None],
    report: ExtractionReport,
    notify: Callable[[str, str], None],
) -> tuple[dict[int, T], list[FrameJob], list[int]]:
    """The first pass of a track extraction (features or decoded frames): each source's cached entry
    (``cached(key, length)``, by position in ``sources``), or the job that computes it, with the position each
    job stands for. A source that cannot be probed is recorded in ``report.failed``; each video is probed once,
    however many of its segments are sources (a probe is a demuxing pass over the whole recording)."""
    found: dict[int, T] = {}
    jobs, wanted = [], []
    infos: dict[Path, video.VideoInfo] = {}
    for i, (source, rate) in enumerate(zip(sources, rates)):
        try:
            if source.path not in infos:
                infos[source.path] = video.probe(source.path)
            info = infos[source.path]
            frames = partial(track_frames, source, rate)
            name = key(source, rate)
        except (VidclassError, OSError) as error:
            report.failed[str(source.path)] = str(error)
            notify(str(source.path), "failed")
            continue
        entry = cached(name, len(frames(info).indices))
        if entry is not None:
            found[i] = entry
            report.cached += 1
            notify(str(source.path), "cached")
        else:
            jobs.append(FrameJob(source.path, name, frames, info))
            wanted.append(i)
    return found, jobs, wanted
