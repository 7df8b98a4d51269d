"""Frame samplers: whole-video coverage, TSN segments, random clips, sliding windows, and
short videos padded (never dropped) with the padding marked in the mask."""

from __future__ import annotations

import numpy as np
import pytest

from vidclass.errors import ConfigError
from vidclass.media.sampling import FrameSample, random_clip, segments, sliding_windows, uniform


def _check_shape(sample: FrameSample, k: int) -> None:
    assert sample.indices.shape == sample.mask.shape == (k,)
    assert sample.indices.dtype == np.int64 and sample.mask.dtype == bool
    assert np.all(np.diff(sample.indices) >= 0)


def _segment_bounds(num_frames: int, k: int) -> np.ndarray:
    """Start of each of the K equal segments, plus the end (fractional)."""
    return np.arange(k + 1) * num_frames / k


@pytest.mark.parametrize("num_frames,k", [(300, 16), (16, 16), (17, 16), (61, 8), (1000, 3), (5, 1)])
def test_uniform_spreads_over_the_whole_video(num_frames, k):
    sample = uniform(num_frames, k)
    _check_shape(sample, k)
    assert sample.mask.all()
    assert np.all(np.diff(sample.indices) > 0)  # distinct frames when there are enough
    assert sample.indices.min() >= 0 and sample.indices.max() <= num_frames - 1
    if k > 1:
        assert sample.indices[0] == 0 and sample.indices[-1] == num_frames - 1
        gaps = np.diff(sample.indices)
        assert gaps.max() - gaps.min() <= 1  # evenly spaced


def test_uniform_is_not_the_first_k_frames():
    sample = uniform(300, 16)
    assert sample.indices[-1] == 299 and not np.array_equal(sample.indices, np.arange(16))
    assert np.count_nonzero(sample.indices >= 150) == 8  # half the frames in the second half


@pytest.mark.parametrize("sampler", ["uniform", "segments", "segments-train"])
def test_short_video_repeats_frames_and_masks_the_repeats(sampler):
    rng = np.random.default_rng(0)
    sample = {
        "uniform": lambda: uniform(5, 8),
        "segments": lambda: segments(5, 8),
        "segments-train": lambda: segments(5, 8, rng=rng),
    }[sampler]()
    _check_shape(sample, 8)
    np.testing.assert_array_equal(sample.indices[sample.mask], np.arange(5))  # every frame, once
    assert sample.mask.sum() == 5 and sample.mask[:5].all()  # real frames first
    assert set(sample.indices[~sample.mask]) <= set(range(5))


def test_one_frame_video_gives_k_copies_with_one_real():
    sample = uniform(1, 4)
    np.testing.assert_array_equal(sample.indices, [0, 0, 0, 0])
    np.testing.assert_array_equal(sample.mask, [True, False, False, False])


@pytest.mark.parametrize("num_frames,k", [(300, 16), (17, 16), (16, 16), (100, 7), (31, 6), (1000, 999)])
def test_segments_at_test_time_take_the_middle_of_each_segment(num_frames, k):
    sample = segments(num_frames, k)
    _check_shape(sample, k)
    np.testing.assert_array_equal(sample.indices, segments(num_frames, k).indices)  # deterministic
    bounds = _segment_bounds(num_frames, k)
    for i, index in enumerate(sample.indices):
        assert bounds[i] <= index + 0.5 < bounds[i + 1]  # the frame's centre lies in the segment
        assert index <= (bounds[i] + bounds[i + 1]) / 2 < index + 1  # the frame holds its middle
    assert sample.mask.all()


def test_segments_in_training_are_random_but_stay_in_their_segment():
    num_frames, k = 100, 8
    draws = np.stack([segments(num_frames, k, rng=np.random.default_rng(seed)).indices for seed in range(200)])
    bounds = _segment_bounds(num_frames, k)
    starts = np.floor(bounds[:-1] + 0.5).astype(int)  # first frame whose centre is in the segment
    ends = np.floor(bounds[1:] + 0.5).astype(int)
    assert np.all(draws >= starts) and np.all(draws < ends)
    for i in range(k):  # every offset in every segment gets drawn
        np.testing.assert_array_equal(np.unique(draws[:, i]), np.arange(starts[i], ends[i]))
    assert not np.array_equal(draws[0], draws[1])


