"""Keypoint layouts: BlazePose's 33 landmarks, COCO's 17 keypoints, and the map between them.

Pose vectors are built on the COCO-17 joints, which every common pose tool gives (OpenPose's
BODY_25 and MMPose's COCO models include them, BlazePose's 33 contain them), so keypoints
brought from any of those tools and keypoints computed here are the same kind of vector.
"""

from __future__ import annotations

import numpy as np

from vidclass.errors import ConfigError

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
BLAZEPOSE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
LAYOUTS: dict[str, tuple[str, ...]] = {"coco17": COCO17, "blazepose33": BLAZEPOSE33}
COCO_FROM_BLAZEPOSE = np.array([BLAZEPOSE33.index(name) for name in COCO17])

# limbs of the COCO-17 skeleton, for drawing
COCO_EDGES = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 5, 6, 11, 12


def layout_of(count: int, where: str) -> str:
    """The layout with ``count`` keypoints; ConfigError naming ``where`` otherwise."""
    for name, joints in LAYOUTS.items():
        if len(joints) == count:
            return name
    raise ConfigError(f"{where}: {count} keypoints per person; expected 17 (COCO-17) or 33 (BlazePose-33)")


def to_coco(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """(..., J, 3) keypoints of ``layout`` -> (..., 17, 3) in COCO-17 order."""
    if layout == "coco17":
        return keypoints
    if layout == "blazepose33":
        return keypoints[..., COCO_FROM_BLAZEPOSE, :]
    raise ConfigError(f"unknown keypoint layout {layout!r}; use one of {', '.join(LAYOUTS)}")
