"""One decode -> encode -> cache pipeline for CNN features, of whole videos and of long recordings' tracks alike.

An *entry* is the features of some frames of one video, cached under one key (:class:`FrameJob`): the grid
of a whole video (frames spread uniformly over it: :func:`extract_features`) or the track of a recording or
segment (frames at a fixed rate over a time range: :func:`vidclass.inputs.tracks.extract_tracks`). A whole
video is a track of one chunk. Each distinct frame is decoded once, in chunks of at most
:data:`CHUNK_FRAMES` where the frames are known beforehand (memory stays flat in a recording's length), by
``workers`` threads while the CNN runs here on batches that span chunks and videos; an entry is written
(atomically, :class:`~vidclass.inputs.features.FeatureCache`) when its last chunk is encoded.

With ``pair_image`` (``"rgbdiff"`` or ``"flow"``) an entry also holds, for every frame, the features of its
pair image with the frame about 1/15 s later (:mod:`vidclass.media.motion`): the frames of both are decoded
in the same pass and both kinds of image go through the CNN in the same batches; ``motion_rule`` says how
the pair's motion follows the frame rate (:func:`vidclass.media.motion.motion_scale`). Without ``appearance`` the
frames themselves skip the CNN (half the work) and the entry holds the pair-image features alone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidclass.errors import ConfigError, DiskFullError, VidclassError
from vidclass.inputs.features import ExtractionReport, FeatureCache, FeatureSpec, GridPose, VideoFeatures, uncached
from vidclass.media import motion, sampling, video
from vidclass.models.backbones import FrameEncoder
from vidclass.util.workers import in_order, in_threads

CHUNK_FRAMES = 128  # distinct frames of a track decoded at once: bounds memory whatever the recording's length


@dataclass(frozen=True)
class Frames:
    """The frames an entry holds: video frame indices (may repeat), which are real, and the time they span."""

    indices: np.ndarray  # int64 (n,)
    mask: np.ndarray  # bool (n,): False where a short video repeats its last frame
    duration: float


@dataclass(frozen=True)
class FrameJob:
    """One entry to compute: the video, its cache key, and which of its frames (``frames(info)``).

    With ``info`` known the distinct frames are decoded in chunks; without, a decoding thread probes the video
    and decodes them in one go (a whole video's grid is small, and probing is a demuxing pass worth
    running beside the CNN)."""

    path: Path
    key: str
    frames: Callable[[video.VideoInfo], Frames]
    info: video.VideoInfo | None = None


@dataclass(frozen=True)
class _Chunk:
    job: int
    indices: np.ndarray | None  # distinct frame indices; None: all of the job's (probed in the decoding thread)


@dataclass(frozen=True)
class _Decoded:
    item: int
    images: np.ndarray | None  # uint8 (frames [+ their pair images], crop, crop, 3), or pair images alone
    error: str | None = None
    info: video.VideoInfo | None = None  # where the decoding thread probed the video
    pose: np.ndarray | None = None  # float32 (distinct frames, P): pose vectors, when asked for


class _ChunkImages(Dataset):
    """Decodes each chunk's frames resized and cropped for the backbone, with their pair images (one pass)."""

    def __init__(self, jobs: Sequence[FrameJob], chunks: Sequence[_Chunk], preprocess, *, pair_image: str | None,
                 motion_rule: str, appearance: bool, pose: GridPose | None, pose_jobs: frozenset[int]) -> None:
        self.jobs, self.chunks, self.preprocess = jobs, chunks, preprocess
        self.pair_image, self.motion_rule = pair_image, motion_rule
        self.appearance, self.pose, self.pose_jobs = appearance, pose, pose_jobs

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, item: int) -> _Decoded:
        chunk = self.chunks[item]
        job = self.jobs[chunk.job]
        try:
            info = job.info or video.probe(job.path)
            distinct = chunk.indices if chunk.indices is not None else np.unique(job.frames(info).indices)
            pairs = motion.partner_pairs(distinct, info.num_frames, info.fps) if self.pair_image else ()
            with_pose = self.pose is not None and chunk.job in self.pose_jobs
            images = video.read_frames(job.path, np.concatenate([distinct, *pairs]), size=self.preprocess.resize,
                                       crop=None if with_pose else self.preprocess.crop,  # poses see whole frames
                                       interpolation=self.preprocess.interpolation, info=info)
            pose = self.pose.vectors(images[: len(distinct)]) if with_pose else None
            if with_pose:  # the same centre square the decoder would have cut
                crop, (height, width) = self.preprocess.crop, images.shape[1:3]
                top, left = (height - crop) // 2, (width - crop) // 2
                images = np.ascontiguousarray(images[:, top : top + crop, left : left + crop])
            if self.pair_image:
                n = len(distinct)
                differences = motion.pair_images(images[n : 2 * n], images[2 * n :], self.pair_image,
                                                 motion.motion_scale(info.fps, self.motion_rule))
                images = np.concatenate([images[:n], differences]) if self.appearance else differences
        except VidclassError as error:
            return _Decoded(item, None, str(error))
        return _Decoded(item, images, info=None if job.info else info, pose=pose)


