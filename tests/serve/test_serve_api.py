"""The HTTP API through FastAPI's TestClient: every route, bad input, allowed paths, limits, the key."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from vidclass.estimator.classifier import VideoClassifier
from vidclass.serve import ServeSettings, create_app, work
from vidclass.use.predict import TimelineSettings, run_timeline

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def client(serve_model_dir, clips):
    app = create_app(serve_model_dir, ServeSettings(allow_dirs=(clips,), max_upload_mb=2.0, max_duration_s=10.5))
    with TestClient(app) as client:
        yield client


def upload(client: TestClient, route: str, name: str, data: bytes, **params):
    return client.post(route, params=params, files={"file": (name, data, "video/mp4")})


def files_under(root: Path) -> list[Path]:
    return [Path(folder) / name for folder, _, names in os.walk(root) for name in names]


def error_of(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]["message"]


def test_health_model_docs(client, serve_model_dir, direction_dataset):
    health = client.get("/healthz").json()
    assert health == {"status": "ok", "running": 0, "waiting": 0, "capacity": 9}
    info = client.get("/v1/model").json()
    model = VideoClassifier.load(serve_model_dir)
    assert Path(model.training_["dataset"]) == direction_dataset  # the owner's bundle keeps the whole record
    card = json.dumps(info)  # a client learns no host path: not the dataset's, not the run's
    assert str(direction_dataset) not in card and str(serve_model_dir.parent) not in card, card
    assert info["training"]["dataset"] == direction_dataset.name
    assert info["labels"] == model.labels_ and info["kind"] == "features" and info["name"] == "model"
    assert info["training"]["best_epoch"] == model.training_["best_epoch"]
    assert info["metrics"]["accuracy"] == model.bundle_metrics_["accuracy"]
    assert info["limits"]["max_upload_bytes"] == 2 * 1024 * 1024
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]) == {"multipart/form-data",
                                                                                    "application/json"}
    assert {"/v1/model", "/v1/timeline", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/video", "/healthz"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert client.get(re.search(r'src="([^"]+swagger-ui-bundle\.js)"', docs.text).group(1)).status_code == 200


def test_page_and_docs_load_nothing_from_the_network(client):
    page = client.get("/")
    assert page.status_code == 200 and "vidclass" in page.text
    texts = [page.text, client.get("/docs").text]
    for name in ("app.js", "style.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        texts.append(response.text)
    for text in texts:
        # the only absolute URL allowed is the SVG namespace, which is a name, never fetched
        assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)[^\s\"']+", text) == []


def test_predict_upload_matches_the_cli(client, clips, cli_predictions):
    for clip in (clips / "test.mp4", clips / "test.avi"):
        expected = cli_predictions(clip)
        answer = upload(client, "/v1/predict", clip.name, clip.read_bytes(), top_k=2)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["path"] == clip.name and body["label"] == expected["label"]
        assert [t["label"] for t in body["top"]] == [t["label"] for t in expected["top"]]
        np.testing.assert_allclose([t["probability"] for t in body["top"]],
                                   [t["probability"] for t in expected["top"]], atol=1e-6)
    everything = upload(client, "/v1/predict", "test.mp4", (clips / "test.mp4").read_bytes()).json()
    assert len(everything["top"]) == 2  # default: every class


def test_predict_by_allowed_path(client, clips, cli_predictions):
    answer = client.post("/v1/predict", json={"path": str(clips / "short32.mp4")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == cli_predictions(clips / "short32.mp4")["label"]
    assert answer.json()["path"] == str(clips / "short32.mp4")


def test_paths_outside_the_allowed_folder_are_refused(client, clips, tmp_path):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes((clips / "short32.mp4").read_bytes())
    for path in (str(outside), f"{clips}/../../../../../etc/passwd", f"{clips}/../clips/../{clips.parent.name}",
                 "/etc/passwd"):
        message = error_of(client.post("/v1/predict", json={"path": path}), 403, "forbidden_path")
        assert path in message and "outside" in message
    error_of(client.post("/v1/predict", json={"path": "clips/test.mp4"}), 400, "bad_path")
    error_of(client.post("/v1/predict", json={"path": f"{clips}/missing.mp4"}), 404, "not_found")
    error_of(client.post("/v1/predict", json={"file": "x"}), 422, "invalid_request")
    huge = b'{"path": "' + b"a" * 70_000 + b'"}'
    error_of(client.post("/v1/predict", content=huge, headers={"content-type": "application/json"}), 413, "too_large")


def test_a_symlink_out_of_the_allowed_folder_is_refused(serve_model_dir, clips, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = tmp_path / "secret.mp4"
    secret.write_bytes((clips / "short32.mp4").read_bytes())
    (allowed / "link.mp4").symlink_to(secret)
    with TestClient(create_app(serve_model_dir, ServeSettings(allow_dirs=(allowed,)))) as client:
        error_of(client.post("/v1/predict", json={"path": str(allowed / "link.mp4")}), 403, "forbidden_path")
    with TestClient(create_app(serve_model_dir, ServeSettings())) as client:  # no --allow-dir: no paths at all
        message = error_of(client.post("/v1/predict", json={"path": str(clips / "test.mp4")}), 403, "forbidden_path")
        assert "--allow-dir" in message


def test_bad_uploads_get_a_clear_4xx_and_the_server_goes_on(client, clips):
    mp4 = (clips / "test.mp4").read_bytes()
    cases = [
        ("empty.mp4", b"", 400, "empty_upload", "empty"),
        ("notes.txt", b"this is not a video\n" * 50, 422, "not_a_video", "not a video"),
        ("cut.mp4", mp4[: len(mp4) // 3], 422, "not_a_video", "truncated or corrupt"),
    ]
    for name, data, status, code, problem in cases:
        message = error_of(upload(client, "/v1/predict", name, data), status, code)
        assert name in message and problem in message, message
        assert "vidclass-serve-" not in message  # no server path is shown
    big = b"\0" * (2 * 1024 * 1024 + 1)
    assert "--max-upload-mb" in error_of(upload(client, "/v1/predict", "big.mp4", big), 413, "too_large")
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            f"Content-Type: video/mp4\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
    chunked = client.post("/v1/predict", content=(body[i : i + 65536] for i in range(0, len(body), 65536)),
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    message = error_of(chunked, 413, "too_large")  # no Content-Length: refused while streaming, by name
    assert "big.mp4" in message and "--max-upload-mb" in message
    error_of(client.post("/v1/predict", content=b"abc", headers={"content-type": "text/plain"}), 415,
             "unsupported_media_type")
    error_of(client.post("/v1/predict", files={"notfile": (None, "x")}), 400, "bad_request")
    assert upload(client, "/v1/predict", "test.mp4", mp4).status_code == 200
    assert files_under(client.app.state.service.root) == []  # every upload was deleted


def test_a_video_over_the_duration_limit_is_refused(serve_model_dir, clips):
    with TestClient(create_app(serve_model_dir, ServeSettings(max_duration_s=2.0))) as client:
        message = error_of(upload(client, "/v1/predict", "ten.mp4", (clips / "test.mp4").read_bytes()), 422, "too_long")
        assert "ten.mp4" in message and "--max-duration" in message
        error_of(upload(client, "/v1/timeline", "ten.mp4", (clips / "test.mp4").read_bytes()), 422, "too_long")
        assert upload(client, "/v1/predict", "short.mp4", (clips / "short32.mp4").read_bytes()).status_code == 200


def test_timeline_job_matches_run_timeline_and_serves_the_annotated_video(client, serve_model_dir, clips):
    clip = clips / "test.mp4"
    answer = upload(client, "/v1/timeline", clip.name, clip.read_bytes(), smooth=3, annotate="true", wait=60)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "done" and job["progress"] == 1.0 and job["source"] == "test.mp4"
    expected = run_timeline(VideoClassifier.load(serve_model_dir), clip, TimelineSettings(smooth=3)).to_dict()
    got = job["result"]
    assert got["labels"] == expected["labels"] and got["smooth_k"] == 3
    assert [s["label"] for s in got["segments"]] == [s["label"] for s in expected["segments"]]
    np.testing.assert_allclose([w["smoothed"] for w in got["windows"]], [w["smoothed"] for w in expected["windows"]],
                               atol=1e-6)
    assert client.get(job["url"]).json()["status"] == "done"
    video = client.get(job["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = client.app.state.service.root / "annotated-copy.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 300  # every frame of the clip, annotated
    path.unlink()
    assert client.delete(job["url"]).status_code == 200  # a finished job is forgotten with its files
    error_of(client.get(job["url"]), 404, "not_found")
    assert files_under(client.app.state.service.root) == []


@pytest.fixture
def slow_frames(monkeypatch):
    """Timelines that take at least 50 ms per frame, so a test can watch one run and cancel it (at 10 ms, with
    ONNX Runtime's faster encoder, the first job of the full-queue test could finish before the third upload)."""
    real = work.run_timeline

    def slow(model, source, settings, *, annotate=None):
        def paced(frame, time_, probabilities):
            time.sleep(0.05)
            annotate(frame, time_, probabilities)

        return real(model, source, settings, annotate=paced)

    monkeypatch.setattr(work, "run_timeline", slow)


def test_a_running_timeline_reports_progress_and_can_be_cancelled(client, clips, slow_frames):
    job = upload(client, "/v1/timeline", "test.mp4", (clips / "test.mp4").read_bytes(), annotate="true").json()
    assert job["status"] in ("queued", "running") and job["duration"] == pytest.approx(10.0, abs=0.1)
    deadline = time.monotonic() + 30
    while (state := client.get(job["url"]).json())["progress"] < 0.1:
        assert time.monotonic() < deadline and state["status"] in ("queued", "running")
        time.sleep(0.05)
    assert state["status"] == "running" and state["progress"] < 1.0
    client.delete(job["url"])
    state = client.get(job["url"], params={"wait": 10}).json()
    assert state["status"] == "cancelled" and state["progress"] < 1.0 and state["result"] is None
    assert state["video_url"] is None
    error_of(client.get(f"{job['url']}/video"), 404, "not_found")
    assert files_under(client.app.state.service.root) == []


def test_a_full_queue_answers_503_with_retry_after(serve_model_dir, clips, slow_frames):
    with TestClient(create_app(serve_model_dir, ServeSettings(workers=1, queue=1))) as client:
        data = (clips / "test.mp4").read_bytes()
        running = upload(client, "/v1/timeline", "a.mp4", data).json()
        waiting = upload(client, "/v1/timeline", "b.mp4", data).json()
        assert waiting["status"] == "queued"
        full = upload(client, "/v1/predict", "c.mp4", data)
        assert "queue" in error_of(full, 503, "queue_full")
        assert int(full.headers["Retry-After"]) >= 1
        assert client.get("/healthz").json()["capacity"] == 2
        client.delete(waiting["url"])  # a queued job is cancelled at once, and its place is free at once
        assert client.get(waiting["url"]).json()["status"] == "cancelled"
        again = upload(client, "/v1/timeline", "d.mp4", data)  # the first job still runs: this one waits
        assert again.status_code == 202 and again.json()["status"] == "queued", again.text
        client.delete(again.json()["url"])
        client.delete(running["url"])
        assert client.get(running["url"], params={"wait": 10}).json()["status"] == "cancelled"
        assert upload(client, "/v1/predict", "c.mp4", data).status_code == 200  # places free again


def test_unknown_jobs_and_routes_answer_in_the_error_shape(client):
    error_of(client.get("/v1/jobs/0123456789abcdef"), 404, "not_found")
    error_of(client.get("/v1/jobs/..%2F..%2Fetc%2Fpasswd"), 404, "not_found")
    error_of(client.get("/v1/nothing"), 404, "not_found")
    error_of(client.post("/v1/timeline", params={"smooth": 0}, files={"file": ("a.mp4", b"x")}), 422,
             "invalid_request")


def test_the_api_key_guards_every_route_but_healthz(serve_model_dir):
    with TestClient(create_app(serve_model_dir, ServeSettings(api_key=KEY))) as client:
        assert client.get("/healthz").status_code == 200
        for route in ("/v1/model", "/", "/docs", "/openapi.json", "/static/app.js"):
            error_of(client.get(route), 401, "unauthorized")
        error_of(client.get("/v1/model", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        error_of(client.post("/v1/predict", files={"file": ("a.mp4", b"x")}), 401, "unauthorized")
        assert client.get("/v1/model", headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/v1/model", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        error_of(client.get("/", params={"key": "wrong"}), 401, "unauthorized")
        opened = client.get("/", params={"key": KEY})  # a browser's first visit: the key becomes a cookie
        assert opened.status_code == 200 and "vidclass" in opened.text and str(opened.url).endswith("/")
        assert client.get("/v1/model").status_code == 200  # now through the cookie


def test_settings_are_checked_with_the_option_named(clips, tmp_path):
    from vidclass.errors import ConfigError

    for options, name in ((dict(workers=0), "--workers"), (dict(queue=-1), "--queue"), (dict(port=70000), "--port"),
                          (dict(max_upload_mb=0), "--max-upload-mb"), (dict(allow_dirs=(tmp_path / "no",)), "--allow-dir"),
                          (dict(api_key=" "), "--api-key")):
        with pytest.raises(ConfigError, match=name):
            ServeSettings(**options)
    assert ServeSettings(allow_dirs=(str(clips / ".." / "clips"),)).allow_dirs == (clips.resolve(),)


def test_the_serve_command_reports_bad_options_in_one_line(serve_model_dir):
    from typer.testing import CliRunner

    from vidclass.cli import app

    result = CliRunner().invoke(app, ["serve", str(serve_model_dir), "--workers", "0"])
    assert result.exit_code == 1 and "vidclass: error: --workers must be >= 1" in result.stderr
    result = CliRunner().invoke(app, ["serve", str(serve_model_dir), "--max-duration", "long"])
    assert result.exit_code == 1 and "--max-duration" in result.stderr


def test_the_api_key_reaches_no_log_line(serve_model_dir, capfd):
    """A real uvicorn server with ``serve``'s logging: the page's sign-in (/?key=KEY), then the cookie and a
    header; the access log shows every request, and the key's text in none of them."""
    import socket
    import threading

    import httpx
    import uvicorn

    from vidclass.serve.app import log_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(serve_model_dir, ServeSettings(api_key=KEY, port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=log_config()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            assert browser.get("/", params={"key": KEY}, follow_redirects=True).status_code == 200
            assert browser.get("/v1/model").status_code == 200  # the cookie
            assert browser.get("/v1/model", headers={"X-API-Key": KEY}).status_code == 200
        stranger = httpx.get(f"http://127.0.0.1:{port}/", params={"key": "wrong", "other": "1"})  # no cookie
        assert stranger.status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    logged = capfd.readouterr()
    lines = (logged.out + logged.err).splitlines()
    assert any("GET /?key=[redacted] " in line and "303" in line for line in lines), lines
    assert any("GET /?key=[redacted]&other=1 " in line and "401" in line for line in lines), lines
    assert not [line for line in lines if KEY in line or "wrong" in line]


def test_a_full_disk_answers_507_without_a_host_path_and_leaves_nothing(client, clips, monkeypatch):
    from vidclass.serve import inputs

    def full(self, data, start, end):
        raise OSError(28, "No space left on device", str(self.target))

    monkeypatch.setattr(inputs._FilePart, "_data", full)
    answer = upload(client, "/v1/predict", "test.mp4", (clips / "test.mp4").read_bytes())
    message = error_of(answer, 507, "insufficient_storage")
    assert "space" in message and "/" not in message
    assert files_under(client.app.state.service.root) == []
    monkeypatch.undo()
    assert upload(client, "/v1/predict", "test.mp4", (clips / "test.mp4").read_bytes()).status_code == 200
