"""A regression bundle served: /v1/model names the task, predictions and timelines carry values (TestClient)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from vidclass.data.synthetic_recordings import make_speed_dataset
from vidclass.estimator.regressor import VideoRegressor
from vidclass.serve import ServeSettings, create_app
from vidclass.use.predict import TimelineSettings, run_timeline


@pytest.fixture(scope="module")
def served(regression_run):
    model_dir, data, _ = regression_run
    with TestClient(create_app(model_dir, ServeSettings(allow_dirs=(data,)))) as client:
        yield client, model_dir, data


def test_the_model_route_and_the_schema_name_the_regression(served):
    client, model_dir, _ = served
    info = client.get("/v1/model").json()
    assert info["task"] == "regression" and info["labels"] == ["value"] and info["kind"] == "features"
    assert info["metrics"]["r2"] == pytest.approx(VideoRegressor.load(model_dir).to_bundle().metrics["r2"])
    spec = client.get("/openapi.json").json()
    answers = spec["paths"]["/v1/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/ValuePrediction"} in answers["anyOf"]
    assert set(spec["components"]["schemas"]["ValuePrediction"]["properties"]) == {"path", "value"}
    assert client.get("/v1/model").status_code == 200 and "regression" in client.get("/static/app.js").text


def test_predict_answers_the_value_of_the_python_api(served):
    client, model_dir, data = served
    clips = sorted(data.glob("*.mp4"))[:2]
    expected = VideoRegressor.load(model_dir, cache_dir=model_dir.parent / "reference-cache").predict(clips)
    answer = client.post("/v1/predict", files={"file": (clips[0].name, clips[0].read_bytes(), "video/mp4")})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"path", "value"} and answer.json()["path"] == clips[0].name
    assert answer.json()["value"] == pytest.approx(expected[0], abs=1e-5)
    by_path = client.post("/v1/predict", json={"path": str(clips[1])}).json()
    assert by_path["value"] == pytest.approx(expected[1], abs=1e-5)


def test_a_timeline_job_gives_values_and_an_annotated_video(served, tmp_path):
    client, model_dir, _ = served
    clip = make_speed_dataset(tmp_path / "long", clips=1, seconds=4.0, fps=8, size=32, seed=3) / "clip_000.mp4"
    answer = client.post("/v1/timeline", params={"smooth": 2, "annotate": "true", "wait": 60},
                         files={"file": (clip.name, clip.read_bytes(), "video/mp4")})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "done", job
    got = job["result"]
    expected = run_timeline(VideoRegressor.load(model_dir), clip, TimelineSettings(smooth=2)).to_dict()
    assert got["values"] is True and got["segments"] == [] and got["labels"] == ["value"]
    assert len(got["windows"]) == len(expected["windows"]) >= 3
    np.testing.assert_allclose([w["smoothed"] for w in got["windows"]], [w["smoothed"] for w in expected["windows"]],
                               atol=1e-5)
    assert [w["label"] for w in got["windows"]] == [w["label"] for w in expected["windows"]]  # the value as text
    video = client.get(job["video_url"])
    assert video.status_code == 200
    path = tmp_path / "annotated.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 32  # every frame of the 4 s clip, annotated
