"""BlazePose on the CPU: Google's pose detector and landmark model, run with LiteRT.

The two vendored ``.tflite`` files (``models/``, Apache-2.0, see ``models/NOTICE.md``) are
the models of MediaPipe Pose (full variant); this module is the pipeline MediaPipe builds
around them, with the parameters of its graphs (``pose_detection_cpu``,
``pose_detection_to_roi``, ``pose_landmark_by_roi_cpu``):

1. the whole frame (and, for wide frames, square tiles of it: :meth:`BlazePose.views`),
   letterboxed to 224 x 224 in [-1, 1], goes through the detector, whose 2254 SSD anchors
   (strides 8, 16, 32, 32, 32; fixed size) are decoded into boxes and 4 keypoints each;
   sigmoid scores >= ``min_detection`` of all regions go through weighted non-maximum
   suppression (IoU 0.3);
2. each detection gives a person region: centred on keypoint 0 (mid-hip), a square of side
   2.5 x the distance to keypoint 1, rotated so that the vector 0 -> 1 points up;
3. the region is cut out by an affine warp to 256 x 256 in [0, 1] and the landmark model
   gives 33 landmarks (x, y, visibility) and a pose presence score, kept when >=
   ``min_presence``; landmarks are projected back through the same affine map.

Detection runs on every frame given (no tracking from the previous frame's landmarks): the
frames of a feature grid are far apart, and each frame stands on its own.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from vidclass.errors import ConfigError, WeightsUnavailableError
from vidclass.util.digests import sha256_file

MODELS = Path(__file__).resolve().parent / "models"
DETECTOR_FILE = MODELS / "pose_detection.tflite"
LANDMARK_FILE = MODELS / "pose_landmark_full.tflite"
NUM_LANDMARKS = 33

_DETECTOR_SIZE = 224
_LANDMARK_SIZE = 256
_STRIDES = (8, 16, 32, 32, 32)  # SsdAnchorsCalculator: 5 layers, 2 anchors per layer and cell
_NMS_IOU = 0.3
_ROI_SCALE = 1.25  # RectTransformationCalculator scale_x / scale_y, square_long
_SCORE_CLIP = 100.0
_DUPLICATE = 0.05  # landmark distance, in body sizes, below which two landmarks are one
_TILE_RATIO = 1.2  # frames at least this much wider (or taller) than square get tiles


@dataclass(frozen=True)
class Person:
    """One person in a frame: 33 BlazePose landmarks in frame pixels and how sure the model is."""

    keypoints: np.ndarray  # float32 (33, 3): x, y in pixels of the frame given, visibility in [0, 1]
    score: float  # detection score times pose presence
    box: np.ndarray  # float32 (4,): x0, y0, x1, y1 around the landmarks


@cache
def anchor_centres() -> np.ndarray:
    """(2254, 2) x, y centres of the detector's SSD anchors, in [0, 1] of its input.

    SsdAnchorsCalculator with fixed anchor size: layers that share a stride share a
    feature map, and each layer puts two anchors (aspect ratio 1 and the interpolated
    scale) in every cell, so stride 32 (three layers) has six anchors per cell.
    """
    centres = []
    layer = 0
    while layer < len(_STRIDES):
        stride = _STRIDES[layer]
        same = sum(1 for s in _STRIDES[layer:] if s == stride)
        cells = math.ceil(_DETECTOR_SIZE / stride)
        grid = (np.stack(np.meshgrid(np.arange(cells), np.arange(cells)), axis=-1).reshape(-1, 2) + 0.5) / cells
        centres.append(np.repeat(grid, 2 * same, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -_SCORE_CLIP, _SCORE_CLIP)))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x0, y0, x1, y1 box with each of (N, 4) boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, limit: int, iou: float = _NMS_IOU
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression: the best box absorbs every box that
    overlaps it by more than ``iou``, and becomes their score-weighted mean (keypoints too)."""
    order = np.argsort(-scores, kind="stable")
    kept = []
    while order.size and len(kept) < limit:
        overlaps = _iou(boxes[order[0]], boxes[order])
        group = order[overlaps > iou]
        weights = scores[group][:, None]
        merged_box = (boxes[group] * weights).sum(0) / weights.sum()
        merged_points = (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((merged_box, merged_points, float(scores[order[0]])))
        order = order[overlaps <= iou]
    return kept


def region_transform(hip: np.ndarray, scale_point: np.ndarray, size: int = _LANDMARK_SIZE) -> np.ndarray:
    """The 2x3 affine map from landmark-input pixels to frame pixels for one detection.

    AlignmentPointsRectsCalculator (keypoint 0 -> 1, target angle 90 degrees) and
    RectTransformationCalculator (x 1.25, square): a square centred on the hips, rotated so
    that the body axis is upright in the crop.
    """
    dx, dy = scale_point - hip
    side = 2.0 * math.hypot(dx, dy) * _ROI_SCALE
    angle = math.pi / 2 - math.atan2(-dy, dx)
    cos, sin = math.cos(angle), math.sin(angle)
    rotate = np.array([[cos, -sin], [sin, cos]]) * (side / size)
    shift = hip - rotate @ np.array([size / 2, size / 2])
    return np.hstack([rotate, shift[:, None]])


def _warp(image: Image.Image, transform: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 sampled from ``image`` where ``transform`` maps output to input pixels."""
    return np.asarray(image.transform((size, size), Image.Transform.AFFINE, tuple(transform.reshape(-1)),
                                      resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)))


@cache
def _file_sha256(path: Path) -> str:
    return sha256_file(path)  # once per process: the vendored models do not change


def require_litert() -> None:
    """Raise WeightsUnavailableError naming the extra to install when LiteRT is missing; a check
    that imports nothing, so the main process can make it before any decoding worker needs LiteRT."""
    if importlib.util.find_spec("ai_edge_litert") is None:
        raise WeightsUnavailableError(
            "estimating poses needs LiteRT: pip install 'vidclass[pose]' (the ai-edge-litert package)"
        )


class BlazePose:
    """People and their 33 landmarks in RGB frames; see the module docstring for the steps.

    ``max_people`` detections are kept per frame (best first), ``threads`` CPU threads run
    each model (default: up to 4). ``min_detection`` is lower than MediaPipe's 0.5 because
    surveillance footage shows people small and from above; the landmark model's presence
    score (>= ``min_presence``) removes most of what the lower threshold lets in. Raises
    WeightsUnavailableError naming the extra to install when LiteRT is missing.
    """

    def __init__(
        self,
        *,
        max_people: int = 3,
        min_detection: float = 0.3,
        min_presence: float = 0.5,
        tiles: bool = True,
        threads: int | None = None,
    ) -> None:
        if max_people < 1:
            raise ConfigError(f"max_people must be >= 1, got {max_people}")
        for name, value in (("min_detection", min_detection), ("min_presence", min_presence)):
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        require_litert()
        from ai_edge_litert.interpreter import Interpreter
        threads = threads or min(4, os.cpu_count() or 1)
        self.max_people = max_people
        self.min_detection = min_detection
        self.min_presence = min_presence
        self.tiles = tiles
        self._detector = Interpreter(model_path=str(DETECTOR_FILE), num_threads=threads)
        self._landmarker = Interpreter(model_path=str(LANDMARK_FILE), num_threads=threads)
        self._detector.allocate_tensors()
        self._landmarker.allocate_tensors()
        self._detector_outputs = self._outputs(self._detector)
        self._landmark_outputs = self._outputs(self._landmarker)

    @staticmethod
    def _outputs(interpreter) -> dict[str, int]:
        return {detail["name"]: detail["index"] for detail in interpreter.get_output_details()}

    @staticmethod
    def weights_id() -> str:
        """Names both model files by content, for feature caches and bundles."""
        return f"blazepose-full/sha256:{_file_sha256(DETECTOR_FILE)[:16]}+{_file_sha256(LANDMARK_FILE)[:16]}"

    def views(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """(x, y, w, h) regions the detector looks at: the whole frame and, with ``tiles``,
        overlapping squares of its short side along its long side. BlazePose's detector
        was trained on people who fill much of the image; letterboxing a wide surveillance
        frame to 224 pixels shrinks its people further, and the tiles give them back up to
        1.8x their size (48 fight_surv frames: 0.27 people per frame with MediaPipe's
        settings, 0.38 with tiles, 1.06 with tiles and ``min_detection`` 0.3, at 2-5x the cost)."""
        regions = [(0, 0, width, height)]
        side, long = min(width, height), max(width, height)
        if self.tiles and long > _TILE_RATIO * side:
            for offset in np.linspace(0, long - side, math.ceil(long / side * 1.25)).round().astype(int):
                regions.append((int(offset), 0, side, side) if width > height else (0, int(offset), side, side))
        return regions

    def detect(self, image: Image.Image) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """(box (4,), keypoints (4, 2), score) per detected person, in frame pixels, best first."""
        found = [self._detect_region(image, *region) for region in self.views(*image.size)]
        boxes, points, scores = (np.concatenate(parts) for parts in zip(*found))
        return weighted_nms(boxes, points, scores, self.max_people) if len(scores) else []

    def _detect_region(
        self, image: Image.Image, x: int, y: int, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4), keypoints (N, 4, 2) in frame pixels and scores (N,) of the
        detections scoring at least ``min_detection`` in one region, before suppression."""
        scale = _DETECTOR_SIZE / max(width, height)
        pad = (_DETECTOR_SIZE - np.array([width, height]) * scale) / 2 - np.array([x, y]) * scale
        letterbox = np.array([[1 / scale, 0, -pad[0] / scale], [0, 1 / scale, -pad[1] / scale]])
        tensor = _warp(image, letterbox, _DETECTOR_SIZE).astype(np.float32) / 127.5 - 1.0
        self._detector.set_tensor(self._detector.get_input_details()[0]["index"], tensor[None])
        self._detector.invoke()
        raw = self._detector.get_tensor(self._detector_outputs["Identity"])[0]
        scores = _sigmoid(self._detector.get_tensor(self._detector_outputs["Identity_1"])[0, :, 0])
        keep = scores >= self.min_detection
        raw, scores, anchors = raw[keep], scores[keep], anchor_centres()[keep]
        # coordinates are in detector pixels relative to the anchor centre; to frame pixels
        centre = raw[:, :2] + anchors * _DETECTOR_SIZE
        half = raw[:, 2:4] / 2
        boxes = (np.hstack([centre - half, centre + half]) - np.tile(pad, 2)) / scale
        points = (raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :] * _DETECTOR_SIZE - pad) / scale
        return boxes, points, scores

    def landmarks(self, image: Image.Image, keypoints: np.ndarray) -> tuple[np.ndarray, float]:
        """(33, 3) landmarks (x, y in frame pixels, visibility) and the presence score of the
        person whose detector keypoints are ``keypoints`` (4, 2)."""
        transform = region_transform(keypoints[0], keypoints[1])
        crop = _warp(image, transform, _LANDMARK_SIZE).astype(np.float32) / 255.0
        self._landmarker.set_tensor(self._landmarker.get_input_details()[0]["index"], crop[None])
        self._landmarker.invoke()
        raw = self._landmarker.get_tensor(self._landmark_outputs["Identity"])[0].reshape(-1, 5)[:NUM_LANDMARKS]
        presence = float(self._landmarker.get_tensor(self._landmark_outputs["Identity_1"]).reshape(-1)[0])
        xy = raw[:, :2] @ transform[:, :2].T + transform[:, 2]
        visibility = _sigmoid(raw[:, 3])
        return np.column_stack([xy, visibility]).astype(np.float32), presence

    def __call__(self, frame: np.ndarray) -> list[Person]:
        """The people in one RGB uint8 frame (H, W, 3), best first, at most ``max_people``."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ConfigError(f"frames must be RGB uint8 arrays (H, W, 3), got {frame.dtype} {frame.shape}")
        image = Image.fromarray(frame)
        people: list[Person] = []
        for _, points, score in self.detect(image):
            landmarks, presence = self.landmarks(image, points)
            if presence < self.min_presence or any(_same_person(landmarks, other.keypoints) for other in people):
                continue
            box = np.concatenate([landmarks[:, :2].min(0), landmarks[:, :2].max(0)]).astype(np.float32)
            people.append(Person(landmarks, score * presence, box))
        return people


def _same_person(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (33, 3) landmark sets are one person found twice (by the whole frame and
    by a tile that holds part of them, whose body may come out wrong): a quarter of their
    landmarks (a face, say) lie within 5 % of the body's size of each other. Two people who
    overlap, as in a fight, do not share that many joints' places."""
    size = max(float(np.linalg.norm(b[:, :2].max(0) - b[:, :2].min(0))), 1e-6)
    close = np.linalg.norm(a[:, :2] - b[:, :2], axis=1) < _DUPLICATE * size
    return close.mean() >= 0.25
