"""RGB-difference frames: the motion modality of Temporal Segment Networks, for a frozen CNN.

A sampled frame at index ``i`` is paired with the frame ``partner_offset(fps)`` frames later
(about 1/15 s); the CNN encodes the signed pixel difference of the pair, shifted to mid-grey,
as if it were a photo. Features of such images say where and how much things move between
two nearby frames, which appearance features of frames far apart (and their differences)
miss: on fight_surv, logistic regression on the mean appearance + mean RGB-difference
features scored 0.74 under grouped 5-fold CV against 0.64 on the mean appearance feature
alone (``benchmarks/accuracy.py --task fight``).

Extraction (``partner_pairs``) and timelines (``partner_offset``) pair frames by the same
offset and build the same ``difference_frames``, so a model sees the same motion images when
it is trained and when it labels a stream.
"""

from __future__ import annotations

import numpy as np

SECONDS = 1.0 / 15.0  # time between the two frames of a difference
GAIN = 2  # small pixel changes matter: a difference of 64 grey levels already saturates


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


def difference_frames(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Two uint8 RGB frames (or stacks of them) -> uint8 ``128 + GAIN * (later - earlier)``, clipped."""
    difference = later.astype(np.int16) - earlier.astype(np.int16)
    return np.clip(128 + GAIN * difference, 0, 255).astype(np.uint8)
