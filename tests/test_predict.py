"""Labeling new videos with a trained model: ranked labels, streaming timelines, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset, make_direction_timeline
from vidclass.errors import ConfigError
from vidclass.estimator.classifier import VideoClassifier
from vidclass.estimator.tasks import ranked
from vidclass.use.predict import TimelineSettings, parse_seconds, run_timeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The default backbone, inputs and head (attention: order-aware) trained on the approaching/receding task
    (about a minute). A head that averages a window's frames (``linear``) labels these clips, but on a long
    video of one scene it called every window "approaching" (measured), so these timeline tests need the order."""
    root = tmp_path_factory.mktemp("predict")
    dataset = make_direction_dataset(root / "data", SyntheticSpec(clips_per_class=16, seconds=2.0, fps=12, size=112))
    model = VideoClassifier(frames=8, cache_dir=root / "cache", val=0.2, test=0.2)
    model.fit(dataset, out_dir=root / "run")
    assert model.evaluation_.accuracy >= 0.8  # the task is learnt; otherwise the tests below mean nothing
    return root / "run" / "model"


@pytest.fixture(scope="module")
def model(model_dir):
    return VideoClassifier.load(model_dir)


def test_ranked_sorts_high_to_low():
    assert ranked(np.array([0.2, 0.5, 0.3]), ["a", "b", "c"], 2) == [("b", 0.5), ("c", 0.3)]


@pytest.mark.parametrize("text, seconds", [("2", 2.0), ("2s", 2.0), ("0.5s", 0.5), ("500ms", 0.5), ("1m", 60.0)])
def test_durations(text, seconds):
    assert parse_seconds(text, "--window") == seconds


def test_bad_durations_name_the_option():
    with pytest.raises(ConfigError, match="--stride"):
        parse_seconds("fast", "--stride")


def test_timeline_finds_the_segments(model, tmp_path):
    video = make_direction_timeline(tmp_path / "long.mp4", [("approaching", 6), ("receding", 6), ("approaching", 6)],
                                    fps=12, size=112, seed=7)
    result = run_timeline(model, video, TimelineSettings(stride=0.5, smooth=4))
    assert [s.label for s in result.segments] == ["approaching", "receding", "approaching"]
    assert abs(result.segments[1].start - 6) <= 2.0 and abs(result.segments[1].end - 12) <= 2.0
    # windows of the model's clip length (2 s) every 0.5 s over 18 s
    assert len(result.starts) == 33
    np.testing.assert_allclose(np.diff(result.starts), 0.5)
    assert result.raw.shape == result.smoothed.shape == (33, 2)


def test_smoothing_removes_flicker(model, tmp_path):
    """A steady approach with one-window glitches: raw labels flicker, a rolling mean of 3 does not."""
    plan = [("approaching", 4), ("receding", 2), ("approaching", 4), ("receding", 2), ("approaching", 4)]
    video = make_direction_timeline(tmp_path / "glitchy.mp4", plan, fps=12, size=112, seed=3)
    aligned = TimelineSettings(window=2.0, stride=2.0)  # one window per 2 s, aligned with the plan
    raw = run_timeline(model, video, aligned)
    smoothed = run_timeline(model, video, TimelineSettings(window=2.0, stride=2.0, smooth=3))
    truth = ["approaching"] * 2 + ["receding"] + ["approaching"] * 2 + ["receding"] + ["approaching"] * 2
    assert raw.window_labels == truth  # the raw labels flicker, as the video does
    assert smoothed.window_labels == ["approaching"] * 8
    assert [s.label for s in smoothed.segments] == ["approaching"]
    np.testing.assert_array_equal(raw.raw, smoothed.raw)  # smoothing changes nothing but the smoothed output


def test_annotation_sees_every_frame_in_order(model, shared_data):
    seen = []
    result = run_timeline(model, shared_data / "clips" / "test.mp4",
                          annotate=lambda frame, time, p: seen.append((time, frame.shape, p is None)))
    assert len(seen) == 300  # every frame of the real clip, full size
    assert all(shape == (256, 340, 3) for _, shape, _ in seen)
    times = [t for t, _, _ in seen]
    assert times == sorted(times)
    first_label = next(i for i, (_, _, empty) in enumerate(seen) if not empty)
    assert 0 < first_label <= 2 * 30 + 1  # the first window ends after the model's 2 s clip length
    assert len(result.starts) >= 16


def test_a_video_shorter_than_a_window_still_gets_a_label(model, shared_data, tmp_path):
    result = run_timeline(model, shared_data / "clips" / "short32.mp4", TimelineSettings(window=10.0))
    assert len(result.starts) == 1 and len(result.segments) == 1


def test_predict_cli_ranks_and_reports_bad_files(model_dir, shared_data, tmp_path):
    bad = tmp_path / "not a video.mp4"
    bad.write_text("hello")
    clips = [shared_data / "clips" / "test.avi", bad, shared_data / "clips" / "demo.mp4"]
    result = CliRunner().invoke(app, ["predict", str(model_dir), *map(str, clips), "--json",
                                      "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [r["path"] for r in rows] == [str(c) for c in clips]
    assert "error" in rows[1] and str(bad) in rows[1]["error"]
    for row in (rows[0], rows[2]):
        probabilities = [t["probability"] for t in row["top"]]
        assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-5


def test_timeline_cli_writes_every_output(model_dir, tmp_path):
    import av

    video = make_direction_timeline(tmp_path / "v.mp4", [("receding", 4)], fps=12, size=112)
    files = {name: tmp_path / name for name in ("a.mp4", "a.gif", "t.csv", "t.png")}
    result = CliRunner().invoke(app, [
        "timeline", str(model_dir), str(video), "--smooth", "3", "--out", str(files["a.mp4"]),
        "--gif", str(files["a.gif"]), "--gif-range", "1:3", "--csv", str(files["t.csv"]),
        "--plot", str(files["t.png"]), "--json",
    ])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["smooth_k"] == 3
    assert all(path.stat().st_size > 0 for path in files.values())
    with av.open(str(files["a.mp4"])) as container:
        assert sum(1 for _ in container.decode(video=0)) == 48
