"""Pose inputs on clips of long recordings: keypoints brought for each recording become pose tracks (no CNN
features computed), clips are cut from them as from feature tracks, and the model trained on them predicts
whole videos, saves and loads to the same probabilities; a recording without keypoints is named."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from vidclass.data.synthetic_recordings import BOB_PERIODS, make_recordings
from vidclass.estimator.classifier import VideoClassifier
from vidclass.media import video

# a standing COCO-17 skeleton, one unit tall, hips at the origin
UNIT = np.array([[0, -0.85], [-0.05, -0.9], [0.05, -0.9], [-0.1, -0.88], [0.1, -0.88], [-0.2, -0.6], [0.2, -0.6],
                 [-0.3, -0.3], [0.3, -0.3], [-0.35, 0.0], [0.35, 0.0], [-0.12, 0], [0.12, 0], [-0.13, 0.45],
                 [0.13, 0.45], [-0.14, 0.9], [0.14, 0.9]])
BOB_PIXELS = {"walking": 1.0, "running": 5.0}  # how far the person bobs, with the recording's period


@pytest.fixture(scope="module")
def bobbing(tmp_path_factory):
    """Two recordings (walking, running) and a keypoint file each: a person bobbing at the recording's period."""
    root = tmp_path_factory.mktemp("recording-pose")
    data = make_recordings(root / "recordings", seconds=12.0, fps=8, size=32)
    keypoints = root / "keypoints"
    for path in sorted(data.rglob("*.mp4")):
        label, info = path.parent.name, video.probe(path)
        frames = []
        for i in range(info.num_frames):
            lift = BOB_PIXELS[label] * math.sin(2 * math.pi * (i / info.fps) / BOB_PERIODS[label])
            frames.append({"frame": i, "people": [np.column_stack([UNIT * 12 + [16, 16 + lift],
                                                                   np.full(17, 0.9)]).tolist()]})
        (keypoints / label).mkdir(parents=True, exist_ok=True)
        (keypoints / label / f"{path.stem}.json").write_text(json.dumps({"layout": "coco17", "frames": frames}))
    return data, keypoints


def test_a_pose_model_trains_on_clips_of_recordings_from_brought_keypoints(bobbing, tmp_path):
    data, keypoints = bobbing
    cache = tmp_path / "cache"
    model = VideoClassifier(head="mean", frames=4, inputs="pose+velocity", pose_people=1, keypoints=keypoints,
                            clips="fixed:1s", epochs=2, val=0.25, test=0.25, cache_dir=cache,
                            workers=0).fit(data, out_dir=tmp_path / "run")
    assert model.training_["clips"]["plan"] == "fixed:1s" and model.view_.inputs == "pose+velocity"
    assert not (cache / "efficientnet_lite0").exists()  # pose-only inputs need no CNN features
    assert model.no_people_ == [] and model.evaluation_ is not None
    recordings = sorted(data.rglob("*.mp4"))
    probabilities = model.predict_proba(recordings)
    assert probabilities.shape == (2, 2) and np.isfinite(probabilities).all()
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=cache, workers=0)
    assert loaded.view_.inputs == "pose+velocity" and loaded.clip_seconds_ == 1.0
    loaded.set_params(keypoints=keypoints)
    np.testing.assert_allclose(loaded.predict_proba(recordings), probabilities, rtol=1e-5, atol=1e-6)


def test_a_recording_without_keypoints_is_left_out_and_named(bobbing, tmp_path):
    data, keypoints = bobbing
    partial = shutil.copytree(keypoints, tmp_path / "keypoints")
    (partial / "running" / "rec_0.json").unlink()
    model = VideoClassifier(head="mean", frames=4, inputs="pose", pose_people=1, keypoints=partial,
                            clips="fixed:1s", epochs=1, val=0.25, test=0.25, cache_dir=tmp_path / "cache",
                            workers=0).fit(data, out_dir=tmp_path / "run")
    missing = data / "running" / "rec_0.mp4"
    assert list(model.training_["unreadable"]) == [str(missing)]
    assert "no keypoint file rec_0.json" in model.training_["unreadable"][str(missing)]
    assert set(model.training_["videos"].values()) != {0}  # the other recording's clips trained
