"""The streaming protocol: what every model kind tells a timeline, so one loop labels any stream.

A timeline decodes a video (or a live source) once, in order. From a model it needs to know:

* how each sampled frame must be prepared by the decoder (``resize`` short side, ``crop``
  square, ``interpolation``) and whether its pair image with the frame 1/15 s later (RGB
  difference or optical flow) is needed too (``pair_image``, drawn under ``motion_rule``);
* at what ``rate`` to sample frames (per second; ``None``: every frame of the source) and how
  many sampled frames make a window by default (``window``);
* ``encode``: the per-frame work, done once per sampled frame (a CNN's features, a frame
  classifier's logits, or only normalisation for a model that needs the pixels of the window);
* ``classify``: a batch of windows of encoded frames -> class probabilities (a regression model: values).

What a window's outputs mean is the model's task, not the stream's: ``outputs`` (probabilities or
standardised values, :mod:`vidclass.models.outputs`) and ``finish`` (the calibration or target scale that
batch prediction applies too) come from the estimator.

``features_stream`` and ``clip_stream`` build it for the two seams; :func:`vidclass.use.predict.run_timeline`
is the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vidclass.inputs.pixels import store_size
from vidclass.inputs.views import ViewSpec, head_steps, model_inputs
from vidclass.models.backbones import FrameEncoder
from vidclass.models.clip_models import ClipModel
from vidclass.models.heads import TemporalHead
from vidclass.models.outputs import Outputs, probabilities

Encode = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]
Classify = Callable[[np.ndarray], np.ndarray]
Finish = Callable[[np.ndarray], np.ndarray]  # (B, outputs) what the task's outputs give -> what a timeline shows


def _unchanged(outputs: np.ndarray) -> np.ndarray:
    return outputs


@dataclass(frozen=True)
class FrameStream:
    """How a model labels a stream; see the module docstring."""

    labels: list[str]
    resize: int
    crop: int | None  # None: whole frames (pose inputs crop for the CNN themselves)
    interpolation: str
    rate: float | None  # sampled frames per second; None: every frame
    window: int  # sampled frames per window, by default
    pair_image: str | None  # each sampled frame comes with its pair image of this kind (vidclass.media.motion.pair_images)
    motion_rule: str  # how the pair images follow the frame rate (vidclass.media.motion.motion_scale)
    encode: Encode  # uint8 frames (N, H, W, 3) [, their pair images] -> (N, ...)
    classify: Classify  # (B, T, ...) encoded windows -> (B, classes) probabilities (or values)
    values: bool = False  # classify gives a value per output (a regression model), not class probabilities


def features_stream(
    encoder: FrameEncoder, head: TemporalHead, view: ViewSpec, clip_seconds: float, labels: list[str], *,
    outputs: Outputs = probabilities, finish: Finish = _unchanged, values: bool = False,
) -> FrameStream:
    """A frozen-feature model: the encoder per sampled frame, the head per window of features, whose logits
    become ``finish(outputs(logits))`` (see the module docstring; ``values``: a regression model's)."""
    dim = encoder.spec.dim if view.appearance else 0
    own = dim if view.frame_features else 0  # the frames' own features (none for RGB differences alone)
    pre = encoder.spec.preprocess
    # pose inputs: the decoder gives whole frames; the pose estimator sees them, the CNN their centre crop
    pose = _stream_pose(view) if view.pose else None

    def encode(frames: np.ndarray, differences: np.ndarray | None) -> np.ndarray:
        poses = None
        if pose is not None:
            from vidclass.inputs.pose import centre_crop

            poses = pose(frames)
            frames = centre_crop(frames, pre.crop)
            differences = centre_crop(differences, pre.crop) if differences is not None else None
            if not view.appearance:
                return poses
        if not view.frame_features:  # RGB differences alone: the frames themselves skip the CNN
            images = differences
        else:
            images = frames if differences is None else np.concatenate([frames, differences])
        with torch.inference_mode():
            encoded = encoder(torch.from_numpy(images)).float().numpy()
        if view.frame_features and differences is not None:
            encoded = np.concatenate(np.split(encoded, 2), axis=1)
        return encoded if poses is None else np.concatenate([encoded, poses], axis=1)

    def classify(windows: np.ndarray) -> np.ndarray:
        extra = own + dim if view.pair_image else own  # where the pose vectors start
        poses = [w[:, extra:] if view.pose else None for w in windows]
        masks = np.stack([head_steps(view, np.ones(len(w), bool), p) for w, p in zip(windows, poses)])
        x = np.stack([
            model_inputs(w[:, :own], m, view, w[:, own:extra] if view.pair_image else None, p)
            for w, m, p in zip(windows, masks, poses)
        ])
        with torch.inference_mode():
            return finish(outputs(head(torch.from_numpy(x), torch.from_numpy(masks))).numpy())

    return FrameStream(labels, pre.resize, None if pose is not None else pre.crop, pre.interpolation,
                       view.frames / clip_seconds, view.frames, view.pair_image, view.motion_rule, encode, classify,
                       values)


def _stream_pose(view: ViewSpec):
    """The pose estimator of a stream with pose inputs, keeping people in their slots across batches."""
    from vidclass.inputs.pose import PoseSpec, StreamPose

    return StreamPose(PoseSpec(people=view.people))


def clip_stream(model: ClipModel, clip_seconds: float, labels: list[str], *, outputs: Outputs = probabilities,
                finish: Finish = _unchanged, values: bool = False) -> FrameStream:
    """A model trained on pixels: its ``encode_frames`` per sampled frame, ``classify_encoded`` per window, whose
    logits become ``finish(outputs(logits))`` (see the module docstring; ``values``: a regression model's).

    A frame model (``stream_unit == "frame"``) labels every frame, one frame per window; the
    others sample frames at the rate they were trained on (frames per clip length).
    """
    spec = model.spec
    pair_image = spec.pair_image  # rgbdiff or flow inputs: the model reads pair images, not frames
    device = model.scale.device

    def encode(frames: np.ndarray, differences: np.ndarray | None) -> np.ndarray:
        images = differences if pair_image else frames
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)
        with torch.inference_mode():
            return model.encode_frames(x).float().cpu().numpy()

    def classify(windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return finish(outputs(model.classify_encoded(torch.from_numpy(windows).to(device))).cpu().numpy())

    per_frame = model.stream_unit == "frame"
    return FrameStream(labels, store_size(spec.size), spec.size, model.interpolation,
                       None if per_frame else spec.frames / clip_seconds, 1 if per_frame else spec.frames,
                       pair_image, spec.motion_rule, encode, classify, values)
