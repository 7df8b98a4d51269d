"""Feature tracks of long recordings and segments, from which training clips are cut
(:class:`vidclass.inputs.units.TrackClips`).

Features are cached per source (recording and time range) as a *track*: backbone features
of frames at a fixed rate over the source, one pass of decoding (in chunks, so memory stays
flat in the recording's length). A clip's grid is cut from its source's track, so 2000
clips cost one pass over the video, not 2000.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidclass.data.recordings import Source
from vidclass.errors import VidclassError
from vidclass.inputs.features import ExtractionReport, FeatureCache, FeatureSpec, VideoFeatures, fingerprint
from vidclass.inputs.views import ViewSpec
from vidclass.media import motion, video
from vidclass.util.workers import in_threads

CHUNK_FRAMES = 128  # track frames decoded per chunk: bounds memory whatever the recording's length


# --- feature tracks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """Backbone features of one source at ``rate`` frames per second, from ``start`` seconds."""

    features: VideoFeatures
    start: float
    rate: float

    def grid(self, start: float, end: float, grid: int) -> VideoFeatures:
        """The ``grid`` frames of the clip ``start``-``end`` s, picked from the track (no decoding)."""
        n = len(self.features.features)
        times = start + (np.arange(grid) + 0.5) * (end - start) / grid
        positions = np.clip(np.floor((times - self.start) * self.rate).astype(np.int64), 0, n - 1)
        f = self.features
        return VideoFeatures(
            features=f.features[positions], indices=f.indices[positions], mask=np.ones(grid, dtype=bool),
            fps=f.fps, num_frames=f.num_frames, duration=end - start,
            rgbdiff=f.rgbdiff[positions] if f.rgbdiff is not None else None,
            pose=f.pose[positions] if f.pose is not None else None,
        )


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


class _Chunks(Dataset):
    """Decoded chunks of track frames (with their pair images: RGB differences or flow), for the backbone."""

    def __init__(self, chunks: list[tuple[int, Path, np.ndarray, video.VideoInfo]], preprocess,
                 pair_image: str | None):
        self.chunks, self.preprocess, self.pair_image = chunks, preprocess, pair_image

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        source, path, indices, info = self.chunks[i]
        wanted = [indices]
        if self.pair_image:
            wanted += list(motion.partner_pairs(indices, info.num_frames, info.fps))
        try:
            frames = video.read_frames(path, np.concatenate(wanted), size=self.preprocess.resize,
                                       crop=self.preprocess.crop, interpolation=self.preprocess.interpolation, info=info)
        except VidclassError as error:
            return source, None, str(error)
        if self.pair_image:
            n = len(indices)
            frames = np.concatenate([frames[:n], motion.pair_images(frames[n : 2 * n], frames[2 * n :], self.pair_image)])
        return source, frames, None


def extract_tracks(
    sources: Sequence[Source],
    encoder,
    rates: Sequence[float],
    *,
    cache: FeatureCache,
    pair_image: str | None = None,
    batch_size: int = 64,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[dict[int, Track], ExtractionReport]:
    """The feature track of every source at its rate, computing what the cache lacks in one
    chunked decoding pass per source (decoding in ``workers`` threads beside the backbone)."""
    import time

    notify = on_video or (lambda path, status: None)
    report = ExtractionReport(total=len(sources))
    tracks: dict[int, Track] = {}
    pending = []
    specs = {}
    for i, (source, rate) in enumerate(zip(sources, rates)):
        try:
            info = video.probe(source.path)
            indices = track_indices(source.start, source.end, rate, info)
            key = track_key(source.path, source.start, source.end, rate)
        except (VidclassError, OSError) as error:
            report.failed[str(source.path)] = str(error)
            notify(str(source.path), "failed")
            continue
        spec = FeatureSpec.for_encoder(encoder, len(indices), pair_image=pair_image)
        specs[i] = (spec, key, info, indices)
        entry = cache.load(spec, key)
        if entry is not None:
            tracks[i] = Track(entry, source.start, rate)
            report.cached += 1
            notify(str(source.path), "cached")
        else:
            pending.append(i)
    chunks = [(i, sources[i].path, specs[i][3][k : k + CHUNK_FRAMES], specs[i][2])
              for i in pending for k in range(0, len(specs[i][3]), CHUNK_FRAMES)]
    started = time.perf_counter()
    parts: dict[int, list[np.ndarray]] = defaultdict(list)
    failed: set[int] = set()
    remaining = Counter(chunk[0] for chunk in chunks)
    for i, frames, error in in_threads(_Chunks(chunks, encoder.spec.preprocess, pair_image), workers, prefetch=2):
        remaining[i] -= 1
        if error is not None and i not in failed:
            failed.add(i)
            report.failed[str(sources[i].path)] = error
            notify(str(sources[i].path), "failed")
        if i in failed:
            parts.pop(i, None)
            continue
        with torch.inference_mode():
            out = np.concatenate([encoder(torch.from_numpy(frames[k : k + batch_size])).float().numpy()
                                  for k in range(0, len(frames), batch_size)])
        parts[i].append(out)
        if remaining[i] == 0:
            spec, key, info, indices = specs[i]
            encoded = [np.split(part, 2) if pair_image else (part, None) for part in parts.pop(i)]
            entry = VideoFeatures(
                features=np.concatenate([a for a, _ in encoded]), indices=indices,
                mask=np.ones(len(indices), dtype=bool), fps=info.fps, num_frames=info.num_frames,
                duration=sources[i].seconds,
                rgbdiff=np.concatenate([d for _, d in encoded]) if pair_image else None,
            )
            cache.save(spec, key, entry, sources[i].path)
            tracks[i] = Track(entry, sources[i].start, rates[i])
            report.computed += 1
            report.frames += len(indices)
            notify(str(sources[i].path), "computed")
    report.seconds = time.perf_counter() - started
    return tracks, report
