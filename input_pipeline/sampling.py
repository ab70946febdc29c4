"""Frame-index choice: which frames a sample reads, decided from the frame count alone.

Indices are chosen before anything is decoded (the reader then gathers only those encoded
strings). A sample is `length` consecutive frames from a start; videos shorter than `length`
loop (index modulo the frame count), as the seed and DMVR do. A TSN training example is K
snippets, one start drawn in each of K equal segments of the video (`segment_starts`).
"""

from __future__ import annotations

import tensorflow as tf


def _check_count(num_frames: tf.Tensor) -> tf.Tensor:
    """Returns `num_frames` (int32 scalar) after checking it is positive, in-graph."""
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    check = tf.debugging.assert_positive(
        num_frames, message="a record has no frames of the stream being read; rewrite its shard"
    )
    with tf.control_dependencies([check]):
        return tf.identity(num_frames)


def max_start(num_frames: tf.Tensor, length: int) -> tf.Tensor:
    """Last start whose `length` frames fit in the video; 0 when the video is shorter.

    Args:
      num_frames: int32 scalar, frames in the video (> 0).
      length: frames per sample (1 for RGB, L for a flow stack).

    Returns:
      int32 scalar in [0, num_frames - 1].
    """
    return tf.maximum(_check_count(num_frames) - length, 0)


def random_starts(
    num_frames: tf.Tensor, length: int, num_samples: int, seed: tf.Tensor
) -> tf.Tensor:
    """Starts drawn independently and uniformly from [0, max_start] (training).

    Args:
      num_frames: int32 scalar, frames in the video (> 0).
      length: frames per sample.
      num_samples: how many starts.
      seed: int32/int64 [2], stateless random seed.

    Returns:
      int32 [num_samples].
    """
    return tf.random.stateless_uniform(
        [num_samples], seed, minval=0, maxval=max_start(num_frames, length) + 1, dtype=tf.int32
    )


def segment_starts(
    num_frames: tf.Tensor, length: int, num_segments: int, num_samples: int, seed: tf.Tensor
) -> tf.Tensor:
    """One start drawn uniformly inside each of K equal segments of the video (TSN training).

    The P = max_start + 1 possible starts are cut into K segments, segment k holding starts
    floor(kP / K) .. floor((k + 1)P / K) - 1 (the segments partition the P starts); segment
    k's start is drawn uniformly among its own. A video with fewer starts than segments
    (P < K) gives the empty segments their first start, floor(kP / K), so its snippets
    still run in time order (and short videos loop in `frame_indices`).

    Args:
      num_frames: int32 scalar, frames in the video (> 0).
      length: frames per snippet.
      num_segments: K >= 1.
      num_samples: M, independent examples of K starts each.
      seed: int32/int64 [2], stateless random seed.

    Returns:
      int32 [M, K], non-decreasing along K.
    """
    positions = max_start(num_frames, length) + 1
    k = tf.range(num_segments + 1, dtype=tf.int32)
    bounds = k * positions // num_segments  # [K + 1]
    lower, width = bounds[:-1], tf.maximum(bounds[1:] - bounds[:-1], 1)
    uniform = tf.random.stateless_uniform([num_samples, num_segments], seed)
    # Float floor of u * width: exact for any frame count a video has (< 2^24 starts).
    offsets = tf.cast(tf.floor(uniform * tf.cast(width, tf.float32)), tf.int32)
    return lower + tf.minimum(offsets, width - 1)


def uniform_starts(num_frames: tf.Tensor, length: int, num_samples: int) -> tf.Tensor:
    """`num_samples` starts uniformly spaced over the video (evaluation).

    The P = max_start + 1 possible starts are cut into `num_samples` equal segments and the
    centre of each is taken (TSN's test sampling): start_k = floor((2k + 1) P / (2K)), in
    exact integer arithmetic. With P = 100 and K = 4 the starts are 12, 37, 62 and 87.

    Args:
      num_frames: int32 scalar, frames in the video (> 0).
      length: frames per sample.
      num_samples: K >= 1.

    Returns:
      int32 [K], non-decreasing.
    """
    positions = max_start(num_frames, length) + 1
    k = tf.range(num_samples, dtype=tf.int32)
    return (2 * k + 1) * positions // (2 * num_samples)


def frame_indices(starts: tf.Tensor, length: int, num_frames: tf.Tensor) -> tf.Tensor:
    """Indices of `length` consecutive frames from each start, looping short videos.

    Args:
      starts: int32 [...], first frame of each sample.
      length: frames per sample.
      num_frames: int32 scalar, frames in the video (> 0).

    Returns:
      int32 [..., length]: (start + t) mod num_frames for t in 0..length-1.
    """
    steps = tf.range(length, dtype=tf.int32)
    return (tf.expand_dims(starts, -1) + steps) % _check_count(num_frames)
