"""RGB-difference frames: pairing of frames, the difference image, and its pairing in a stream."""

from __future__ import annotations

import numpy as np
import pytest

from vidclass.media import motion
from vidclass.media.video import StreamedFrame
from vidclass.use.predict import _DifferencePairs


@pytest.mark.parametrize("fps, offset", [(30.0, 2), (25.0, 2), (10.0, 1), (60.0, 4), (0.0, 1)])
def test_partner_offset_is_about_a_fifteenth_of_a_second(fps, offset):
    assert motion.partner_offset(fps) == offset


def test_pairs_move_back_at_the_end_and_stay_inside_the_video():
    earlier, later = motion.partner_pairs(np.array([0, 5, 8, 9]), num_frames=10, fps=30.0)
    np.testing.assert_array_equal(earlier, [0, 5, 7, 7])
    np.testing.assert_array_equal(later, [2, 7, 9, 9])
    one = motion.partner_pairs(np.array([0]), num_frames=1, fps=30.0)
    assert [int(one[0][0]), int(one[1][0])] == [0, 0]  # a one-frame video: no motion, no index error


def test_difference_image_is_signed_around_mid_grey_and_clipped():
    earlier = np.array([[[[10, 100, 250]]]], dtype=np.uint8)
    later = np.array([[[[20, 90, 0]]]], dtype=np.uint8)
    out = motion.difference_frames(earlier, later)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0, 0], [128 + 20, 128 - 20, 0])
    np.testing.assert_array_equal(motion.difference_frames(later, later), np.full_like(later, 128))


def _frame(index: int, fps: float = 30.0) -> StreamedFrame:
    return StreamedFrame(index, index / fps, None, np.full((2, 2, 3), index, np.uint8), fps)


def test_a_stream_pairs_each_sampled_frame_with_the_frame_its_offset_later():
    picks = {0, 3, 4, 9}
    pairs = _DifferencePairs(lambda index, time, behind=0.0: index in picks, "rgbdiff", motion.MOTION_RULE)  # a sampler
    converted, done = [], []
    for index in range(11):
        if pairs(index, index / 30.0):
            converted.append(index)
            done += pairs.take(_frame(index))
    done += pairs.flush()
    # sampled frames and their partners (2 frames later at 30 fps) are converted, nothing else
    assert converted == [0, 2, 3, 4, 5, 6, 9]
    assert [round(time * 30) for time, _, _ in done] == [0, 3, 4, 9]
    for time, frame, difference in done:
        index = round(time * 30)
        assert frame[0, 0, 0] == index
        # the difference with frame index + 2; frame 11 never came, so frame 9 gets no motion
        assert difference[0, 0, 0] == 128 + motion.GAIN * (0 if index == 9 else 2), index


def test_a_stream_scales_each_pair_to_a_fifteenth_of_a_second_at_its_frame_rate():
    picks = {0}
    for fps, expected in ((20.0, 128 + round(motion.GAIN * 4 / 3)), (25.0, 128 + round(motion.GAIN * 2 * 5 / 6))):
        pairs = _DifferencePairs(lambda index, time, behind=0.0: index in picks, "rgbdiff", "fixed-time")
        done = []
        for index in range(4):
            if pairs(index, index / fps):
                done += pairs.take(_frame(index, fps))
        ((_, _, difference),) = done
        assert difference[0, 0, 0] == expected, fps  # frames 1 (20 fps) or 2 (25 fps) later, rescaled
        old = _DifferencePairs(lambda index, time, behind=0.0: index in picks, "rgbdiff", "frame-offset")
        old_done = [item for index in range(4) if old(index, index / fps) for item in old.take(_frame(index, fps))]
        assert old_done[0][2][0, 0, 0] == 128 + motion.GAIN * motion.partner_offset(fps)
