"""Known-answer tests of frame-index choice (eagerly and inside tf.data.map)."""

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
from conftest import eager_and_in_tf_data as both

from input_pipeline import sampling


@pytest.mark.parametrize(
    ("num_frames", "length", "expected"), [(100, 10, 90), (10, 10, 0), (3, 10, 0), (5, 1, 4)]
)
def test_max_start(num_frames, length, expected):
    assert both(lambda n: sampling.max_start(n, length), tf.constant(num_frames)) == expected


def test_random_starts_cover_exactly_the_valid_range():
    seeds = tf.constant([[s, 7] for s in range(40)], tf.int64)
    starts = both(
        lambda s: tf.map_fn(
            lambda x: sampling.random_starts(20, 10, 8, x), s, fn_output_signature=tf.int32
        ),
        seeds,
    )
    assert starts.shape == (40, 8)
    assert starts.min() == 0 and starts.max() == 10  # [0, 20 - 10] inclusive, both ends drawn


def test_random_starts_of_short_video_are_zero():
    assert (
        both(lambda s: sampling.random_starts(3, 10, 5, s), tf.constant([1, 2], tf.int64)).tolist()
        == [0] * 5
    )


def test_uniform_starts_are_segment_centres():
    # P = 100 possible starts in 4 segments of 25: centres 12, 37, 62, 87.
    assert both(lambda n: sampling.uniform_starts(n, 1, 4), tf.constant(100)).tolist() == [
        12,
        37,
        62,
        87,
    ]
    # Flow: 110 frames, L = 10 -> P = 101 starts.
    assert both(lambda n: sampling.uniform_starts(n, 10, 2), tf.constant(110)).tolist() == [25, 75]


def test_uniform_starts_of_three_frame_video_cover_every_frame():
    starts = both(lambda n: sampling.uniform_starts(n, 1, 25), tf.constant(3))
    assert len(starts) == 25
    assert np.all(np.diff(starts) >= 0)
    assert set(starts.tolist()) == {0, 1, 2}


def test_frame_indices_loop_short_videos():
    indices = both(lambda s: sampling.frame_indices(s, 10, 3), tf.constant([0, 2]))
    assert indices.tolist() == [[0, 1, 2, 0, 1, 2, 0, 1, 2, 0], [2, 0, 1, 2, 0, 1, 2, 0, 1, 2]]


def test_frame_indices_are_consecutive_when_the_video_is_long_enough():
    assert both(lambda s: sampling.frame_indices(s, 4, 100), tf.constant(37)).tolist() == [
        37,
        38,
        39,
        40,
    ]


def test_zero_frames_is_an_error():
    with pytest.raises(tf.errors.InvalidArgumentError, match="no frames"):
        sampling.frame_indices(tf.constant([0]), 4, tf.constant(0))


def test_segment_starts_are_uniform_within_their_segment_and_never_outside():
    # 100 frames, length 10: P = 91 starts, K = 3 segments: [0, 30), [30, 60), [60, 91).
    segments = [(0, 30), (30, 60), (60, 91)]
    draws = 30_000
    starts = both(
        lambda s: sampling.segment_starts(100, 10, 3, draws, s), tf.constant([3, 5], tf.int64)
    )
    assert starts.shape == (draws, 3)
    for k, (lower, upper) in enumerate(segments):
        counts = np.bincount(starts[:, k], minlength=91)
        assert counts[:lower].sum() == counts[upper:].sum() == 0  # never outside segment k
        inside = counts[lower:upper]
        # Pearson chi-square against uniform over the segment's starts (every start drawn).
        expected = draws / (upper - lower)
        chi2 = ((inside - expected) ** 2 / expected).sum()
        assert inside.min() > 0
        assert chi2 < scipy.stats.chi2.ppf(0.999, upper - lower - 1), (k, chi2)


def test_segment_starts_of_short_videos_run_in_time_order():
    # 4 frames, length 1: P = 4 starts in K = 3 segments [0, 1), [1, 2), [2, 4).
    starts = both(lambda s: sampling.segment_starts(4, 1, 3, 200, s), tf.constant([1, 2], tf.int64))
    assert set(starts[:, 0]) == {0} and set(starts[:, 1]) == {1} and set(starts[:, 2]) == {2, 3}
    # Fewer starts than segments (P = 1): every snippet starts at 0 (frames loop).
    assert (
        both(
            lambda s: sampling.segment_starts(3, 10, 3, 2, s), tf.constant([1, 2], tf.int64)
        ).tolist()
        == [[0, 0, 0]] * 2
    )
