"""Views cut from cached grids, and the motion channel."""

from __future__ import annotations

import numpy as np
import pytest

from vidclass.errors import ConfigError
from vidclass.inputs.views import ViewSpec, cut_view, model_inputs, view_positions


def test_evaluation_views_are_disjoint_and_cover_segments():
    spec = ViewSpec(frames=4, grid=8, inputs="appearance")
    views = [view_positions(spec, view=v) for v in range(spec.test_views)]
    assert spec.test_views == 2
    assert set(views[0]).isdisjoint(views[1])
    for positions in views:
        assert list(positions // 2) == [0, 1, 2, 3]  # one frame from each segment of two


def test_training_views_vary_but_stay_in_their_segment():
    spec = ViewSpec(frames=4, grid=16, inputs="appearance")
    rng = np.random.default_rng(0)
    seen = {tuple(view_positions(spec, rng=rng)) for _ in range(50)}
    assert len(seen) > 10
    for positions in seen:
        assert list(np.array(positions) // 4) == [0, 1, 2, 3]


def test_motion_channel_is_the_change_between_real_frames():
    features = np.arange(12, dtype=np.float32).reshape(4, 3) ** 2
    mask = np.array([True, True, True, False])
    x = model_inputs(features, mask, ViewSpec(frames=4, grid=4, inputs="appearance+motion"))
    assert x.shape == (4, 6)
    np.testing.assert_array_equal(x[:, :3], features)
    np.testing.assert_array_equal(x[0, 3:], 0)
    np.testing.assert_array_equal(x[2, 3:], features[2] - features[1])
    np.testing.assert_array_equal(x[3, 3:], 0)  # a padded frame carries no motion


def test_rgbdiff_channels_are_appended_in_order_and_required():
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    rgbdiff = -features - 1
    mask = np.ones(4, dtype=bool)
    both = model_inputs(features, mask, ViewSpec(frames=4, grid=4, inputs="appearance+motion+rgbdiff"), rgbdiff)
    assert both.shape == (4, 9) and ViewSpec(inputs="appearance+motion+rgbdiff").input_dim(3) == 9
    np.testing.assert_array_equal(both[:, :3], features)
    np.testing.assert_array_equal(both[1:, 3:6], np.diff(features, axis=0))
    np.testing.assert_array_equal(both[:, 6:], rgbdiff)
    only = model_inputs(features, mask, ViewSpec(frames=4, grid=4, inputs="appearance+rgbdiff"), rgbdiff)
    np.testing.assert_array_equal(only, np.concatenate([features, rgbdiff], axis=1))
    with pytest.raises(ConfigError, match="RGB-difference"):
        model_inputs(features, mask, ViewSpec(frames=4, grid=4, inputs="appearance+rgbdiff"))


def test_short_video_repeats_are_masked_in_views():
    grid = np.arange(8, dtype=np.float32).reshape(8, 1)
    mask = np.array([True] * 3 + [False] * 5)  # a 3-frame video padded to a grid of 8
    x, view_mask = cut_view(grid, mask, ViewSpec(frames=4, grid=8, inputs="appearance"))
    assert x.shape == (4, 1) and view_mask.dtype == bool
    assert view_mask.sum() <= 3


def test_bad_specs_are_refused_with_the_option_name():
    with pytest.raises(ConfigError, match="grid"):
        ViewSpec(frames=8, grid=4)
    with pytest.raises(ConfigError, match="inputs"):
        ViewSpec(inputs="optical-flow")  # type: ignore[arg-type]
