"""TSN's segmental consensus: the K snippets of an example vote by averaging class scores."""

from __future__ import annotations

import tensorflow as tf


def average_consensus(logits: tf.Tensor, num_segments: int) -> tf.Tensor:
    """Softmax of the mean of each example's K snippet logits (TSN's average consensus).

    The scores are averaged before the softmax, as TSN does, so the gradient reaching each
    snippet's logits is 1/K of the gradient of the consensus logits. K = 1 is the softmax.

    Args:
      logits: float [B x K, num_classes], row b * K + k is snippet k of example b (the
        order `input_pipeline.resample.fold_segments` gives).
      num_segments: K >= 1, a Python int.

    Returns:
      float32 [B, num_classes] probabilities.

    Raises:
      ValueError: `num_segments` is not a positive int.
    """
    if not isinstance(num_segments, int) or num_segments < 1:
        raise ValueError(f"num_segments={num_segments!r}: need a positive int")
    logits = tf.cast(logits, tf.float32)
    per_example = tf.reshape(logits, [-1, num_segments, logits.shape[-1]])
    return tf.nn.softmax(tf.reduce_mean(per_example, axis=1))
