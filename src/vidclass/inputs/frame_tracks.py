"""Decoded-frame tracks of long recordings and segments: the pixel path's cache for clips.

A pixel model trained on clips of a long recording (:mod:`vidclass.data.recordings`) must not decode
every clip from the video each epoch, nor cache one entry per clip (random clips move every
epoch). A *frame track* is the decoded frames of one source (a recording or a segment's time
range) at a fixed rate, resized and centre-cropped to the model's store size (as
:mod:`vidclass.inputs.pixels` stores whole videos), with the partner frame of each for RGB
differences. It is decoded once, in chunks written straight into a memory-mapped ``.npy`` file
(memory stays flat in the recording's length), renamed into place when complete, and keyed by
the video's fingerprint, the time range, the rate and the frame settings, so every run and every
clip plan with the same rate shares it. A clip's frames are picked from the track (no decoding);
:class:`vidclass.inputs.units.TrackClips` redraws random clip positions inside their block every epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from vidclass.data.recordings import Source
from vidclass.errors import VidclassError
from vidclass.inputs.extraction import CHUNK_FRAMES
from vidclass.inputs.features import ExtractionReport, fingerprint
from vidclass.inputs.pixels import FrameCache, FrameSpec, VideoFrames
from vidclass.inputs.tracks import track_indices
from vidclass.media import motion, video
from vidclass.util.workers import in_threads

TRACK_FORMAT = 1


@dataclass(frozen=True)
class FrameTrack:
    """Decoded frames ``(n, S, S, 3)`` uint8 of one source at ``rate`` frames per second from ``start``
    (memory-mapped), with ``partners`` (the later frame of each RGB difference) where asked for."""

    frames: np.ndarray
    partners: np.ndarray | None
    start: float
    rate: float
    fps: float
    num_frames: int

    def grid(self, start: float, end: float, grid: int) -> VideoFrames:
        """The ``grid`` frames of the clip ``start``-``end`` s, as a cached video's entry holds them."""
        n = len(self.frames)
        times = start + (np.arange(grid) + 0.5) * (end - start) / grid
        positions = np.clip(np.floor((times - self.start) * self.rate).astype(np.int64), 0, n - 1)
        return VideoFrames(np.asarray(self.frames[positions]), np.ones(grid, dtype=bool), self.fps, self.num_frames,
                           end - start, np.asarray(self.partners[positions]) if self.partners is not None else None)


