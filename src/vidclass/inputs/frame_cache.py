"""The pixel seam's decoded-frame cache: one decode pipeline for whole videos and long recordings' tracks.

Models trained on pixels (:mod:`vidclass.models.clip_models`) see each training video many times, so its
frames are decoded once into an entry: the frames of one :class:`~vidclass.inputs.extraction.FrameJob`, the
same jobs the feature cache computes (a whole video's grid, ``grid`` frames spread over it; or the track
of a recording or segment, frames at a fixed rate over its time range), resized so the short side is
``store`` pixels and centre-cropped to a ``store`` square, uint8, with the partner frame of each for RGB
differences (:mod:`vidclass.media.motion`). A whole video is a track of one source.

An entry is ``.npy`` files read memory-mapped (a long recording's track costs no memory, and an epoch
reads no video file) and a small ``.json`` of metadata. It is decoded in chunks of
:data:`~vidclass.inputs.extraction.CHUNK_FRAMES`, written one after another (memory stays flat in a
recording's length; a full disk is an error, never a crash) to temporary files renamed into place, the
metadata last: a killed run or a full disk leaves no entry under a real name, and a rerun decodes only what
is missing. Keys are content-addressed (:func:`~vidclass.inputs.features.fingerprint`), so every run, and
every clip plan with the same rate, shares an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import platformdirs
from torch.utils.data import Dataset

from vidclass.data.recordings import Source
from vidclass.errors import ConfigError, DiskFullError, VidclassError, is_disk_full
from vidclass.inputs.extraction import CHUNK_FRAMES, FrameJob, uniform_frames
from vidclass.inputs.features import ExtractionReport, fingerprint, uncached
from vidclass.inputs.pixels import FrameSpec, VideoFrames
from vidclass.inputs.tracks import source_jobs, track_positions
from vidclass.media import motion, video
from vidclass.util.workers import in_threads

TRACK_FORMAT = 1


def default_frame_cache_dir() -> Path:
    """The user's cache folder for decoded frames (``VIDCLASS_CACHE`` overrides its parent)."""
    return Path(os.environ.get("VIDCLASS_CACHE") or platformdirs.user_cache_dir("vidclass")) / "frames"


class FrameCache:
    """A folder of decoded-frame entries, by key: a whole video's (:meth:`FrameSpec.key`) or a track's."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_frame_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.root}: the frame cache must be a folder, and this is a file")

    def files(self, key: str) -> tuple[Path, Path, Path]:
        """The frames, partners and metadata files of the entry ``key``."""
        folder = self.root / key[:2]
        return folder / f"{key}.frames.npy", folder / f"{key}.partners.npy", folder / f"{key}.json"

    def read(self, key: str, spec: FrameSpec, length: int | None = None) -> VideoFrames | None:
        """The entry (memory-mapped), or None when it is missing, incomplete or not made for ``spec`` (or not
        ``length`` frames long)."""
        frames_file, partners_file, meta_file = self.files(key)
        try:
            meta = json.loads(meta_file.read_text())
            if meta.get("key") != key:
                return None
            frames = np.load(frames_file, mmap_mode="r", allow_pickle=False)
            partners = np.load(partners_file, mmap_mode="r", allow_pickle=False) if spec.rgbdiff else None
            entry = VideoFrames(frames, np.arange(len(frames)) < int(meta["real"]), float(meta["fps"]),
                                int(meta["num_frames"]), float(meta["duration"]), partners)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        shape = ((length if length is not None else len(frames)), spec.store, spec.store, 3)
        if frames.shape != shape or frames.dtype != np.uint8 or (partners is not None and partners.shape != shape):
            return None
        return entry

    def write(self, job: FrameJob, spec: FrameSpec) -> None:
        """Decode ``job``'s frames (and their partners) chunk by chunk into its entry."""
        info = job.info or video.probe(job.path)
        frames = job.frames(info)
        names = self.files(job.key)
        names[0].parent.mkdir(parents=True, exist_ok=True)
        arrays = [names[0]] + ([names[1]] if spec.rgbdiff else [])
        tmps = [p.with_name(f".{p.name}.{os.getpid()}.{id(job)}.tmp") for p in [*arrays, names[2]]]
        shape = (len(frames.indices), spec.store, spec.store, 3)
        try:
            outs = [open(tmp, "wb") for tmp in tmps[:-1]]
            try:
                for out in outs:
                    np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": shape})
                for k in range(0, len(frames.indices), CHUNK_FRAMES):
                    chunk = frames.indices[k : k + CHUNK_FRAMES]
                    wanted = list(motion.partner_pairs(chunk, info.num_frames, info.fps)) if spec.rgbdiff else [chunk]
                    decoded = video.read_frames(job.path, np.concatenate(wanted), size=spec.store, crop=spec.store,
                                                interpolation=spec.interpolation, info=info)  # type: ignore[arg-type]
                    for j, out in enumerate(outs):
                        write_chunk(out, decoded[j * len(chunk) : (j + 1) * len(chunk)])
            finally:
                for out in outs:
                    out.close()
            meta = {"key": job.key, "source": str(job.path), "fps": info.fps, "num_frames": info.num_frames,
                    "duration": frames.duration, "real": int(frames.mask.sum())}
            tmps[-1].write_text(json.dumps(meta))
            for tmp, name in zip(tmps, [*arrays, names[2]]):
                os.replace(tmp, name)  # the metadata last: an entry without it is incomplete
        except BaseException as error:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)
            if is_disk_full(error):
                raise DiskFullError.while_writing(self.root, f"the decoded frames of {job.path}") from None
            raise


