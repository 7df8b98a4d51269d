"""Shared fixtures: the real data beside the checkout, and small synthetic datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def direction_dataset(tmp_path_factory) -> Path:
    """A small synthetic temporal-order dataset: 2 classes x 6 clips of 1.5 s at 10 fps, 96 px."""
    root = tmp_path_factory.mktemp("direction")
    return make_direction_dataset(root, SyntheticSpec(clips_per_class=6, seconds=1.5, fps=10, size=96, seed=1))


@pytest.fixture(scope="session")
def regression_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A tiny frozen-feature regression model on the speed-of-a-square task (seconds to fit): the model
    folder, its dataset (targets.csv) and its feature cache. Its accuracy is not the point."""
    from vidclass.data.synthetic_recordings import make_speed_dataset
    from vidclass.estimator.regressor import VideoRegressor

    root = tmp_path_factory.mktemp("regression-run")
    data = make_speed_dataset(root / "speeds", clips=14, seconds=1.0, fps=15, size=32, seed=0)  # pairs 1/15 s apart
    VideoRegressor(backbone="timm:test_resnet", pretrained=False, size=64, head="gru", frames=4, grid=4,
                   inputs="rgbdiff", epochs=3, val=0.2, test=0.2, workers=0, cache_dir=root / "cache").fit(
        data, out_dir=root / "run")
    return root / "run" / "model", data, root / "cache"
