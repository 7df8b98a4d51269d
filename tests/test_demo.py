"""``vidclass demo`` end to end: it trains, evaluates and finds the three segments of its long video."""

from __future__ import annotations

import json

import pytest

from vidclass.use.demo import DEMO_TIMELINE, run_demo

pytestmark = pytest.mark.slow


def test_the_demo_labels_its_long_video_segment_by_segment_and_writes_every_file(tmp_path):
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", log=lines.append)
    missing = [name for name, path in result.files.items() if not path.exists()]
    assert not missing, missing
    segments = json.loads(result.files["timeline"].read_text())["segments"]
    assert [s["label"] for s in segments] == [label for label, _ in DEMO_TIMELINE]
    changes = [segment["start"] for segment in segments[1:]]
    assert abs(changes[0] - 6.0) <= 2.0 and abs(changes[1] - 12.0) <= 2.0
    assert any(line.startswith("3/4 evaluation") for line in lines)
