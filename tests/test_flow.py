"""Known-answer tests of flow interleaving and the flip that negates x."""

import numpy as np
import tensorflow as tf

from input_pipeline import flow
from tfrecords import schema


def both(fn, *args):
    """fn(*args) eagerly and inside a tf.data map; asserts they agree; returns numpy."""
    eager = np.asarray(fn(*args))
    mapped = np.asarray(next(iter(tf.data.Dataset.from_tensors(args).map(fn))))
    np.testing.assert_array_equal(eager, mapped)
    return eager


def _frames(length: int):
    """x_t painted 2t, y_t painted 2t + 1, plus a column ramp that reveals mirroring."""
    ramp = np.arange(6, dtype=np.uint8)[None, :, None] * 30  # [1, 6, 1]: 0, 30, ..., 150
    xs = [np.broadcast_to(ramp + 2 * t, (4, 6, 1)).copy() for t in range(length)]
    ys = [np.broadcast_to(ramp + 2 * t + 1, (4, 6, 1)).copy() for t in range(length)]
    return xs, ys


def test_interleave_order_is_x0_y0_x1_y1():
    xs, ys = _frames(10)
    stack = both(
        lambda x, y: flow.interleave(tf.unstack(x), tf.unstack(y)), np.stack(xs), np.stack(ys)
    )
    assert stack.shape == (4, 6, 20)
    np.testing.assert_array_equal(stack[0, 0], np.arange(20))
    np.testing.assert_array_equal(stack[2, 3], np.arange(20) + 90)


def test_flip_negates_x_and_keeps_y_for_every_channel():
    xs, ys = _frames(10)
    stack = flow.interleave(xs, ys).numpy()
    flipped = both(lambda s: flow.flip_flow(s, tf.constant(True)), stack)
    mirrored = stack[:, ::-1]
    np.testing.assert_array_equal(flipped[..., 0::2], 255 - mirrored[..., 0::2])
    np.testing.assert_array_equal(flipped[..., 1::2], mirrored[..., 1::2])
    np.testing.assert_array_equal(
        both(lambda s: flow.flip_flow(s, tf.constant(False)), stack), stack
    )


def test_constant_motion_reverses_under_flip():
    # 11.37 px/frame to the right (q = 200) and 10.6 px down (q = 60); flipped: to the left.
    x = np.full([4, 6, 1], 200, np.uint8)
    y = np.full([4, 6, 1], 60, np.uint8)
    flipped = flow.flip_flow(flow.interleave([x] * 10, [y] * 10), tf.constant(True))
    motion = schema.dequantize_flow(flipped).numpy()
    np.testing.assert_allclose(motion[..., 0::2], -schema.dequantize_flow(200).numpy(), atol=1e-5)
    np.testing.assert_allclose(motion[..., 1::2], schema.dequantize_flow(60).numpy(), atol=1e-5)


def test_quantized_negation_is_exact_after_dequantization():
    q = np.arange(256, dtype=np.uint8)
    np.testing.assert_allclose(
        schema.dequantize_flow(255 - q).numpy(), -schema.dequantize_flow(q).numpy(), atol=1e-5
    )
