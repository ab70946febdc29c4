"""Flow-stack maths: channel interleaving and the flip that negates horizontal motion.

A temporal sample is L flow frames, x and y interleaved into [H, W, 2L] in the order
[x_0, y_0, x_1, y_1, ..., x_{L-1}, y_{L-1}], in quantized units (0..255, zero motion ~128;
see `tfrecords.schema.quantize_flow`). Mirroring the image left-right reverses horizontal
motion: x becomes `255 - x` (exactly `-x` after `dequantize_flow`, which is affine and
symmetric about 127.5); y is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

QUANTIZED_MAX = 255


def interleave(x_frames: Sequence[tf.Tensor], y_frames: Sequence[tf.Tensor]) -> tf.Tensor:
    """Stacks L x and L y frames of one size into one tensor, x and y interleaved.

    Frames are stacked along a leading axis and moved last with one 2-D transpose
    (concatenating 2L one-channel images along the channel axis copies byte by byte and
    costs several times more).

    Args:
      x_frames: L tensors [H, W, 1].
      y_frames: L tensors [H, W, 1].

    Returns:
      [H, W, 2L] in the order x_0, y_0, x_1, y_1, ...

    Raises:
      ValueError: the two lists differ in length or are empty.
    """
    if len(x_frames) != len(y_frames) or not x_frames:
        raise ValueError(f"{len(x_frames)} x frames and {len(y_frames)} y frames: need L >= 1 each")
    frames = [f for pair in zip(x_frames, y_frames, strict=True) for f in pair]
    height, width = tf.shape(frames[0])[0], tf.shape(frames[0])[1]
    planes = tf.reshape(tf.concat(frames, axis=0), [len(frames), height * width])
    return tf.reshape(tf.transpose(planes), [height, width, len(frames)])


def flip_flow(stack: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """Mirrors a quantized flow stack left-right when `flip`, negating x as `255 - x`.

    Args:
      stack: uint8 [H, W, 2L], interleaved (2L static).
      flip: bool scalar.

    Returns:
      uint8 [H, W, 2L].
    """

    def mirrored() -> tf.Tensor:
        # For uint8, 255 - x == x XOR 0xFF: one broadcast XOR inverts the x channels.
        x_mask = tf.range(stack.shape[-1]) % 2 == 0
        mask = tf.where(x_mask, tf.constant(QUANTIZED_MAX, tf.uint8), tf.constant(0, tf.uint8))
        return tf.bitwise.bitwise_xor(tf.reverse(stack, axis=[1]), mask)

    return tf.cond(flip, mirrored, lambda: stack)
