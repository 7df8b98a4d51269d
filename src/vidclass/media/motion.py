"""Pair images: what moves between a sampled frame and the frame 1/15 s later, as an image a CNN reads.

Two kinds (``PAIR_IMAGES``), each the second stream beside the frames' appearance:

- ``rgbdiff``: RGB-difference frames, the motion modality of Temporal Segment Networks;
- ``flow``: dense optical flow (OpenCV's DIS) drawn as an image, the motion stream of
  two-stream networks, here read by the same frozen ImageNet CNN.

A sampled frame at index ``i`` is paired with the frame ``partner_offset(fps)`` frames later
(about 1/15 s); for ``rgbdiff`` the CNN encodes the signed pixel difference of the pair, shifted
to mid-grey, as if it were a photo, and for ``flow`` the pair's displacement field. Features of such images say where and how much things move between
two nearby frames, which appearance features of frames far apart (and their differences)
miss: on fight_surv, logistic regression on the mean appearance + mean RGB-difference
features scored 0.74 under grouped 5-fold CV against 0.64 on the mean appearance feature
alone (``benchmarks/accuracy.py --task fight``).

Extraction (``partner_pairs``) and timelines (``partner_offset``) pair frames by the same
offset and build the same ``pair_images``, so a model sees the same motion images when
it is trained and when it labels a stream.

The offset is a whole number of frames, so the real time between the pair follows the frame rate
(0.05 s at 20 fps, 0.08 s at 25, 0.067 at 30), and so would the motion drawn: a model could learn a
camera's frame rate instead of what moves. Under the ``fixed-time`` rule (``MOTION_RULE``, what new
models are trained with) the pair's motion is rescaled to what it would be over ``SECONDS`` of real
time (``motion_scale``): the displacement field for ``flow``, the pixel difference for ``rgbdiff``
(for small motion a difference grows in proportion to the displacement). Models saved before
the rule was recorded used ``frame-offset`` (the pair as the frames give it) and keep it.
"""

from __future__ import annotations

import numpy as np

from vidclass.errors import ConfigError

PAIR_IMAGES: tuple[str, ...] = ("rgbdiff", "flow")

SECONDS = 1.0 / 15.0  # time between the two frames of a difference
GAIN = 2  # small pixel changes matter: a difference of 64 grey levels already saturates


MOTION_RULES: tuple[str, ...] = ("fixed-time", "frame-offset")
MOTION_RULE = "fixed-time"  # what a model trained now uses
UNRECORDED_RULE = "frame-offset"  # what a model that records no rule was trained with


def check_motion_rule(rule: str) -> None:
    """ConfigError unless ``rule`` is one of ``MOTION_RULES``."""
    if rule not in MOTION_RULES:
        raise ConfigError(f"the motion rule is one of {', '.join(MOTION_RULES)}; got {rule!r}")


def motion_scale(fps: float, rule: str = MOTION_RULE) -> float:
    """What a pair's motion at ``fps`` is multiplied by under ``rule``: real time between the two frames
    -> ``SECONDS`` under ``fixed-time``, 1 under ``frame-offset`` (and where the frame rate is unknown)."""
    check_motion_rule(rule)
    if rule == "frame-offset" or fps <= 0:
        return 1.0
    return SECONDS * fps / partner_offset(fps)


def partner_offset(fps: float) -> int:
    """Frames between the two frames of a difference at ``fps`` (at least 1)."""
    return max(1, round(fps * SECONDS)) if fps > 0 else 1


def partner_pairs(indices: np.ndarray, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) frame indices of the difference taken at each of ``indices``.

    Near the end of a video the pair moves back so that both frames exist; a one-frame
    video pairs the frame with itself (no motion).
    """
    offset = min(partner_offset(fps), max(num_frames - 1, 0))
    later = np.minimum(np.asarray(indices, dtype=np.int64) + offset, num_frames - 1)
    return later - offset, later


def difference_frames(earlier: np.ndarray, later: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Two uint8 RGB frames (or stacks of them) -> uint8 ``128 + GAIN * scale * (later - earlier)``, rounded
    and clipped (``scale``: :func:`motion_scale`)."""
    difference = later.astype(np.int16) - earlier.astype(np.int16)
    return np.clip(np.rint(128 + (GAIN * scale) * difference.astype(np.float32)), 0, 255).astype(np.uint8)


FLOW_GAIN = 8.0  # grey levels per pixel of displacement: 16 px between the two frames saturates


def flow_frames(earlier: np.ndarray, later: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Two uint8 RGB frames (or stacks of them) -> uint8 images of the optical flow from each earlier
    frame to its later one, times ``scale`` (:func:`motion_scale`): channels ``128 + FLOW_GAIN * dx``,
    ``128 + FLOW_GAIN * dy`` and ``FLOW_GAIN * |flow|``, clipped.

    DIS (Kroeger et al. 2016, OpenCV's ``DISOpticalFlow``, medium preset) on the grey frames: about
    4 ms for a pair of 224 px frames on one slow core, a small fraction of the CNN pass it feeds.
    On fight_surv (grouped 5-fold CV, ``vidclass compare``, the linear head on the mean of a view's
    features) these images scored 0.819 against 0.741 for RGB differences (README, "Comparing approaches").
    """
    if earlier.shape != later.shape:
        raise ConfigError(f"flow needs frames of one shape; got {earlier.shape} and {later.shape}")
    if earlier.ndim == 3:
        return flow_frames(earlier[None], later[None], scale)[0]
    import cv2  # here: importing OpenCV costs every command that never draws flow a few tenths of a second

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out = np.empty(earlier.shape[:3] + (3,), np.uint8)
    for k, (a, b) in enumerate(zip(earlier, later)):
        grey_a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
        grey_b = cv2.cvtColor(np.ascontiguousarray(b), cv2.COLOR_RGB2GRAY)
        flow = dis.calc(grey_a, grey_b, None)
        flow *= scale
        image = np.empty(flow.shape[:2] + (3,), np.float32)
        image[..., :2] = 128.0 + FLOW_GAIN * flow
        image[..., 2] = FLOW_GAIN * np.hypot(flow[..., 0], flow[..., 1])
        out[k] = np.clip(image, 0, 255).astype(np.uint8)
    return out


def pair_images(earlier: np.ndarray, later: np.ndarray, kind: str = "rgbdiff", scale: float = 1.0) -> np.ndarray:
    """The ``kind`` pair images (``rgbdiff`` or ``flow``) of uint8 RGB frames (or stacks of them), their motion
    times ``scale`` (:func:`motion_scale`)."""
    if kind == "rgbdiff":
        return difference_frames(earlier, later, scale)
    if kind == "flow":
        return flow_frames(earlier, later, scale)
    raise ConfigError(f"pair images are one of {', '.join(PAIR_IMAGES)}; got {kind!r}")
