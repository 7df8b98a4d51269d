"""Per-video frame features: batched extraction that overlaps decoding with the CNN, and a
resumable on-disk cache.

What is cached: for each video, the features of a *grid* of frames spread uniformly over
the whole video (``grid`` frames, twice the frames a model looks at by default). Training
cuts a different TSN view from that grid each epoch (one frame from each segment, at a
random offset); evaluation takes the centre of each segment. One entry per video keeps the
cache simple and the extraction cost fixed, whatever number of views training wants.

One cache entry per (video content fingerprint, backbone and weights id, preprocessing,
grid, pair images or not): a ``.safetensors`` file written under a temporary name and
renamed when complete, so a killed run leaves no half-written entry under a real name, and a
rerun redoes only the videos that have none. An entry that fails to load or does not match its key is recomputed.

With ``pair_image`` (``"rgbdiff"`` or ``"flow"``) an entry also holds, for every grid frame, the
features of its pair image with the frame about 1/15 s later, their RGB difference or optical flow
(:mod:`vidclass.media.motion`), in its ``rgbdiff`` slot: the frames of both are decoded in the same pass,
and both kinds of image go through the CNN in the same batches. Inputs of pair images alone
(``appearance=False``) skip the frames' own CNN pass: their entries hold the pair-image features
only (half the CNN work), under a key of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file
from torch.utils.data import Dataset

from vidclass.errors import ConfigError, DiskFullError, VidclassError, is_disk_full
from vidclass.media import motion, sampling, video
from vidclass.models.backbones import FrameEncoder
from vidclass.util.workers import in_order, in_threads

CACHE_FORMAT = 1
_FINGERPRINT_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """The user's cache folder for vidclass features (``VIDCLASS_CACHE`` overrides it)."""
    return Path(os.environ.get("VIDCLASS_CACHE") or platformdirs.user_cache_dir("vidclass")) / "features"


