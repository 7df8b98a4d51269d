"""Skeletons on an annotated video (``vidclass timeline --draw-pose``).

The overlay looks at the frames a pose model samples (``rate`` per second, the model's
sampling rate), shrunk as the model's frames are (short side ``PoseSpec.size``), runs the
same estimator and slot tracking, and draws the people of the latest sampled frame on every
frame until the next one, in their slot's colour: what the model saw, at the times it saw it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vidclass.inputs.pose.extract import PoseSpec, estimator
from vidclass.inputs.pose.skeleton import COCO_EDGES, to_coco
from vidclass.inputs.pose.vectors import PoseSequence
from vidclass.media.render import draw_pose


class PoseOverlay:
    """``overlay(frame, time)`` -> the frame with the skeletons of the latest sampled frame.

    ``rate`` None estimates on every frame.
    """

    def __init__(self, spec: PoseSpec, rate: float | None) -> None:
        self.spec = spec
        self.interval = 1.0 / rate if rate else 0.0
        self.next_time = 0.0
        self.sequence = PoseSequence(spec.people)
        self.skeletons = np.zeros((spec.people, 17, 3), np.float32)

    def __call__(self, frame: np.ndarray, time: float) -> np.ndarray:
        if not self.interval or time + 1e-9 >= self.next_time:  # a frame the model samples
            while self.interval and self.next_time <= time + 1e-9:
                self.next_time += self.interval
            self.skeletons = self._estimate(frame)
        return draw_pose(frame, self.skeletons, COCO_EDGES)

    def _estimate(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        scale = self.spec.size / min(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BICUBIC))
        people = [to_coco(p.keypoints, "blazepose33") for p in estimator(self.spec.people)(small)]
        _, slotted = self.sequence.add(people, size[0], size[1])
        slotted[:, :, :2] /= scale
        return slotted