def encode_jobs(
    jobs: Sequence[FrameJob],
    encoder: FrameEncoder,
    cache: FeatureCache,
    report: ExtractionReport,
    *,
    pair_image: str | None = None,
    motion_rule: str = motion.MOTION_RULE,
    appearance: bool = True,
    batch_size: int | None = None,
    workers: int = 1,
    pose: GridPose | None = None,
    pose_jobs: frozenset[int] = frozenset(),
    notify: Callable[[str, str], None] = lambda path, status: None,
) -> Iterator[tuple[int, VideoFeatures]]:
    """Compute and cache the entry of every job; yields (job position, entry) as each is written.

    The CNN runs on batches of ``batch_size`` images (default: 1 on a CPU, where this network runs fastest one
    frame at a time in PyTorch and ONNX Runtime alike, benchmarks/runtime.py; 32 on an accelerator). A job
    whose video cannot be decoded is recorded in ``report.failed`` and the rest go on; ``notify(path, status)``
    hears ``computed`` or ``failed`` once per job. The jobs of ``pose_jobs`` that are decoded in one go also get
    ``pose``'s vectors from the same frames (decoded before the centre crop), cached under ``pose``'s spec.
    """
    batch_size = _default_batch(encoder) if batch_size is None else batch_size
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1 frame, got {batch_size}")
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (0 decodes in this process), got {workers}")
    chunks = [chunk for position, job in enumerate(jobs) for chunk in _chunks(position, job)]
    left = np.bincount([chunk.job for chunk in chunks], minlength=len(jobs))  # chunks not yet encoded, per job
    started = time.perf_counter()
    infos = {position: job.info for position, job in enumerate(jobs) if job.info is not None}
    poses: dict[int, np.ndarray] = {}
    encoded: dict[int, np.ndarray] = {}  # the CNN's outputs of each chunk, once all its images are through
    outputs: dict[int, list[np.ndarray]] = {}  # outputs so far of the chunks whose images are queued
    expected: dict[int, int] = {}
    queue: deque[tuple[int, np.ndarray]] = deque()  # images waiting for the CNN, per chunk
    failed: set[int] = set()

    def encode(count: int) -> list[int]:
        """Run the CNN on the next ``count`` queued images; the jobs whose last chunk this completes."""
        taken: list[tuple[int, np.ndarray]] = []
        while count > sum(len(images) for _, images in taken):
            item, images = queue.popleft()
            room = count - sum(len(i) for _, i in taken)
            if len(images) > room:
                queue.appendleft((item, images[room:]))
                images = images[:room]
            taken.append((item, images))
        with torch.inference_mode():
            out = encoder(torch.from_numpy(np.concatenate([images for _, images in taken]))).float().numpy()
        report.engine = getattr(encoder, "engine", "torch")
        done, offset = [], 0
        for item, images in taken:
            outputs[item].append(out[offset : offset + len(images)])
            offset += len(images)
            if sum(len(o) for o in outputs[item]) == expected[item]:
                encoded[item] = np.concatenate(outputs.pop(item))
                left[chunks[item].job] -= 1
                if left[chunks[item].job] == 0:
                    done.append(chunks[item].job)
        return done

    def finish(position: int) -> tuple[int, VideoFeatures]:
        job, info = jobs[position], infos.pop(position)
        items = [item for item in sorted(encoded) if chunks[item].job == position]
        parts = [_split(encoded.pop(item), pair_image, appearance) for item in items]
        features = np.concatenate([f for f, _ in parts])
        pair_features = np.concatenate([p for _, p in parts]) if pair_image else None
        frames = job.frames(info)
        rows = np.unique(frames.indices, return_inverse=True)[1].reshape(-1)
        entry = VideoFeatures(features[rows], frames.indices, frames.mask, info.fps, info.num_frames,
                              frames.duration, rgbdiff=pair_features[rows] if pair_features is not None else None)
        cache.save(FeatureSpec.for_encoder(encoder, len(rows), appearance=appearance, pair_image=pair_image,
                                           motion_rule=motion_rule), job.key, entry, job.path)
        if position in poses and pose is not None:
            vectors = VideoFeatures(poses.pop(position)[rows], frames.indices, frames.mask, info.fps,
                                    info.num_frames, frames.duration)
            cache.save(pose.feature_spec(len(rows)), job.key, vectors, job.path)
        report.computed += 1
        report.frames += len(rows)
        report.seconds = time.perf_counter() - started
        notify(str(job.path), "computed")
        return position, entry

    dataset = _ChunkImages(jobs, chunks, encoder.spec.preprocess, pair_image=pair_image, motion_rule=motion_rule,
                           appearance=appearance, pose=pose, pose_jobs=pose_jobs)
    # poses come from background processes (a LiteRT interpreter serves one thread), which die with this one
    decoded_chunks = in_order(dataset, workers, prefetch=4) if pose is not None and pose_jobs else \
        in_threads(dataset, workers, prefetch=4)
    for decoded in decoded_chunks:
        position = chunks[decoded.item].job
        if position in failed:
            continue
        if decoded.error is not None:
            failed.add(position)
            _drop(position, chunks, queue, outputs, encoded)
            report.failed[str(jobs[position].path)] = decoded.error
            notify(str(jobs[position].path), "failed")
            continue
        if decoded.info is not None:
            infos[position] = decoded.info
        if decoded.pose is not None:
            poses[position] = decoded.pose
        outputs[decoded.item], expected[decoded.item] = [], len(decoded.images)
        queue.append((decoded.item, decoded.images))
        while sum(len(images) for _, images in queue) >= batch_size:
            yield from (finish(position) for position in encode(batch_size))
    queued = sum(len(images) for _, images in queue)
    if queued:
        yield from (finish(position) for position in encode(queued))
    report.seconds = time.perf_counter() - started


