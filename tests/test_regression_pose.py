"""A regressor on pose inputs: the same core as a classifier's, so keypoints brought as files give a regression
model pose features (no CNN features computed), which it predicts from, saves and loads."""

from __future__ import annotations

import csv
import json

import numpy as np

from vidclass.data.synthetic_recordings import make_speed_dataset
from vidclass.estimator.regressor import VideoRegressor
from vidclass.media import video

# a standing COCO-17 skeleton, one unit tall, hips at the origin
UNIT = np.array([[0, -0.85], [-0.05, -0.9], [0.05, -0.9], [-0.1, -0.88], [0.1, -0.88], [-0.2, -0.6], [0.2, -0.6],
                 [-0.3, -0.3], [0.3, -0.3], [-0.35, 0.0], [0.35, 0.0], [-0.12, 0], [0.12, 0], [-0.13, 0.45],
                 [0.13, 0.45], [-0.14, 0.9], [0.14, 0.9]])


def test_a_regressor_trains_on_brought_keypoints_and_round_trips(tmp_path):
    data = make_speed_dataset(tmp_path / "speeds", clips=8, seconds=1.0, fps=8, size=32, seed=0)
    folder = tmp_path / "keypoints"
    folder.mkdir()
    for row in csv.DictReader(open(data / "targets.csv")):  # a person walking sideways at the clip's speed
        clip = data / row["path"]
        frames = [{"frame": i, "people": [np.column_stack([UNIT * 12 + [4 + float(row["target"]) * 3 * i, 16],
                                                           np.full(17, 0.9)]).tolist()]}
                  for i in range(video.probe(clip).num_frames)]
        (folder / f"{clip.stem}.json").write_text(json.dumps({"layout": "coco17", "frames": frames}))
    cache = tmp_path / "cache"
    model = VideoRegressor(head="mean", frames=4, inputs="pose+velocity", pose_people=1, keypoints=folder, epochs=2,
                           val=0.25, test=0.25, cache_dir=cache, workers=0).fit(data, out_dir=tmp_path / "run")
    assert model.training_["task"] == "regression" and model.view_.inputs == "pose+velocity"
    assert not (cache / "efficientnet_lite0").exists()  # pose-only inputs need no CNN features
    clips = sorted(data.glob("*.mp4"))[:3]
    values = model.predict(clips)
    assert values.shape == (3,) and np.isfinite(values).all()
    loaded = VideoRegressor.load(tmp_path / "run" / "model", cache_dir=cache, workers=0)
    assert loaded.view_.inputs == "pose+velocity" and loaded.view_.people == 1
    loaded.set_params(keypoints=folder)
    np.testing.assert_allclose(loaded.predict(clips), values, rtol=1e-5)