def fingerprint(path: str | Path) -> str:
    """A content fingerprint of a file: its size and its first and last MiB, hashed.

    Independent of the file's name, location and modification time, so a dataset that is
    moved or copied keeps its cache, and cheap on large videos.
    """
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(_FINGERPRINT_CHUNK))
        if size > _FINGERPRINT_CHUNK:
            f.seek(max(_FINGERPRINT_CHUNK, size - _FINGERPRINT_CHUNK))
            digest.update(f.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that determines a video's cached features, apart from the video itself."""

    backbone: str
    weights_id: str
    preprocess: dict
    grid: int
    appearance: bool = True  # the frames' own features (False: pair-image features alone)
    pair_image: str | None = None  # also the features of pair images of this kind (vidclass.media.motion.PAIR_IMAGES)

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise ConfigError(f"grid must be a positive number of frames, got {self.grid}")
        if self.pair_image is not None and self.pair_image not in motion.PAIR_IMAGES:
            raise ConfigError(f"pair images are one of {', '.join(motion.PAIR_IMAGES)}; got {self.pair_image!r}")
        if not (self.appearance or self.pair_image):
            raise ConfigError("a feature spec without appearance features needs pair images")

    @classmethod
    def for_encoder(cls, encoder: FrameEncoder, grid: int, *, appearance: bool = True,
                    pair_image: str | None = None) -> FeatureSpec:
        return cls(encoder.spec.name, encoder.weights_id, asdict(encoder.spec.preprocess), grid, appearance, pair_image)

    def key(self, video_fingerprint: str) -> str:
        fields = {"backbone": self.backbone, "weights_id": self.weights_id, "preprocess": self.preprocess,
                  "grid": self.grid}
        if self.pair_image is not None:  # appearance-only entries keep the keys they had before the motion stream
            fields["rgbdiff"] = True
        if not self.appearance:  # and entries with appearance those they had before RGB differences alone
            fields["appearance"] = False
        if self.pair_image not in (None, "rgbdiff"):  # and RGB-difference entries theirs from before flow
            fields["pair_image"] = self.pair_image
        blob = json.dumps({"format": CACHE_FORMAT, "video": video_fingerprint, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class VideoFeatures:
    """The cached features of one video: a (grid, D) array with the frames they came from."""

    features: np.ndarray  # float32 (grid, D); (grid, 0) in an entry of RGB-difference features alone
    indices: np.ndarray  # int64 (grid,) frame indices in the video
    mask: np.ndarray  # bool (grid,) False where a short video repeats frames
    fps: float
    num_frames: int
    duration: float
    rgbdiff: np.ndarray | None = None  # float32 (grid, D): features of the pair images at ``indices``
    pose: np.ndarray | None = None  # float32 (grid, P): pose vectors at ``indices`` (vidclass.inputs.pose), cached apart


class FeatureCache:
    """A folder of cache entries, one ``.safetensors`` file per video and feature spec."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def entry_path(self, spec: FeatureSpec, video_fingerprint: str) -> Path:
        key = spec.key(video_fingerprint)
        slug = spec.backbone.replace(":", "_").replace("/", "_")
        return self.root / slug / key[:2] / f"{key}.safetensors"

    def load(self, spec: FeatureSpec, video_fingerprint: str) -> VideoFeatures | None:
        """The entry, or None when it is missing, unreadable or does not match ``spec``."""
        path = self.entry_path(spec, video_fingerprint)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="np") as entry:
                meta = entry.metadata() or {}
                if meta.get("key") != spec.key(video_fingerprint):
                    return None
                names = (("features",) if spec.appearance else ()) + ("indices", "mask") + (
                    ("rgbdiff",) if spec.pair_image else ())
                tensors = {name: entry.get_tensor(name) for name in names}
            features = tensors["features"] if spec.appearance else np.zeros((spec.grid, 0), np.float32)
            if features.shape[0] != spec.grid or tensors["indices"].shape != (spec.grid,):
                return None
            if spec.pair_image and tensors["rgbdiff"].shape[0] != spec.grid:
                return None
            if spec.pair_image and spec.appearance and tensors["rgbdiff"].shape != features.shape:
                return None
            return VideoFeatures(
                features=features,
                indices=tensors["indices"],
                mask=tensors["mask"].astype(bool),
                fps=float(meta["fps"]),
                num_frames=int(meta["num_frames"]),
                duration=float(meta["duration"]),
                rgbdiff=tensors.get("rgbdiff"),
            )
        except (SafetensorError, OSError, KeyError, ValueError):
            return None

    def save(self, spec: FeatureSpec, video_fingerprint: str, entry: VideoFeatures, source: Path) -> Path:
        """Write one entry atomically (temporary file in the same folder, then rename)."""
        path = self.entry_path(spec, video_fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        metadata = {
            "key": spec.key(video_fingerprint),
            "spec": json.dumps(asdict(spec), sort_keys=True),
            "source": str(source),
            "fps": repr(entry.fps),
            "num_frames": str(entry.num_frames),
            "duration": repr(entry.duration),
        }
        tensors = {
            "indices": entry.indices.astype(np.int64),
            "mask": entry.mask.astype(np.uint8),
        }
        if spec.appearance:
            tensors["features"] = np.ascontiguousarray(entry.features, dtype=np.float32)
        if spec.pair_image:
            if entry.rgbdiff is None:
                raise ConfigError(f"{source}: the feature spec wants {spec.pair_image} features but the entry has none")
            tensors["rgbdiff"] = np.ascontiguousarray(entry.rgbdiff, dtype=np.float32)
        try:
            save_file(tensors, str(tmp), metadata=metadata)
            os.replace(tmp, path)
        except Exception as error:  # a kill leaves its temporary file, which readers ignore and reruns replace
            tmp.unlink(missing_ok=True)  # never a partial entry, and no space held by one
            if is_disk_full(error):
                raise DiskFullError.while_writing(self.root, f"the features of {source}") from None
            raise
        return path


@dataclass
class ExtractionReport:
    """What one extraction run did; ``failed`` maps a video to the reason it was skipped.

    ``frames`` counts the grid frames of the videos computed and ``seconds`` the wall time of
    their decoding and encoding, so ``frames_per_second`` is the rate features come out at.
    ``engine`` says what ran the frame encoder (``onnxruntime``, ``torch``): None when nothing was
    encoded (every video cached or failed before its frames reached the encoder).
    """

    total: int = 0
    computed: int = 0
    cached: int = 0
    frames: int = 0
    seconds: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)
    engine: str | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class GridPose(Protocol):
    """Pose vectors computed in the decoding pass of the CNN features (``vidclass.inputs.pose.PoseSpec``):
    from the distinct grid frames, decoded with their short side at ``size`` pixels
    (``interpolation``) before the centre crop, in order."""

    size: int
    interpolation: str

    def feature_spec(self, grid: int) -> FeatureSpec: ...

    def vectors(self, frames: np.ndarray) -> np.ndarray: ...


def uncached(
    paths: Sequence[str | Path],
    cached: Callable[[str], bool],
    report: ExtractionReport,
    notify: Callable[[str, str], None],
) -> list[tuple[Path, str]]:
    """(path, fingerprint) of the videos of ``paths`` a cache lacks (``cached(fingerprint)`` is false).

    Counts the cached ones in ``report``, records the unreadable ones as failed, and calls
    ``notify(path, "cached" | "failed")`` for both: the first pass of every extraction.
    """
    pending: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        try:
            video_print = fingerprint(path)
        except OSError as error:
            report.failed[str(path)] = f"{path}: cannot read file ({error.strerror or error})"
            notify(str(path), "failed")
            continue
        if cached(video_print):
            report.cached += 1
            notify(str(path), "cached")
        else:
            pending.append((path, video_print))
    return pending


@dataclass(frozen=True)
class _Decoded:
    position: int
    frames: np.ndarray | None  # uint8 (distinct grid frames [+ their RGB differences], crop, crop, 3)
    grid_rows: np.ndarray | None  # int64 (grid,): the row of ``frames`` at each grid slot
    indices: np.ndarray | None
    mask: np.ndarray | None
    info: video.VideoInfo | None
    error: str | None
    pose: np.ndarray | None = None  # float32 (distinct grid frames, P): pose vectors, when asked for


class _GridFrames(Dataset):
    """Decodes the grid frames of each video, resized and cropped for the backbone.

    A video shorter than the grid repeats its last frame; each distinct frame is decoded
    (and later encoded) once, and ``grid_rows`` puts the grid back together. With ``pair_image``
    the pair image of each distinct frame follows the distinct frames, and the frames
    of both are decoded in one pass; without ``appearance`` only the difference images are kept.
    """

    def __init__(
        self, paths: Sequence[Path], grid: int, preprocess, *, pair_image: str | None = None, appearance: bool = True,
        pose: GridPose | None = None, pose_positions: frozenset[int] = frozenset(),
    ) -> None:
        self.paths = list(paths)
        self.grid = grid
        self.preprocess = preprocess
        self.pair_image = pair_image
        self.appearance = appearance
        self.pose = pose
        self.pose_positions = pose_positions  # the videos whose pose vectors are computed here too

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> _Decoded:
        path = self.paths[position]
        try:
            info = video.probe(path)
            sample = sampling.uniform(info.num_frames, self.grid)
            distinct, grid_rows = np.unique(sample.indices, return_inverse=True)
            pairs = motion.partner_pairs(distinct, info.num_frames, info.fps) if self.pair_image else ()
            wanted = np.concatenate([distinct, *pairs])
            with_pose = self.pose is not None and position in self.pose_positions
            frames = video.read_frames(
                path,
                wanted,
                size=self.preprocess.resize,
                crop=None if with_pose else self.preprocess.crop,  # the pose estimator sees whole frames
                interpolation=self.preprocess.interpolation,
                info=info,
            )
            pose = self.pose.vectors(frames[: len(distinct)]) if with_pose else None
            if with_pose:  # the same centre square the decoder would have cut
                crop, (height, width) = self.preprocess.crop, frames.shape[1:3]
                top, left = (height - crop) // 2, (width - crop) // 2
                frames = np.ascontiguousarray(frames[:, top : top + crop, left : left + crop])
            if self.pair_image:
                n = len(distinct)
                differences = motion.pair_images(frames[n : 2 * n], frames[2 * n :], self.pair_image)
                frames = np.concatenate([frames[:n], differences]) if self.appearance else differences
        except VidclassError as error:
            return _Decoded(position, None, None, None, None, None, str(error))
        return _Decoded(position, frames, grid_rows.reshape(-1), sample.indices, sample.mask, info, None, pose)


def _decoded_videos(dataset: _GridFrames, workers: int) -> Iterator[_Decoded]:
    """Decoded videos in order, from ``workers`` decoding threads (0: one after another); with poses to estimate,
    from background processes (a LiteRT interpreter serves one thread), which die with this one."""
    if dataset.pose_positions:
        return in_order(dataset, workers, prefetch=4)
    return in_threads(dataset, workers, prefetch=4)


def extract_features(
    paths: Sequence[str | Path],
    encoder: FrameEncoder,
    grid: int,
    *,
    cache: FeatureCache,
    batch_size: int | None = None,
    workers: int = 1,
    pair_image: str | None = None,
    appearance: bool = True,
    pose: GridPose | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> ExtractionReport:
    """Compute and cache the grid features of every video in ``paths`` that has no entry yet.

    With ``pair_image`` the entries also hold the features of each grid frame's pair image, its RGB
    difference (``"rgbdiff"``) or its optical flow (``"flow"``) (twice the CNN work; with ``appearance=False`` they hold
    those alone, and the frames themselves skip the CNN).
    Decoding runs in ``workers`` threads (:func:`vidclass.util.workers.in_threads`) while the CNN runs here on batches
    of ``batch_size`` frames that span videos (default: 1 on a CPU, where this network runs fastest one frame
    at a time in PyTorch and ONNX Runtime alike, benchmarks/runtime.py; 32 on an accelerator). An unreadable video is reported in the
    returned report and skipped; the rest go on. ``on_video(path, status)`` is called once
    per video with status ``cached``, ``computed`` or ``failed``, for progress display.
    With ``pose``, whose frames are the backbone's before its centre crop (same short side and
    interpolation), the pose vectors of the videos decoded here that have none cached are
    computed from the same decoded frames in the decoding workers, and cached apart.
    """
    if batch_size is None:
        device = getattr(getattr(encoder, "scale", None), "device", None)
        batch_size = 32 if device is not None and device.type != "cpu" else 1
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1 frame, got {batch_size}")
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (0 decodes in this process), got {workers}")
    spec = FeatureSpec.for_encoder(encoder, grid, appearance=appearance, pair_image=pair_image)
    report = ExtractionReport(total=len(paths))
    notify = on_video or (lambda path, status: None)
    pending = uncached(paths, lambda video_print: cache.load(spec, video_print) is not None, report, notify)
    if not pending:
        return report

    start = time.perf_counter()
    preprocess = encoder.spec.preprocess
    if pose is not None and (pose.size, pose.interpolation) != (preprocess.resize, preprocess.interpolation):
        pose = None  # different frames: vidclass.inputs.pose decodes its own
    pose_spec = pose.feature_spec(grid) if pose is not None else None
    pose_positions = frozenset(
        i for i, (_, video_print) in enumerate(pending) if pose_spec is not None and cache.load(pose_spec, video_print) is None
    )
    dataset = _GridFrames([p for p, _ in pending], grid, preprocess, pair_image=pair_image, appearance=appearance,
                          pose=pose, pose_positions=pose_positions)
    videos: dict[int, _Decoded] = {}  # decoded videos whose features are not all computed yet
    parts: dict[int, list[np.ndarray]] = {}  # features computed so far, per video
    queue: deque[tuple[int, np.ndarray]] = deque()  # frames waiting for the CNN, per video
    queued = 0

    def encode(count: int) -> None:
        """Run the CNN on the next ``count`` queued frames; save the videos this completes."""
        nonlocal queued
        taken: list[tuple[int, np.ndarray]] = []
        while count > sum(len(frames) for _, frames in taken):
            position, frames = queue.popleft()
            room = count - sum(len(f) for _, f in taken)
            if len(frames) > room:
                queue.appendleft((position, frames[room:]))
                frames = frames[:room]
            taken.append((position, frames))
        batch = torch.from_numpy(np.concatenate([frames for _, frames in taken]))
        with torch.inference_mode():
            out = encoder(batch).float().numpy()
        report.engine = getattr(encoder, "engine", "torch")
        offset = 0
        for position, frames in taken:
            parts[position].append(out[offset : offset + len(frames)])
            offset += len(frames)
            if sum(len(p) for p in parts[position]) == len(videos[position].frames):
                save(videos.pop(position), np.concatenate(parts.pop(position)))
        queued -= count

    def save(decoded: _Decoded, encoded: np.ndarray) -> None:
        path, video_print = pending[decoded.position]
        info = decoded.info
        if not appearance:
            frames, differences = np.zeros((len(encoded), 0), np.float32), encoded
        else:
            frames, differences = np.split(encoded, 2) if pair_image else (encoded, None)
        entry = VideoFeatures(
            frames[decoded.grid_rows], decoded.indices, decoded.mask, info.fps, info.num_frames, info.duration,
            rgbdiff=differences[decoded.grid_rows] if differences is not None else None,
        )
        cache.save(spec, video_print, entry, path)
        if decoded.pose is not None and pose_spec is not None:
            vectors = VideoFeatures(decoded.pose[decoded.grid_rows], decoded.indices, decoded.mask, info.fps,
                                    info.num_frames, info.duration)
            cache.save(pose_spec, video_print, vectors, path)
        report.computed += 1
        report.frames += grid
        notify(str(path), "computed")

    try:
        for decoded in _decoded_videos(dataset, workers):
            if decoded.error is not None:
                path = pending[decoded.position][0]
                report.failed[str(path)] = decoded.error
                notify(str(path), "failed")
                continue
            videos[decoded.position] = decoded
            parts[decoded.position] = []
            queue.append((decoded.position, decoded.frames))
            queued += len(decoded.frames)
            while queued >= batch_size:
                encode(batch_size)
        if queued:
            encode(queued)
    except DiskFullError as error:
        raise DiskFullError(f"{error} (this run wrote {report.computed} of the {len(pending)} videos it had to "
                            "compute before the device filled)") from None
    report.seconds = time.perf_counter() - start
    return report


def load_features(
    paths: Sequence[str | Path], spec: FeatureSpec, cache: FeatureCache
) -> dict[Path, VideoFeatures]:
    """The cached entries of ``paths``; videos without an entry are left out."""
    found = {}
    for raw in paths:
        path = Path(raw)
        try:
            entry = cache.load(spec, fingerprint(path))
        except OSError:
            continue
        if entry is not None:
            found[path] = entry
    return found