def _key(source: Source, rate: float, spec: FrameSpec) -> str:
    blob = json.dumps({"format": TRACK_FORMAT, "video": fingerprint(source.path), "start": round(source.start, 3),
                       "end": round(source.end, 3), "rate": rate, "store": spec.store,
                       "interpolation": spec.interpolation, "rgbdiff": spec.rgbdiff}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _files(cache: FrameCache, key: str) -> tuple[Path, Path, Path]:
    folder = cache.root / "tracks" / key[:2]
    return folder / f"{key}.frames.npy", folder / f"{key}.partners.npy", folder / f"{key}.json"


def _load(cache: FrameCache, key: str, spec: FrameSpec, n: int, start: float, rate: float) -> FrameTrack | None:
    """The cached track, or None when it is missing, incomplete or not made for ``spec``."""
    frames_file, partners_file, meta_file = _files(cache, key)
    try:
        meta = json.loads(meta_file.read_text())
        if meta.get("key") != key:
            return None
        fps, num_frames = float(meta["fps"]), int(meta["num_frames"])
        frames = np.load(frames_file, mmap_mode="r", allow_pickle=False)
        partners = np.load(partners_file, mmap_mode="r", allow_pickle=False) if spec.rgbdiff else None
    except (OSError, ValueError, KeyError):
        return None
    shape = (n, spec.store, spec.store, 3)
    if frames.shape != shape or frames.dtype != np.uint8 or (partners is not None and partners.shape != shape):
        return None
    return FrameTrack(frames, partners, start, rate, fps, num_frames)


def _decode(path: Path, source: Source, indices: np.ndarray, spec: FrameSpec, info: video.VideoInfo,
            key: str, cache: FrameCache) -> None:
    """Decode the track frames chunk by chunk into memory-mapped files, then rename them into place."""
    frames_file, partners_file, meta_file = _files(cache, key)
    frames_file.parent.mkdir(parents=True, exist_ok=True)
    shape = (len(indices), spec.store, spec.store, 3)
    names = [frames_file] + ([partners_file] if spec.rgbdiff else [])
    tmps = [p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in names]
    try:
        outs = [np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape) for tmp in tmps]
        for k in range(0, len(indices), CHUNK_FRAMES):
            chunk = indices[k : k + CHUNK_FRAMES]
            wanted = list(motion.partner_pairs(chunk, info.num_frames, info.fps)) if spec.rgbdiff else [chunk]
            decoded = video.read_frames(path, np.concatenate(wanted), size=spec.store, crop=spec.store,
                                        interpolation=spec.interpolation, info=info)  # type: ignore[arg-type]
            for j, out in enumerate(outs):
                out[k : k + len(chunk)] = decoded[j * len(chunk) : (j + 1) * len(chunk)]
        for out in outs:
            out.flush()
        del outs
        for tmp, name in zip(tmps, names):
            os.replace(tmp, name)
        meta = {"key": key, "source": str(path), "start": source.start, "end": source.end,
                "fps": info.fps, "num_frames": info.num_frames}
        tmp_meta = meta_file.with_name(f".{meta_file.name}.{os.getpid()}.tmp")
        tmp_meta.write_text(json.dumps(meta))
        os.replace(tmp_meta, meta_file)  # written last: a track without it is incomplete
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


class _Decode(Dataset):
    """Decodes one source's track per item (in a worker process); returns (position, error or None)."""

    def __init__(self, jobs: list[tuple[Path, Source, np.ndarray, video.VideoInfo, str]], spec: FrameSpec,
                 cache: FrameCache) -> None:
        self.jobs, self.spec, self.cache = jobs, spec, cache

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, position: int) -> tuple[int, str | None]:
        path, source, indices, info, key = self.jobs[position]
        try:
            _decode(path, source, indices, self.spec, info, key, self.cache)
        except VidclassError as error:
            return position, str(error)
        return position, None


def frame_tracks(
    sources: Sequence[Source],
    rates: Sequence[float],
    spec: FrameSpec,
    cache: FrameCache,
    *,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[dict[int, FrameTrack], ExtractionReport]:
    """The frame track of every source at its rate, decoding what the cache lacks (one pass per source,
    in ``workers`` threads); unreadable sources are reported and left out."""
    notify = on_video or (lambda path, status: None)
    report = ExtractionReport(total=len(sources))
    tracks: dict[int, FrameTrack] = {}
    jobs, wanted = [], []
    for i, (source, rate) in enumerate(zip(sources, rates)):
        try:
            info = video.probe(source.path)
            indices = track_indices(source.start, source.end, rate, info)
            key = _key(source, rate, spec)
        except (VidclassError, OSError) as error:
            report.failed[str(source.path)] = str(error)
            notify(str(source.path), "failed")
            continue
        found = _load(cache, key, spec, len(indices), source.start, rate)
        if found is not None:
            tracks[i] = found
            report.cached += 1
            notify(str(source.path), "cached")
            continue
        jobs.append((source.path, source, indices, info, key))
        wanted.append(i)
    for position, error in in_threads(_Decode(jobs, spec, cache), workers if jobs else 0):
        i = wanted[position]
        path, source, indices, _, key = jobs[position]
        track = None if error else _load(cache, key, spec, len(indices), source.start, rates[i])
        if track is None:
            report.failed[str(path)] = error or f"{path}: its decoded frames could not be cached"
            notify(str(path), "failed")
            continue
        tracks[i] = track
        report.computed += 1
        report.frames += len(indices)
        notify(str(path), "computed")
    return tracks, report
