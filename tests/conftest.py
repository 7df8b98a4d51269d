"""Shared fixtures: the real data beside the checkout, and small synthetic datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidclass.synthetic import SyntheticSpec, make_direction_dataset

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
