"""A regressor on labeled segments: a segment CSV whose labels are numbers trains on its segments (the recordings
shape), a label that is no number is refused by name, and whole-video readers refuse a segment CSV."""

from __future__ import annotations

import pytest

from vidclass.data.synthetic_recordings import BOB_PERIODS, make_segment_recording
from vidclass.data.targets import read_targets
from vidclass.errors import DatasetError
from vidclass.estimator.regressor import VideoRegressor

TINY = dict(backbone="timm:test_resnet", pretrained=False, size=32, frames=2, head="mean", inputs="rgbdiff",
            epochs=1, val=0.25, test=0.25, workers=0)


def test_a_segment_csv_of_numbers_trains_a_regressor_on_its_segments(tmp_path):
    named = make_segment_recording(tmp_path / "rec.mp4", [("walking", 8.0), ("running", 8.0)] * 3, fps=8, size=32)
    numbers = tmp_path / "periods.csv"  # the bobbing period of each segment, in seconds
    numbers.write_text("".join(line.replace(",walking", f",{BOB_PERIODS['walking']}")
                               .replace(",running", f",{BOB_PERIODS['running']}") + "\n"
                               for line in named.read_text().splitlines()))
    model = VideoRegressor(**TINY, cache_dir=tmp_path / "cache").fit(numbers, out_dir=tmp_path / "run")
    assert model.training_["task"] == "regression" and model.training_["clips"]["plan"]
    assert {b["part"] for b in model.training_["clips"]["blocks"]} == {"train", "val", "test"}
    assert model.evaluation_ is not None and (tmp_path / "run" / "evaluation" / "scatter.png").is_file()
    assert model.target_mean_ == pytest.approx(sum(BOB_PERIODS[k] for k in ("walking", "running")) / 2, abs=0.3)

    with pytest.raises(DatasetError, match="label '(walking|running)' is not a number"):
        VideoRegressor(**TINY, cache_dir=tmp_path / "cache").fit(named)
    with pytest.raises(DatasetError, match="a segment CSV"):
        read_targets(numbers)
