"""Fixed-size pose vectors per frame: people normalised, placed, and kept in their slots.

For each frame, up to ``people`` persons fill as many slots; a person's part of the vector
(:data:`PERSON_DIM` numbers) is

- the 17 COCO joints centred on the mid-hip and divided by the torso length (mid-shoulder to
  mid-hip), so where and how large the person appears does not change it (34 numbers);
- each joint's score (visibility), 0 for a joint the estimator did not give (17);
- where the person is in the frame: the mid-hip as a fraction of the frame's width and
  height, centred on 0, and the torso length as a fraction of the frame height (3);
- 1 for a slot holding a person (1).

An empty slot is all zeros. Slots are kept across the frames of a video by
:class:`SlotTracker`: a person stays in the slot whose track its box overlaps most.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidclass.inputs.pose.skeleton import COCO17, LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER

JOINTS = len(COCO17)
PERSON_DIM = 3 * JOINTS + 4
PRESENT = PERSON_DIM - 1  # index of the presence flag in a person's part
_MIN_TORSO = 1e-6


def pose_dim(people: int) -> int:
    """Numbers per frame for ``people`` slots."""
    return people * PERSON_DIM


def _midpoint(keypoints: np.ndarray, joints: tuple[int, int]) -> np.ndarray | None:
    given = [keypoints[j, :2] for j in joints if keypoints[j, 2] > 0]
    return np.mean(given, axis=0) if given else None


def centre_and_torso(keypoints: np.ndarray) -> tuple[np.ndarray, float]:
    """The mid-hip and the torso length of one (17, 3) COCO skeleton.

    Joints with score 0 are missing; without hips the centre is the mean of the joints
    given, and without shoulders (or hips) the torso is half the diagonal of their box.
    """
    given = keypoints[keypoints[:, 2] > 0, :2]
    if not len(given):
        return np.zeros(2), 1.0
    hip = _midpoint(keypoints, (LEFT_HIP, RIGHT_HIP))
    shoulder = _midpoint(keypoints, (LEFT_SHOULDER, RIGHT_SHOULDER))
    centre = hip if hip is not None else given.mean(axis=0)
    torso = float(np.linalg.norm(shoulder - hip)) if hip is not None and shoulder is not None else 0.0
    if torso < _MIN_TORSO:
        torso = float(np.linalg.norm(given.max(0) - given.min(0))) / 2
    return centre, max(torso, _MIN_TORSO)


def normalised(keypoints: np.ndarray) -> np.ndarray:
    """(17, 2) joints of a (17, 3) skeleton centred on its hips and scaled by its torso
    length; missing joints (score 0) are 0."""
    centre, torso = centre_and_torso(keypoints)
    xy = (keypoints[:, :2] - centre) / torso
    xy[keypoints[:, 2] <= 0] = 0.0
    return xy


def person_vector(keypoints: np.ndarray, width: int, height: int) -> np.ndarray:
    """The :data:`PERSON_DIM` numbers of one (17, 3) COCO skeleton in a ``width`` x ``height`` frame."""
    centre, torso = centre_and_torso(keypoints)
    place = [centre[0] / width - 0.5, centre[1] / height - 0.5, torso / height]
    scores = np.clip(keypoints[:, 2], 0.0, 1.0)
    return np.concatenate([normalised(keypoints).reshape(-1), scores, place, [1.0]]).astype(np.float32)


def skeleton_box(keypoints: np.ndarray) -> np.ndarray:
    """(4,) x0, y0, x1, y1 around the given joints of a (J, 3) skeleton."""
    given = keypoints[keypoints[:, 2] > 0, :2]
    given = given if len(given) else keypoints[:, :2]
    return np.concatenate([given.min(0), given.max(0)])


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda boxes: (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


class SlotTracker:
    """Assigns the people of successive frames to ``slots`` fixed slots by box overlap.

    Each slot's track predicts its next box at constant velocity (so two people who cross
    paths keep their slots), and people are matched to tracks by the Hungarian method on
    1 - IoU plus the centre distance in box diagonals. A person matching no track takes a
    free slot (one whose track has been lost longest); a track unseen for ``patience``
    frames is forgotten. People beyond the free slots are dropped, the later (lower-ranked)
    first.
    """

    def __init__(self, slots: int, patience: int = 8) -> None:
        self.slots = slots
        self.patience = patience
        self.boxes: list[np.ndarray | None] = [None] * slots
        self.velocity: list[np.ndarray] = [np.zeros(4) for _ in range(slots)]
        self.unseen = [0] * slots

    def _predicted(self, slot: int) -> np.ndarray:
        return self.boxes[slot] + self.velocity[slot] * (self.unseen[slot] + 1)

    def assign(self, boxes: Sequence[np.ndarray]) -> list[int | None]:
        """The slot of each box of this frame (None: dropped), best-ranked boxes first."""
        boxes = [np.asarray(b, dtype=np.float64) for b in boxes]
        result: list[int | None] = [None] * len(boxes)
        tracks = [s for s in range(self.slots) if self.boxes[s] is not None]
        if boxes and tracks:
            predicted = np.stack([self._predicted(s) for s in tracks])
            current = np.stack(boxes)
            overlap = _iou_matrix(predicted, current)
            diagonal = np.maximum(np.hypot(predicted[:, 2] - predicted[:, 0], predicted[:, 3] - predicted[:, 1]), 1e-9)
            centres = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
            distance = np.linalg.norm(centres(predicted)[:, None] - centres(current)[None], axis=2) / diagonal[:, None]
            rows, cols = linear_sum_assignment(1.0 - overlap + distance)
            for row, col in zip(rows, cols):
                if overlap[row, col] > 0 or distance[row, col] < 1.0:
                    result[col] = tracks[row]
        matched = {slot for slot in result if slot is not None}
        free = sorted((s for s in range(self.slots) if s not in matched),
                      key=lambda s: (self.boxes[s] is not None, -self.unseen[s]))
        for i in range(len(boxes)):
            if result[i] is None and free:
                result[i] = free.pop(0)
        self._update(boxes, result)
        return result

    def _update(self, boxes: list[np.ndarray], slots: list[int | None]) -> None:
        seen = set()
        for box, slot in zip(boxes, slots):
            if slot is None:
                continue
            seen.add(slot)
            previous = self.boxes[slot]
            self.velocity[slot] = (box - previous) / (self.unseen[slot] + 1) if previous is not None else np.zeros(4)
            self.boxes[slot], self.unseen[slot] = box, 0
        for slot in range(self.slots):
            if slot not in seen and self.boxes[slot] is not None:
                self.unseen[slot] += 1
                if self.unseen[slot] > self.patience:
                    self.boxes[slot], self.velocity[slot], self.unseen[slot] = None, np.zeros(4), 0


class PoseSequence:
    """The pose vectors of one video's frames, fed one frame at a time, in order (a stream)."""

    def __init__(self, people: int) -> None:
        self.people = people
        self.tracker = SlotTracker(people)

    def add(self, skeletons: Sequence[np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """The vector (``pose_dim(people)``,) and slotted skeletons (people, 17, 3) of the next
        frame, given its (17, 3) COCO skeletons (pixels of a ``width`` x ``height`` frame), best first."""
        vector = np.zeros((self.people, PERSON_DIM), np.float32)
        slotted = np.zeros((self.people, JOINTS, 3), np.float32)
        for skeleton, slot in zip(skeletons, self.tracker.assign([skeleton_box(s) for s in skeletons])):
            if slot is not None:
                vector[slot] = person_vector(skeleton, width, height)
                slotted[slot] = skeleton
        return vector.reshape(-1), slotted


def frame_vectors(
    frames: Sequence[Sequence[np.ndarray]], width: int, height: int, people: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pose vectors of a video's frames, in order.

    ``frames[t]`` lists the (17, 3) COCO skeletons (pixels of a ``width`` x ``height``
    frame) found in frame ``t``, best first. Returns the vectors (T, ``pose_dim(people)``)
    and the skeletons in their slots (T, people, 17, 3), zeros where a slot is empty.
    """
    sequence = PoseSequence(people)
    vectors = np.zeros((len(frames), pose_dim(people)), np.float32)
    slotted = np.zeros((len(frames), people, JOINTS, 3), np.float32)
    for t, skeletons in enumerate(frames):
        vectors[t], slotted[t] = sequence.add(skeletons, width, height)
    return vectors, slotted


def people_present(vectors: np.ndarray) -> np.ndarray:
    """(T,) number of filled slots in (T, pose_dim) vectors."""
    return vectors.reshape(len(vectors), -1, PERSON_DIM)[:, :, PRESENT].sum(axis=1).astype(np.int64)


def velocities(vectors: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(T, D) change of each slot's vector since the previous frame; 0 for the first frame,
    for padded frames (``mask`` False) and for a slot empty in either frame."""
    t = len(vectors)
    slots = vectors.reshape(t, -1, PERSON_DIM)
    change = np.zeros_like(slots)
    change[1:] = slots[1:] - slots[:-1]
    present = slots[:, :, PRESENT] > 0
    both = np.zeros_like(present)
    both[1:] = present[1:] & present[:-1]
    change[~both] = 0.0
    change[~np.asarray(mask, bool)] = 0.0
    return change.reshape(t, -1)