def test_random_clip_stays_inside_a_clip_of_the_asked_length():
    num_frames, fps, seconds, k = 300, 30.0, 2.0, 8
    starts = set()
    for seed in range(100):
        sample = random_clip(num_frames, fps, seconds, k, rng=np.random.default_rng(seed))
        _check_shape(sample, k)
        assert sample.mask.all()
        assert sample.indices[-1] - sample.indices[0] == 59  # K uniform over the 60-frame clip
        assert 0 <= sample.indices[0] and sample.indices[-1] < num_frames
        starts.add(int(sample.indices[0]))
    assert len(starts) > 50 and min(starts) < 30 and max(starts) > 210  # anywhere in the video
    middle = random_clip(num_frames, fps, seconds, k, rng=None)
    assert middle.indices[0] == 120  # deterministic: the middle clip


def test_random_clip_longer_than_the_video_takes_the_whole_video():
    sample = random_clip(40, 10.0, 10.0, 8, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(sample.indices, uniform(40, 8).indices)
    short = random_clip(40, 10.0, 0.5, 8, rng=np.random.default_rng(0))  # 5-frame clip < K
    assert short.mask.sum() == 5 and short.indices[-1] - short.indices[0] == 4


def test_sliding_windows_cover_the_video_with_regular_starts():
    num_frames, fps = 300, 30.0  # 10 s
    windows = sliding_windows(num_frames, fps, window=2.0, stride=1.0, k=8)
    np.testing.assert_allclose([w.start for w in windows], np.arange(9))  # 0..8 s; [8, 10] ends it
    assert windows[-1].end == pytest.approx(10.0)
    assert all(w.end - w.start == pytest.approx(2.0) for w in windows)
    for w in windows:
        _check_shape(w.sample, 8)
        assert w.sample.mask.all()
        assert w.sample.indices[0] == round(w.start * fps) and w.sample.indices[-1] == round(w.end * fps) - 1
    covered = np.zeros(num_frames, bool)
    for w in windows:
        covered[w.sample.indices[0] : w.sample.indices[-1] + 1] = True
    assert covered.all()


def test_sliding_windows_last_window_is_cut_at_the_end():
    windows = sliding_windows(100, 10.0, window=4.0, stride=3.0, k=16)  # 10 s video
    np.testing.assert_allclose([w.start for w in windows], [0, 3, 6])
    last = windows[-1]
    assert last.end == pytest.approx(10.0) and last.sample.indices[-1] == 99
    assert windows[0].sample.mask.all()  # 40 frames >= 16
    assert last.sample.mask.all()  # 40 frames >= 16
    cut = sliding_windows(25, 10.0, window=2.0, stride=2.0, k=8)  # 2.5 s: last window is 0.5 s
    assert [w.start for w in cut] == [0.0, 2.0]
    assert cut[-1].sample.mask.sum() == 5 and cut[-1].sample.indices[0] == 20


def test_video_shorter_than_one_window_gives_one_window_over_all_of_it():
    (only,) = sliding_windows(12, 12.0, window=5.0, stride=1.0, k=16)
    assert (only.start, only.end) == (0.0, pytest.approx(1.0))
    assert only.sample.mask.sum() == 12
    np.testing.assert_array_equal(only.sample.indices[only.sample.mask], np.arange(12))


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: uniform(100, 0), "k must be >= 1"),
        (lambda: segments(100, -2), "k must be >= 1"),
        (lambda: uniform(0, 8), "num_frames must be >= 1, got 0 .the video has no frames"),
        (lambda: segments(0, 8, rng=np.random.default_rng(0)), "num_frames must be >= 1"),
        (lambda: uniform(10.5, 8), "num_frames must be an integer"),
        (lambda: random_clip(100, 0.0, 2.0, 8, rng=None), "fps must be a positive number"),
        (lambda: random_clip(100, 30.0, -1.0, 8, rng=None), "seconds must be a positive number"),
        (lambda: sliding_windows(100, 30.0, 2.0, 0.0, 8), "stride must be a positive number"),
        (lambda: sliding_windows(0, 30.0, 2.0, 1.0, 8), "num_frames must be >= 1"),
    ],
)
def test_invalid_arguments_are_refused_with_a_clear_message(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