def _default_batch(encoder: FrameEncoder) -> int:
    device = getattr(getattr(encoder, "scale", None), "device", None)
    return 32 if device is not None and device.type != "cpu" else 1


def _chunks(position: int, job: FrameJob) -> list[_Chunk]:
    """A job's decoding items: its distinct frames in chunks where they are known, else one item."""
    if job.info is None:
        return [_Chunk(position, None)]
    distinct = np.unique(job.frames(job.info).indices)
    return [_Chunk(position, distinct[k : k + CHUNK_FRAMES]) for k in range(0, len(distinct), CHUNK_FRAMES)]


def _drop(position: int, chunks: Sequence[_Chunk], queue: deque, outputs: dict, encoded: dict) -> None:
    """Forget what a failed job's earlier chunks left queued or encoded."""
    kept = [(item, images) for item, images in queue if chunks[item].job != position]
    queue.clear()
    queue.extend(kept)
    for store in (outputs, encoded):
        for item in [item for item in store if chunks[item].job == position]:
            del store[item]


def _split(out: np.ndarray, pair_image: str | None, appearance: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The frames' features and their pair images' features (or None) from a chunk's CNN outputs."""
    if not appearance:
        return np.zeros((len(out), 0), np.float32), out
    if not pair_image:
        return out, None
    n = len(out) // 2
    return out[:n], out[n:]


def extract_features(
    paths: Sequence[str | Path],
    encoder: FrameEncoder,
    grid: int,
    *,
    cache: FeatureCache,
    batch_size: int | None = None,
    workers: int = 1,
    pair_image: str | None = None,
    motion_rule: str = motion.MOTION_RULE,
    appearance: bool = True,
    pose: GridPose | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> ExtractionReport:
    """Compute and cache the grid features of every video in ``paths`` that has no entry yet: ``grid`` frames
    spread uniformly over the whole video (:func:`vidclass.media.sampling.uniform`), each video one
    :class:`FrameJob` of :func:`encode_jobs` (which says what ``batch_size``, ``workers``, ``pair_image``,
    ``motion_rule`` and ``appearance`` do).

    An unreadable video is reported in the returned report and skipped; the rest go on. ``on_video(path,
    status)`` is called once per video with status ``cached``, ``computed`` or ``failed``, for progress display.
    With ``pose``, whose frames are the backbone's before its centre crop (same short side and interpolation),
    the pose vectors of the videos decoded here that have none cached are computed from the same decoded
    frames in the decoding workers, and cached apart.
    """
    spec = FeatureSpec.for_encoder(encoder, grid, appearance=appearance, pair_image=pair_image, motion_rule=motion_rule)
    report = ExtractionReport(total=len(paths))
    notify = on_video or (lambda path, status: None)
    _, pending = uncached(paths, lambda video_print: cache.load(spec, video_print), report, notify)
    preprocess = encoder.spec.preprocess
    if pose is not None and (pose.size, pose.interpolation) != (preprocess.resize, preprocess.interpolation):
        pose = None  # different frames: vidclass.inputs.pose decodes its own
    pose_jobs = frozenset(i for i, (_, video_print) in enumerate(pending)
                          if pose is not None and cache.load(pose.feature_spec(grid), video_print) is None)
    jobs = [FrameJob(path, video_print, partial(uniform_frames, grid)) for path, video_print in pending]
    try:
        for _ in encode_jobs(jobs, encoder, cache, report, pair_image=pair_image, motion_rule=motion_rule,
                             appearance=appearance, batch_size=batch_size, workers=workers, pose=pose,
                             pose_jobs=pose_jobs, notify=notify):
            pass
    except DiskFullError as error:
        raise DiskFullError(f"{error} (this run wrote {report.computed} of the {len(pending)} videos it had to "
                            "compute before the device filled)") from None
    return report


def uniform_frames(grid: int, info: video.VideoInfo) -> Frames:
    """A whole video's grid: ``grid`` frames spread over it."""
    sample = sampling.uniform(info.num_frames, grid)
    return Frames(sample.indices, sample.mask, info.duration)
