"""The pixel path: a decoded-frame cache, per-epoch augmentation and clip datasets.

Models trained on pixels (:mod:`vidclass.models.clip_models`) see each training video many times.
Each video is decoded once into a cache entry: a grid of ``grid`` frames spread over the
whole video (as the feature cache does), resized so the short side is ``store`` pixels and
centre-cropped to a ``store`` square, uint8; with RGB differences also the partner frame of
each (:mod:`vidclass.media.motion`). Entries are content-addressed ``.safetensors`` files written
under a temporary name and renamed, so a killed run resumes with what is missing, a corrupt
entry is recomputed, and an epoch reads no video file.

Per epoch a clip takes a new TSN view of the grid (one frame per segment, random offset)
and one random spatial augmentation shared by all its frames (random resized crop,
horizontal flip, mild colour jitter; torchvision.transforms.v2); validation and test take
the centre crop of every disjoint evaluation view. The store is ``size / 0.875``, so that
centre crop is the usual resize-then-crop preprocessing at ``size``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import platformdirs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file
from torch.utils.data import Dataset

from vidclass.errors import ConfigError, DiskFullError, VidclassError, is_disk_full
from vidclass.inputs.features import ExtractionReport, fingerprint, uncached
from vidclass.inputs.units import Units
from vidclass.inputs.views import ViewSpec, epoch_item, view_positions
from vidclass.media import motion, sampling, video
from vidclass.models.outputs import Outputs, probabilities
from vidclass.util.workers import in_threads

CACHE_FORMAT = 1
CROP_FRACTION = 0.875


def default_frame_cache_dir() -> Path:
    """The user's cache folder for decoded frames (``VIDCLASS_CACHE`` overrides its parent)."""
    return Path(os.environ.get("VIDCLASS_CACHE") or platformdirs.user_cache_dir("vidclass")) / "frames"


def store_size(size: int) -> int:
    """The square side cached for a model that trains at ``size`` pixels."""
    return int(round(size / CROP_FRACTION))


