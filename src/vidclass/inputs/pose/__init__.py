"""Pose landmarks as a frozen frame encoder: BlazePose on the CPU, or keypoints brought from
another tool, turned into fixed-size vectors per frame (people normalised and kept in slots).

Needs the ``pose`` extra (``pip install "vidclass[pose]"``, LiteRT) only to estimate poses;
vectors, tracking and brought keypoints work without it.
"""

from vidclass.inputs.pose.blazepose import BlazePose, Person
from vidclass.inputs.pose.extract import (
    PoseReport,
    PoseSpec,
    StreamPose,
    centre_crop,
    estimate_frames,
    grid_pose,
    pose_features,
    with_pose,
)
from vidclass.inputs.pose.keypoints import find_keypoints, read_keypoints
from vidclass.inputs.pose.skeleton import BLAZEPOSE33, COCO17, COCO_EDGES, to_coco
from vidclass.inputs.pose.vectors import (
    PERSON_DIM,
    PoseSequence,
    SlotTracker,
    frame_vectors,
    normalised,
    people_present,
    pose_dim,
    velocities,
)

__all__ = [
    "BLAZEPOSE33",
    "COCO17",
    "COCO_EDGES",
    "PERSON_DIM",
    "BlazePose",
    "Person",
    "PoseReport",
    "PoseSequence",
    "PoseSpec",
    "SlotTracker",
    "StreamPose",
    "centre_crop",
    "estimate_frames",
    "find_keypoints",
    "frame_vectors",
    "grid_pose",
    "normalised",
    "people_present",
    "pose_dim",
    "pose_features",
    "read_keypoints",
    "to_coco",
    "velocities",
    "with_pose",
]