def write_chunk(out: BinaryIO, frames: np.ndarray) -> None:
    """Append decoded frames to an open ``.npy`` file (an OSError on a full disk, where a memory map would
    crash the process)."""
    out.write(np.ascontiguousarray(frames).tobytes())


class _Decode(Dataset):
    """Decodes one job's entry per item (in a decoding thread); returns (position, error or None)."""

    def __init__(self, jobs: Sequence[FrameJob], spec: FrameSpec, cache: FrameCache) -> None:
        self.jobs, self.spec, self.cache = jobs, spec, cache

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, position: int) -> tuple[int, str | None]:
        try:
            self.cache.write(self.jobs[position], self.spec)
        except VidclassError as error:
            if isinstance(error, DiskFullError):
                raise
            return position, str(error)
        return position, None


def decode_jobs(
    jobs: Sequence[FrameJob],
    spec: FrameSpec,
    cache: FrameCache,
    report: ExtractionReport,
    *,
    workers: int = 1,
    notify: Callable[[str, str], None] = lambda path, status: None,
) -> Iterator[tuple[int, VideoFrames]]:
    """Decode every job's entry into ``cache`` in ``workers`` threads; yields (job position, entry) as each is
    written. A video that cannot be decoded is recorded in ``report.failed`` and the rest go on;
    ``notify(path, status)`` hears ``computed`` or ``failed`` once per job."""
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (0 decodes in this process), got {workers}")
    started = time.perf_counter()
    for position, error in in_threads(_Decode(jobs, spec, cache), workers if jobs else 0):
        path = jobs[position].path
        entry = None if error else cache.read(jobs[position].key, spec)
        if entry is None:
            report.failed[str(path)] = error or f"{path}: its decoded frames could not be cached"
            notify(str(path), "failed")
            continue
        report.computed += 1
        report.frames += len(entry.frames)
        report.seconds = time.perf_counter() - started
        notify(str(path), "computed")
        yield position, entry


# --- whole videos ---------------------------------------------------------------------------


def cache_frames(
    paths: Sequence[str | Path],
    spec: FrameSpec,
    cache: FrameCache,
    *,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> ExtractionReport:
    """Decode into ``cache`` the grid of every video of ``paths`` that has no entry yet; report what happened.

    An unreadable video is reported (``failed``) and skipped; the rest go on. ``on_video(path,
    status)`` is called once per video with ``cached``, ``computed`` or ``failed``.
    """
    report = ExtractionReport(total=len(paths))
    notify = on_video or (lambda path, status: None)
    _, pending = uncached(paths, lambda video_print: cache.read(spec.key(video_print), spec), report, notify)
    jobs = [FrameJob(path, spec.key(video_print), partial(uniform_frames, spec.grid)) for path, video_print in pending]
    try:
        for _ in decode_jobs(jobs, spec, cache, report, workers=workers, notify=notify):
            pass
    except DiskFullError as full:
        raise DiskFullError(f"{full} (this run wrote {report.computed} of the {len(pending)} videos it had to "
                            "decode before the device filled)") from None
    return report


def load_frames(paths: Sequence[str | Path], spec: FrameSpec, cache: FrameCache) -> dict[Path, str]:
    """``{video: entry key}`` for the videos of ``paths`` that have a valid entry (read with :meth:`FrameCache.read`)."""
    found = {}
    for raw in paths:
        path = Path(raw)
        try:
            key = spec.key(fingerprint(path))
        except OSError:
            continue
        if cache.read(key, spec, spec.grid) is not None:
            found[path] = key
    return found


# --- tracks of long recordings and segments -------------------------------------------------


@dataclass(frozen=True)
class FrameTrack:
    """The decoded frames of one source at ``rate`` frames per second from ``start`` (memory-mapped)."""

    entry: VideoFrames
    start: float
    rate: float

    def grid(self, start: float, end: float, grid: int) -> VideoFrames:
        """The ``grid`` frames of the clip ``start``-``end`` s, as a whole video's entry holds them."""
        e = self.entry
        positions = track_positions(start, end, grid, self.start, self.rate, len(e.frames))
        return VideoFrames(np.asarray(e.frames[positions]), np.ones(grid, dtype=bool), e.fps, e.num_frames,
                           end - start, np.asarray(e.partners[positions]) if e.partners is not None else None)


def track_key(source: Source, rate: float, spec: FrameSpec) -> str:
    """The key of a source's frame track: the video's content, time range and rate, and the frame settings."""
    blob = json.dumps({"format": TRACK_FORMAT, "video": fingerprint(source.path), "start": round(source.start, 3),
                       "end": round(source.end, 3), "rate": rate, "store": spec.store,
                       "interpolation": spec.interpolation, "rgbdiff": spec.rgbdiff}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def frame_tracks(
    sources: Sequence[Source],
    rates: Sequence[float],
    spec: FrameSpec,
    cache: FrameCache,
    *,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[dict[int, FrameTrack], ExtractionReport]:
    """The frame track of every source at its rate, decoding what the cache lacks (one job per source, in
    ``workers`` threads); unreadable sources are reported and left out."""
    notify = on_video or (lambda path, status: None)
    report = ExtractionReport(total=len(sources))
    found, jobs, wanted = source_jobs(sources, rates, lambda source, rate: track_key(source, rate, spec),
                                      lambda key, length: cache.read(key, spec, length), report, notify)
    tracks = {i: FrameTrack(entry, sources[i].start, rates[i]) for i, entry in found.items()}
    for position, entry in decode_jobs(jobs, spec, cache, report, workers=workers, notify=notify):
        i = wanted[position]
        tracks[i] = FrameTrack(entry, sources[i].start, rates[i])
    return tracks, report