@dataclass(frozen=True)
class FrameSpec:
    """Everything that determines a cache entry apart from the video: frames and how they were made."""

    store: int
    grid: int
    interpolation: str = "bilinear"
    rgbdiff: bool = False  # also each grid frame's partner frame, for RGB differences

    def __post_init__(self) -> None:
        if self.grid < 1 or self.store < 8:
            raise ConfigError(f"a frame cache needs grid >= 1 and store >= 8 pixels, got {self.grid}, {self.store}")

    def key(self, video_fingerprint: str) -> str:
        blob = json.dumps({"format": CACHE_FORMAT, "video": video_fingerprint, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class VideoFrames:
    """One video's cached frames: ``frames`` (grid, S, S, 3) uint8 and where they came from."""

    frames: np.ndarray
    mask: np.ndarray  # bool (grid,): False where a short video repeats frames
    fps: float
    num_frames: int
    duration: float
    partners: np.ndarray | None = None  # (grid, S, S, 3): the later frame of each RGB difference

    def differences(self) -> np.ndarray:
        """The RGB-difference images of the grid (needs ``partners``)."""
        if self.partners is None:
            raise ConfigError("these cached frames hold no partner frames for RGB differences")
        return motion.difference_frames(self.frames, self.partners)


class FrameCache:
    """A folder of decoded-frame entries, one ``.safetensors`` file per video and :class:`FrameSpec`."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_frame_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.root}: the frame cache must be a folder, and this is a file")

    def entry_path(self, spec: FrameSpec, video_fingerprint: str) -> Path:
        key = spec.key(video_fingerprint)
        return self.root / f"s{spec.store}" / key[:2] / f"{key}.safetensors"

    def load(self, spec: FrameSpec, video_fingerprint: str) -> VideoFrames | None:
        """The entry, or None when it is missing, unreadable or not made for ``spec``."""
        path = self.entry_path(spec, video_fingerprint)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="np") as entry:
                meta = entry.metadata() or {}
                if meta.get("key") != spec.key(video_fingerprint):
                    return None
                names = ("frames", "mask") + (("partners",) if spec.rgbdiff else ())
                tensors = {name: entry.get_tensor(name) for name in names}
            frames = tensors["frames"]
            if frames.shape != (spec.grid, spec.store, spec.store, 3) or frames.dtype != np.uint8:
                return None
            if spec.rgbdiff and tensors["partners"].shape != frames.shape:
                return None
            return VideoFrames(frames, tensors["mask"].astype(bool), float(meta["fps"]), int(meta["num_frames"]),
                               float(meta["duration"]), tensors.get("partners"))
        except (SafetensorError, OSError, KeyError, ValueError):
            return None

    def save(self, spec: FrameSpec, video_fingerprint: str, entry: VideoFrames, source: Path) -> Path:
        """Write one entry atomically (a temporary file in the same folder, then a rename)."""
        path = self.entry_path(spec, video_fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        tensors = {"frames": np.ascontiguousarray(entry.frames), "mask": entry.mask.astype(np.uint8)}
        if spec.rgbdiff:
            tensors["partners"] = np.ascontiguousarray(entry.partners)
        metadata = {"key": spec.key(video_fingerprint), "source": str(source), "fps": repr(entry.fps),
                    "num_frames": str(entry.num_frames), "duration": repr(entry.duration)}
        try:
            save_file(tensors, str(tmp), metadata=metadata)
            os.replace(tmp, path)
        except BaseException as error:
            tmp.unlink(missing_ok=True)
            if is_disk_full(error):
                raise DiskFullError.while_writing(self.root, f"the decoded frames of {source}") from None
            raise
        return path


def decode_grid(path: Path, spec: FrameSpec) -> VideoFrames:
    """Decode the grid frames (and partners) of one video, as a cache entry holds them."""
    info = video.probe(path)
    sample = sampling.uniform(info.num_frames, spec.grid)
    wanted = [sample.indices]
    if spec.rgbdiff:
        earlier, later = motion.partner_pairs(sample.indices, info.num_frames, info.fps)
        wanted = [earlier, later]
    frames = video.read_frames(path, np.concatenate(wanted), size=spec.store, crop=spec.store,
                               interpolation=spec.interpolation, info=info)  # type: ignore[arg-type]
    n = len(sample.indices)
    return VideoFrames(frames[:n], sample.mask, info.fps, info.num_frames, info.duration,
                       frames[n:] if spec.rgbdiff else None)


class _Decode(Dataset):
    """Decodes one video per item in a worker; returns (position, entry or None, error or None)."""

    def __init__(self, paths: Sequence[Path], spec: FrameSpec) -> None:
        self.paths, self.spec = list(paths), spec

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> tuple[int, VideoFrames | None, str | None]:
        try:
            return position, decode_grid(self.paths[position], self.spec), None
        except VidclassError as error:
            return position, None, str(error)


def cache_frames(
    paths: Sequence[str | Path],
    spec: FrameSpec,
    cache: FrameCache,
    *,
    workers: int = 1,
    on_video: Callable[[str, str], None] | None = None,
) -> ExtractionReport:
    """Decode into ``cache`` every video of ``paths`` that has no entry yet; report what happened.

    An unreadable video is reported (``failed``) and skipped; the rest go on. ``on_video(path,
    status)`` is called once per video with ``cached``, ``computed`` or ``failed``.
    """
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (0 decodes in this process), got {workers}")
    report = ExtractionReport(total=len(paths))
    notify = on_video or (lambda path, status: None)
    pending = uncached(paths, lambda video_print: cache.load(spec, video_print) is not None, report, notify)
    started = time.perf_counter()
    for position, entry, error in in_threads(_Decode([p for p, _ in pending], spec), workers if pending else 0):
        path, print_ = pending[position]
        if entry is None:
            report.failed[str(path)] = error or f"{path}: cannot be decoded"
            notify(str(path), "failed")
            continue
        try:
            cache.save(spec, print_, entry, path)
        except DiskFullError as full:
            raise DiskFullError(f"{full} (this run wrote {report.computed} of the {len(pending)} videos it had to "
                                "decode before the device filled)") from None
        report.computed += 1
        report.frames += spec.grid
        notify(str(path), "computed")
    report.seconds = time.perf_counter() - started
    return report


def load_frames(paths: Sequence[str | Path], spec: FrameSpec, cache: FrameCache) -> dict[Path, Path]:
    """``{video: cache entry file}`` for the videos of ``paths`` that have a valid entry."""
    found = {}
    for raw in paths:
        path = Path(raw)
        try:
            print_ = fingerprint(path)
        except OSError:
            continue
        if cache.load(spec, print_) is not None:
            found[path] = cache.entry_path(spec, print_)
    return found


def read_entry(entry: Path, spec: FrameSpec) -> VideoFrames:
    """A cache entry file found by :func:`load_frames` (it was valid then)."""
    with safe_open(str(entry), framework="np") as f:
        meta = f.metadata() or {}
        partners = f.get_tensor("partners") if spec.rgbdiff else None
        return VideoFrames(f.get_tensor("frames"), f.get_tensor("mask").astype(bool), float(meta["fps"]),
                           int(meta["num_frames"]), float(meta["duration"]), partners)


def entry_duration(entry: Path) -> float:
    """The duration in seconds of the video a cache entry file was decoded from."""
    with safe_open(str(entry), framework="np") as f:
        return float((f.metadata() or {})["duration"])


# --- augmentation and datasets ----------------------------------------------------------


def clip_transform(size: int, *, train: bool, flip: bool = True):
    """uint8 ``(T, C, S, S)`` -> uint8 ``(T, C, size, size)``; random (same for every frame) when ``train``."""
    from torchvision.transforms import v2

    if not train:
        return v2.CenterCrop(size)
    steps = [v2.RandomResizedCrop(size, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3), antialias=True)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    steps.append(v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02))
    return v2.Compose(steps)


class ClipTensors(Dataset):
    """Clips of decoded frames, whole files' cache entries or clips cut from frame tracks (``units``,
    :mod:`vidclass.inputs.units`), as ``(uint8 (T, C, size, size), target)`` (a class index, or a regression
    model's standardised target).

    Training items are ``(epoch, index)`` pairs from :class:`vidclass.training.loop.EpochSampler`:
    the TSN view, the augmentation and, for random clip plans, the clip's position depend only on
    (seed, epoch, index), so worker processes, resumed runs and a second run with the same seed see the
    same clips. Evaluation items are plain indices, at view ``view_index``.
    """

    def __init__(
        self,
        units: Units[VideoFrames],
        targets: Sequence[int] | Sequence[float],
        view: ViewSpec,
        size: int,
        *,
        train: bool,
        pair_image: str | None = None,
        flip: bool = True,
        seed: int = 0,
        view_index: int = 0,
    ) -> None:
        self.units, self.targets = units, list(targets)
        self.view, self.train = view, train
        self.pair_image, self.seed, self.view_index = pair_image, seed, view_index
        self.transform = clip_transform(size, train=train, flip=flip)

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, int | float]:
        index, rng = epoch_item(item, train=self.train, seed=self.seed)
        entry = self.units.entry(index, rng)
        if rng is not None:
            positions, torch_seed = view_positions(self.view, rng=rng), int(rng.integers(0, 2**62))
        else:
            positions, torch_seed = view_positions(self.view, view=self.view_index), None
        return clip_tensor(entry, positions, self.transform, self.pair_image, torch_seed), self.targets[index]


def clip_tensor(entry: VideoFrames, positions: np.ndarray, transform, pair_image: str | None,
                seed: int | None) -> torch.Tensor:
    """The frames of ``entry`` at grid ``positions`` (or their ``pair_image`` images: ``rgbdiff`` or ``flow``),
    transformed, as (T, C, H, W)."""
    frames = entry.frames[positions]
    if pair_image is not None:  # augment both frames of each pair alike, then draw the pair image
        frames = np.concatenate([frames, entry.partners[positions]])
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x = transform(x)
    else:
        x = transform(x)
    if pair_image is not None:
        n = len(positions)
        earlier, later = (part.permute(0, 2, 3, 1).numpy() for part in (x[:n], x[n:]))
        x = torch.from_numpy(motion.pair_images(earlier, later, pair_image)).permute(0, 3, 1, 2).contiguous()
    return x


def clip_model_outputs(model: torch.nn.Module, views: Sequence[Dataset], outputs: Outputs = probabilities, *,
                       batch_size: int = 8) -> np.ndarray:
    """A clip model's ``outputs`` (N, C: class probabilities unless told, or a regression model's
    :func:`vidclass.models.outputs.values`) averaged over the evaluation views, one dataset of the same N clips
    per view (:class:`ClipTensors` at ``view_index``)."""
    from torch.utils.data import DataLoader

    if not len(views[0]):
        return np.zeros((0, model.num_classes), dtype=np.float32)
    model.eval()
    device = model.scale.device
    total = np.zeros((len(views[0]), model.num_classes))
    with torch.inference_mode():
        for dataset in views:
            total += np.concatenate([outputs(model(clips.to(device))).cpu().numpy()
                                     for clips, _ in DataLoader(dataset, batch_size=batch_size)])
    return (total / len(views)).astype(np.float32)
