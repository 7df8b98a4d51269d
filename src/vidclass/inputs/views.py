"""Temporal views cut from cached feature grids, and the motion channel.

A cached grid holds features of ``grid`` frames spread over a whole video. A view takes
``frames`` of them, one per TSN segment: at a random offset in each segment for training
(a different view each epoch), at fixed offsets for evaluation. With a grid ``R`` times
denser than a view there are ``R`` disjoint evaluation views; test-time averaging uses all.

Two motion channels, appended alone or together (``appearance+motion+rgbdiff``) to the
appearance features of every frame, so a head sees appearance and motion side by side
(averaging appearance alone throws away the motion that tells, say, a fight from a hug):

- ``appearance+motion``: the frame's feature change since the previous frame of the view
  (zero for the first), computed from the appearance grid alone;
- ``appearance+rgbdiff``: the features of the frame's RGB difference with the frame about
  1/15 s later (:mod:`vidclass.media.motion`), cached beside the appearance grid. Pixel motion
  between nearby frames; it costs a second CNN pass at extraction.

``rgbdiff`` alone is the motion stream without appearance: for targets that only motion
reveals (a speed), where appearance is a nuisance a small dataset lets a head overfit to.

``flow`` and ``appearance+flow`` take the place of RGB differences with the features of the
pair's dense optical flow drawn as an image (:func:`vidclass.media.motion.flow_frames`). Either kind
of pair image (``ViewSpec.pair_image``) is cached in the grid's ``rgbdiff`` slot, so everything
that carries RGB-difference features carries flow features the same way.

Pose inputs (``POSE_INPUTS``) add the frame's pose vector (:mod:`vidclass.inputs.pose`: ``people``
slots of normalised skeletons) and ``velocity``, its change per slot between view frames;
``pose`` and ``pose+velocity`` leave the backbone's features out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from vidclass.errors import ConfigError
from vidclass.media import sampling
from vidclass.media.motion import MOTION_RULE, PAIR_IMAGES, check_motion_rule
from vidclass.models.outputs import Outputs, probabilities

if TYPE_CHECKING:
    from vidclass.inputs.features import VideoFeatures
    from vidclass.inputs.units import Units

Inputs = Literal["appearance", "appearance+motion", "appearance+rgbdiff", "appearance+motion+rgbdiff", "rgbdiff",
                 "appearance+flow", "flow"]
INPUTS: tuple[str, ...] = ("appearance", "appearance+motion", "appearance+rgbdiff", "appearance+motion+rgbdiff",
                           "rgbdiff", "appearance+flow", "flow")
# The default, with the attention head (vidclass.estimator.tasks): the best worst case of grouped 5-fold CV over
# fight_surv and egogestar among the flow recipes (`vidclass compare --nested`, README "Defaults"): flow alone
# scored 0.798 and 0.850 with the attention head, 0.814 and 0.759 with the linear head; appearance+flow 0.797 and
# 0.666 (linear), 0.716 and 0.583 (attention). It also skips the frames' own CNN pass: half the CNN work.
DEFAULT_INPUTS: Inputs = "flow"
# Pose channels (vidclass.inputs.pose): ``pose`` is the frame's pose vector (``people`` slots), ``velocity``
# its change since the previous frame of the view, per slot (zero where a slot is empty in either).
POSE_INPUTS: tuple[str, ...] = (
    "pose", "pose+velocity", "appearance+pose", "appearance+pose+velocity", "appearance+motion+pose",
    "appearance+rgbdiff+pose", "appearance+rgbdiff+pose+velocity",
)


@dataclass(frozen=True)
class ViewSpec:
    """How a model's input sequence is cut from a cached grid and what it contains."""

    frames: int = 16
    grid: int = 32
    inputs: Inputs = DEFAULT_INPUTS
    people: int = 3  # pose slots per frame, for inputs with ``pose``
    motion_rule: str = MOTION_RULE  # how pair images follow the frame rate (vidclass.media.motion.MOTION_RULES)

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ConfigError(f"frames must be >= 1, got {self.frames}")
        if self.grid < self.frames:
            raise ConfigError(f"grid ({self.grid}) must hold at least frames ({self.frames}) frames")
        if self.inputs not in INPUTS + POSE_INPUTS:
            raise ConfigError(f"inputs must be one of {', '.join(INPUTS + POSE_INPUTS)}, got {self.inputs!r}")
        if self.people < 1:
            raise ConfigError(f"people (pose slots) must be >= 1, got {self.people}")
        check_motion_rule(self.motion_rule)

    @property
    def test_views(self) -> int:
        """How many disjoint evaluation views a grid holds."""
        return max(1, self.grid // self.frames)

    @property
    def channels(self) -> tuple[str, ...]:
        """The per-frame channels of the inputs, in order: ``appearance``, ``motion``, ``rgbdiff``."""
        return tuple(self.inputs.split("+"))

    @property
    def pair_image(self) -> str | None:
        """The kind of pair image the inputs need (``rgbdiff`` or ``flow``), or None."""
        return next((c for c in self.channels if c in PAIR_IMAGES), None)

    @property
    def pose(self) -> bool:
        """Whether the inputs need pose vectors."""
        return "pose" in self.channels

    @property
    def appearance(self) -> bool:
        """Whether the inputs need the backbone (pose-only inputs do not; ``rgbdiff`` alone does)."""
        return "appearance" in self.channels or self.pair_image is not None

    @property
    def frame_features(self) -> bool:
        """Whether the inputs use the backbone's features of the frames themselves (``rgbdiff`` or ``flow``
        alone do not: their cache entries skip that CNN pass)."""
        return "appearance" in self.channels or "motion" in self.channels

    def input_dim(self, feature_dim: int) -> int:
        from vidclass.inputs.pose.vectors import pose_dim

        pose = sum(c in ("pose", "velocity") for c in self.channels)
        return feature_dim * (len(self.channels) - pose) + pose_dim(self.people) * pose


def view_positions(spec: ViewSpec, *, rng: np.random.Generator | None = None, view: int = 0) -> np.ndarray:
    """Grid positions of one view: random per segment with ``rng``, else evaluation view ``view``."""
    if rng is not None:
        return sampling.segments(spec.grid, spec.frames, rng=rng).indices
    centre = sampling.segments(spec.grid, spec.frames).indices
    if spec.test_views == 1:
        return centre
    bounds = np.linspace(0, spec.grid, spec.frames + 1)
    starts = np.floor(bounds[:-1]).astype(np.int64)
    step = (bounds[1] - bounds[0]) / spec.test_views
    return np.minimum(starts + int(np.floor(step * (view + 0.5))), spec.grid - 1)


def model_inputs(
    features: np.ndarray,
    mask: np.ndarray,
    spec: ViewSpec,
    rgbdiff: np.ndarray | None = None,
    pose: np.ndarray | None = None,
) -> np.ndarray:
    """(T, D) features of one view -> (T, D x channels): the channels of ``spec.inputs`` side by side.

    ``motion`` is taken between consecutive real frames only; padded (repeated) frames get
    zero. ``rgbdiff`` is the given ``rgbdiff`` (T, D), which those inputs require; ``pose``
    the (T, P) pose vectors, which inputs with ``pose`` require (``velocity`` is their change).
    """
    parts = [features.astype(np.float32, copy=False)] if "appearance" in spec.channels else []
    if "motion" in spec.channels:
        motion = np.zeros_like(features, dtype=np.float32)
        motion[1:] = features[1:] - features[:-1]
        motion[~mask] = 0.0
        parts.append(motion)
    if spec.pair_image is not None:
        if rgbdiff is None or len(rgbdiff) != len(features) or (spec.frame_features and rgbdiff.shape != features.shape):
            what = "RGB-difference" if spec.pair_image == "rgbdiff" else "optical-flow"
            raise ConfigError(f"inputs {spec.inputs!r} need {what} features of {len(features)} frames"
                              + (f" shaped like {features.shape}" if spec.frame_features else ""))
        parts.append(rgbdiff.astype(np.float32, copy=False))
    if spec.pose:
        from vidclass.inputs.pose.vectors import pose_dim, velocities

        if pose is None or pose.shape != (len(mask), pose_dim(spec.people)):
            raise ConfigError(f"inputs {spec.inputs!r} need pose vectors of {spec.people} people for {len(mask)} frames")
        parts.append(pose.astype(np.float32, copy=False))
        if "velocity" in spec.channels:
            parts.append(velocities(pose, mask))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def cut_view(
    features: np.ndarray,
    mask: np.ndarray,
    spec: ViewSpec,
    *,
    rng: np.random.Generator | None = None,
    view: int = 0,
    rgbdiff: np.ndarray | None = None,
    pose: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One view of a cached grid (and its RGB-difference and pose grids, where the inputs use
    them) as model inputs (T, D') and its mask of real frames (T,)."""
    positions = view_positions(spec, rng=rng, view=view)
    view_mask = mask[positions]
    # a grid repeats frames only for short videos; a view may then hold the same frame twice
    view_mask = view_mask & np.concatenate([[True], positions[1:] != positions[:-1]])
    differences = rgbdiff[positions] if rgbdiff is not None else None
    poses = pose[positions] if pose is not None else None
    view_mask = head_steps(spec, view_mask, poses)
    return model_inputs(features[positions], view_mask, spec, differences, poses), view_mask


def head_steps(spec: ViewSpec, mask: np.ndarray, pose: np.ndarray | None = None) -> np.ndarray:
    """The steps of a view a head attends to: its real frames (``mask``) and, for pose-only
    inputs, only those in which somebody was found (a frame with nobody is a masked step).
    At least the first step stays, so a view of repeats or of nobody still has one."""
    if spec.pose and not spec.appearance and pose is not None:
        from vidclass.inputs.pose.vectors import people_present

        mask = mask & (people_present(pose) > 0)
    if not mask.any():  # every pick was a repeat, or nobody is anywhere: the first step stands for the view
        mask = mask.copy()
        mask[0] = True
    return mask


def epoch_item(item: int | tuple[int, int], *, train: bool, seed: int) -> tuple[int, np.random.Generator | None]:
    """The index a dataset item names and its generator: training items are ``(epoch, index)`` pairs
    (``training.EpochSampler``) with a generator seeded by ``(seed, epoch, index)``; others have none."""
    if train:
        epoch, index = item  # type: ignore[misc]
        return index, np.random.default_rng([seed, epoch, index])
    return int(item), None  # type: ignore[arg-type]


def cut_grid_view(
    grid: VideoFeatures, spec: ViewSpec, *, rng: np.random.Generator | None = None, view: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cut_view` of a cached video."""
    return cut_view(grid.features, grid.mask, spec, rng=rng, view=view, rgbdiff=grid.rgbdiff, pose=grid.pose)


class GridViews(Dataset):
    """Views of feature grids, whole files' or clips cut from feature tracks (``units``,
    :mod:`vidclass.inputs.units`): with ``train`` a random view per ``(epoch, index)`` (and, for random clip
    plans, a new clip position), else the unit as it is at view ``view``. Items are ``(x, mask, target)``."""

    def __init__(self, units: Units[VideoFeatures], targets: Sequence[Any], spec: ViewSpec, *, train: bool,
                 seed: int = 0, view: int = 0) -> None:
        self.units, self.targets = units, list(targets)
        self.spec, self.train, self.seed, self.view = spec, train, seed, view

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, Any]:
        index, rng = epoch_item(item, train=self.train, seed=self.seed)
        x, mask = cut_grid_view(self.units.entry(index, rng), self.spec, rng=rng, view=self.view)
        return torch.from_numpy(x), torch.from_numpy(mask), self.targets[index]


def view_averaged(head: torch.nn.Module, grids: Sequence[VideoFeatures], spec: ViewSpec,
                  outputs: Outputs = probabilities) -> np.ndarray:
    """The head's ``outputs`` of each grid (N, C: class probabilities unless told, or a regression model's
    :func:`vidclass.models.outputs.values`), averaged over every evaluation view."""
    head.eval()
    total = None
    with torch.inference_mode():
        for view in range(spec.test_views):
            xs, masks = zip(*(cut_grid_view(g, spec, view=view) for g in grids))
            rows = outputs(head(torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(masks)))).cpu().numpy()
            total = rows if total is None else total + rows
    return total / spec.test_views
