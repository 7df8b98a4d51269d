"""Cached frame features: what an entry holds (:class:`VideoFeatures`), what determines it (:class:`FeatureSpec`),
and the resumable on-disk cache (:class:`FeatureCache`); :mod:`vidclass.inputs.extraction` computes them.

What is cached for a whole video: the features of a *grid* of frames spread uniformly over
the whole video (``grid`` frames, twice the frames a model looks at by default). Training
cuts a different TSN view from that grid each epoch (one frame from each segment, at a
random offset); evaluation takes the centre of each segment. One entry per video keeps the
cache simple and the extraction cost fixed, whatever number of views training wants. A long recording's
entries are tracks (:mod:`vidclass.inputs.tracks`), under keys of their own.

One cache entry per (video content fingerprint, backbone and weights id, preprocessing,
grid, pair images or not): a ``.safetensors`` file written under a temporary name and
renamed when complete, so a killed run leaves no half-written entry under a real name, and a
rerun redoes only the videos that have none. An entry that fails to load or does not match its key is recomputed.

With ``pair_image`` (``"rgbdiff"`` or ``"flow"``) an entry also holds, for every grid frame, the
features of its pair image with the frame about 1/15 s later, their RGB difference or optical flow
(:mod:`vidclass.media.motion`), in its ``rgbdiff`` slot. Inputs of pair images alone
(``appearance=False``) skip the frames' own CNN pass: their entries hold the pair-image features
only (half the CNN work), under a key of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import platformdirs
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from vidclass.errors import ConfigError, DiskFullError, is_disk_full
from vidclass.media import motion
from vidclass.models.backbones import FrameEncoder

CACHE_FORMAT = 1
T = TypeVar("T")
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
    motion_rule: str = motion.MOTION_RULE  # how those pair images follow the frame rate (motion.MOTION_RULES)

    def __post_init__(self) -> None:
        if self.grid < 1:
            raise ConfigError(f"grid must be a positive number of frames, got {self.grid}")
        if self.pair_image is not None and self.pair_image not in motion.PAIR_IMAGES:
            raise ConfigError(f"pair images are one of {', '.join(motion.PAIR_IMAGES)}; got {self.pair_image!r}")
        if not (self.appearance or self.pair_image):
            raise ConfigError("a feature spec without appearance features needs pair images")
        motion.check_motion_rule(self.motion_rule)

    @classmethod
    def for_encoder(cls, encoder: FrameEncoder, grid: int, *, appearance: bool = True,
                    pair_image: str | None = None, motion_rule: str = motion.MOTION_RULE) -> FeatureSpec:
        return cls(encoder.spec.name, encoder.weights_id, asdict(encoder.spec.preprocess), grid, appearance, pair_image,
                   motion_rule)

    def key(self, video_fingerprint: str) -> str:
        fields = {"backbone": self.backbone, "weights_id": self.weights_id, "preprocess": self.preprocess,
                  "grid": self.grid}
        if self.pair_image is not None:  # appearance-only entries keep the keys they had before the motion stream
            fields["rgbdiff"] = True
        if not self.appearance:  # and entries with appearance those they had before RGB differences alone
            fields["appearance"] = False
        if self.pair_image not in (None, "rgbdiff"):  # and RGB-difference entries theirs from before flow
            fields["pair_image"] = self.pair_image
        if self.pair_image is not None and self.motion_rule != motion.UNRECORDED_RULE:  # and theirs before the rule
            fields["motion_rule"] = self.motion_rule
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
    load: Callable[[str], T | None],
    report: ExtractionReport,
    notify: Callable[[str, str], None],
) -> tuple[dict[Path, T], list[tuple[Path, str]]]:
    """The first pass of every extraction: the cached entries of ``paths`` (``load(fingerprint)``, None where the
    cache lacks one), and (path, fingerprint) of the videos it lacks.

    Counts the cached ones in ``report``, records the unreadable ones as failed, and calls
    ``notify(path, "cached" | "failed")`` for both.
    """
    found: dict[Path, T] = {}
    pending: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        try:
            video_print = fingerprint(path)
        except OSError as error:
            report.failed[str(path)] = f"{path}: cannot read file ({error.strerror or error})"
            notify(str(path), "failed")
            continue
        entry = load(video_print)
        if entry is not None:
            found[path] = entry
            report.cached += 1
            notify(str(path), "cached")
        else:
            pending.append((path, video_print))
    return found, pending


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
