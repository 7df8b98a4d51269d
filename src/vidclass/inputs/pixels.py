"""The pixel path: what a decoded-frame entry is, per-epoch augmentation and clip datasets.

Models trained on pixels (:mod:`vidclass.models.clip_models`) see each training video many times; its frames
are decoded once into an entry of the decoded-frame cache (:mod:`vidclass.inputs.frame_cache`): ``grid``
frames spread over a whole video, or a long recording's track, resized so the short side is ``store`` pixels
and centre-cropped to a ``store`` square, uint8; with RGB differences also the partner frame of each
(:mod:`vidclass.media.motion`).

Per epoch a clip takes a new TSN view of the grid (one frame per segment, random offset)
and one random spatial augmentation shared by all its frames (random resized crop,
horizontal flip, mild colour jitter; torchvision.transforms.v2); validation and test take
the centre crop of every disjoint evaluation view. The store is ``size / 0.875``, so that
centre crop is the usual resize-then-crop preprocessing at ``size``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vidclass.errors import ConfigError
from vidclass.inputs.units import Units
from vidclass.inputs.views import ViewSpec, epoch_item, view_positions
from vidclass.media import motion
from vidclass.models.outputs import Outputs, probabilities

CACHE_FORMAT = 2  # 2: entries are .npy files of vidclass.inputs.frame_cache
CROP_FRACTION = 0.875


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
    partners: np.ndarray | None = None  # (grid, S, S, 3): the later frame of each pair image


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
        motion_rule: str = motion.MOTION_RULE,
        flip: bool = True,
        seed: int = 0,
        view_index: int = 0,
    ) -> None:
        self.units, self.targets = units, list(targets)
        self.view, self.train = view, train
        self.pair_image, self.motion_rule, self.seed, self.view_index = pair_image, motion_rule, seed, view_index
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
        return (clip_tensor(entry, positions, self.transform, self.pair_image, torch_seed, self.motion_rule),
                self.targets[index])


def clip_tensor(entry: VideoFrames, positions: np.ndarray, transform, pair_image: str | None,
                seed: int | None, motion_rule: str = motion.MOTION_RULE) -> torch.Tensor:
    """The frames of ``entry`` at grid ``positions`` (or their ``pair_image`` images: ``rgbdiff`` or ``flow``,
    under ``motion_rule``), transformed, as (T, C, H, W)."""
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
        images = motion.pair_images(earlier, later, pair_image, motion.motion_scale(entry.fps, motion_rule))
        x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
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
