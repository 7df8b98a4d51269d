"""Rolling prediction averaging, segments, JSON/CSV output and the timeline plot."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from vidclass.errors import ConfigError
from vidclass.use.timeline import RollingAverage, Segment, TimelineResult, plot_timeline, rolling_average, segments


def _flicker(n: int) -> np.ndarray:
    """Raw window predictions whose top label alternates A, B, A, B, ... but leans to A."""
    return np.array([[0.6, 0.4] if i % 2 == 0 else [0.45, 0.55] for i in range(n)])


def test_rolling_average_matches_hand_computation():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    expected = np.array(
        [
            [1.0, 0.0],  # only row 0
            [0.5, 0.5],  # rows 0-1
            [2 / 3, 1 / 3],  # rows 0-2
            [1.5 / 3, 1.5 / 3],  # rows 1-3
            [1.7 / 3, 1.3 / 3],  # rows 2-4
        ]
    )
    np.testing.assert_allclose(rolling_average(p, 3), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5, 40])
def test_streaming_equals_batch(k):
    p = np.random.default_rng(k).dirichlet(np.ones(4), size=30)
    stream = RollingAverage(k)
    streamed = np.stack([stream.update(row) for row in p])
    np.testing.assert_allclose(streamed, rolling_average(p, k), rtol=0, atol=1e-12)
    stream.reset()
    np.testing.assert_array_equal(stream.update(p[5]), p[5])


def test_k1_is_identity():
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=7)
    np.testing.assert_array_equal(rolling_average(p, 1), p)


@pytest.mark.parametrize("k", [0, -2, 2.5, True])
def test_bad_k_is_a_config_error(k):
    with pytest.raises(ConfigError, match="smooth_k"):
        rolling_average(np.ones((3, 2)) / 2, k)
    with pytest.raises(ConfigError, match="smooth_k"):
        RollingAverage(k)


def test_smoothing_removes_flicker():
    p = _flicker(12)
    starts = np.arange(12, dtype=float)
    raw = segments(starts, starts + 1, p, ["A", "B"])
    assert [s.label for s in raw] == ["A", "B"] * 6
    smooth = segments(starts, starts + 1, rolling_average(p, 4), ["A", "B"])
    assert [(s.label, s.start, s.end, s.windows) for s in smooth] == [("A", 0.0, 12.0, 12)]


def test_segments_merge_back_to_back_windows():
    p = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.1, 0.9], [0.8, 0.2]])
    starts = np.arange(6, dtype=float)
    result = segments(starts, starts + 1, p, ["run", "walk"])
    assert result == [
        Segment(0.0, 2.0, "run", pytest.approx(0.8), 2),
        Segment(2.0, 5.0, "walk", pytest.approx((0.8 + 0.6 + 0.9) / 3), 3),
        Segment(5.0, 6.0, "run", pytest.approx(0.8), 1),
    ]


def test_segments_of_overlapping_windows_tile_time():
    # 2 s windows every 1 s: the change is between the centres 2.0 and 3.0
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    starts = np.arange(4, dtype=float)
    result = segments(starts, starts + 2, p, ["a", "b"])
    assert [(s.start, s.end, s.label) for s in result] == [(0.0, 2.5, "a"), (2.5, 5.0, "b")]


def test_segments_edge_cases():
    assert segments(np.zeros(0), np.zeros(0), np.zeros((0, 2)), ["a", "b"]) == []
    with pytest.raises(ValueError, match="labels"):
        segments(np.zeros(2), np.ones(2), np.ones((2, 3)) / 3, ["a", "b"])
    with pytest.raises(ValueError, match="sorted"):
        segments(np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.ones((2, 2)) / 2, ["a", "b"])


def _result(n: int = 9) -> TimelineResult:
    rng = np.random.default_rng(7)
    starts = np.arange(n) * 0.5
    raw = rng.dirichlet(np.ones(3), size=n)
    return TimelineResult.from_probabilities(["cat, dog", "bird", "fish"], starts, starts + 1.0, raw, 3, 4)


def test_from_probabilities_smooths_and_segments():
    result = _result()
    np.testing.assert_array_equal(result.smoothed, rolling_average(result.raw, 3))
    assert result.segments == segments(result.starts, result.ends, result.smoothed, result.labels)
    assert sum(s.windows for s in result.segments) == len(result.raw)


def test_json_round_trip(tmp_path):
    result = _result()
    path = result.write_json(tmp_path / "out" / "timeline.json")
    back = TimelineResult.read_json(path)
    for name in ("starts", "ends", "raw", "smoothed"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    assert (back.labels, back.segments, back.smooth_k, back.skipped_frames) == (
        result.labels, result.segments, 3, 4
    )
    data = json.loads(path.read_text())
    assert [w["label"] for w in data["windows"]] == result.window_labels
    assert [s["label"] for s in data["segments"]] == [s.label for s in result.segments]
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["timeline.json"]


def test_read_json_names_a_bad_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"labels": ["a"]}')
    with pytest.raises(ValueError, match="other.json: not a vidclass timeline"):
        TimelineResult.read_json(path)


def test_csv_round_trip(tmp_path):
    result = _result()
    path = result.write_csv(tmp_path / "timeline.csv")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    labels = result.labels
    assert header == ["start", "end", "label", *(f"raw_{c}" for c in labels), *(f"smooth_{c}" for c in labels)]
    assert len(rows) == len(result.raw)
    numbers = np.array([[float(x) for i, x in enumerate(row) if i != 2] for row in rows])
    np.testing.assert_array_equal(numbers[:, 0], result.starts)
    np.testing.assert_array_equal(numbers[:, 1], result.ends)
    np.testing.assert_array_equal(numbers[:, 2:5], result.raw)
    np.testing.assert_array_equal(numbers[:, 5:8], result.smoothed)
    assert [row[2] for row in rows] == [labels[i] for i in result.smoothed.argmax(axis=1)]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "timeline.json"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("vidclass.util.atomic.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _result().write_json(path)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_result_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match="same shape"):
        TimelineResult(["a", "b"], np.zeros(2), np.ones(2), np.ones((2, 2)) / 2, np.ones((3, 2)) / 2, [], 1)


@pytest.mark.parametrize("n_classes", [3, 15])
def test_plot_timeline_writes_png(tmp_path, n_classes):
    rng = np.random.default_rng(n_classes)
    starts = np.arange(40) * 0.25
    result = TimelineResult.from_probabilities(
        [f"class_{i}" for i in range(n_classes)], starts, starts + 1, rng.dirichlet(np.ones(n_classes), 40), 5
    )
    path = plot_timeline(result, tmp_path / "plots" / "timeline.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 500
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # lines and coloured segments, not blank
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["timeline.png"]
