"""Known-answer tests of the device-side crop, mirror, bilinear resize and cast (resample.py).

Every check runs eagerly and compiled with XLA (`jit_compile=True`, as on a TPU) and the two
must agree; one runs inside a tf.distribute strategy's `run`. The reference is
`tf.image.resize` (bilinear, TF2 defaults) of the sliced crop. Padding is filled with 255, not
zeros, so any read outside a box shows.
"""

import numpy as np
import pytest
import tensorflow as tf

from input_pipeline.resample import Windows, mirror_flow_x, model_input

PAD = 255


def both(size: int, flow: bool, frames, boxes, flips) -> np.ndarray:
    """model_input eagerly and under XLA; asserts they agree; returns the eager numpy result."""
    windows = Windows(
        tf.constant(frames, tf.uint8), tf.constant(boxes, tf.int32), tf.constant(flips, tf.bool)
    )
    eager = model_input(windows, size, flow).numpy()
    compiled = tf.function(lambda w: model_input(w, size, flow), jit_compile=True)(windows)
    # XLA may fuse multiply-adds: a few float32 ulps (~1e-4 at 255) of difference.
    np.testing.assert_allclose(compiled.numpy(), eager, rtol=0, atol=1e-3)
    assert eager.dtype == np.float32
    return eager


def reference(frames, boxes, flips, size: int, flow: bool) -> np.ndarray:
    """tf.image.resize of each sliced crop, T frames stacked into channels: [B * V, S, S, T*c]."""
    out = []
    for b in range(boxes.shape[0]):
        stacked = np.concatenate(list(frames[b]), axis=-1)  # [H, W, T * c], channel t * c + ch
        for v in range(boxes.shape[1]):
            y, x, h, w = boxes[b, v]
            crop = tf.cast(stacked[y : y + h, x : x + w], tf.float32)
            view = tf.image.resize(crop, [size, size], method="bilinear").numpy()
            if flips[b, v]:
                view = view[:, ::-1]
                if flow:
                    view[..., 0::2] = 255.0 - view[..., 0::2]
            out.append(view)
    return np.stack(out)


def padded_frames(rng, batch, num_frames, height, width, channels, valid_hw):
    """Random uint8 frames, [B, T, H, W, c], with PAD outside the top-left valid_hw."""
    frames = np.full([batch, num_frames, height, width, channels], PAD, np.uint8)
    vh, vw = valid_hw
    frames[:, :, :vh, :vw] = rng.integers(0, 256, [batch, num_frames, vh, vw, channels])
    return frames


@pytest.mark.parametrize(("num_frames", "channels", "flow"), [(1, 3, False), (4, 1, True)])
def test_views_match_tf_image_resize_of_the_crop(num_frames, channels, flow):
    rng = np.random.default_rng(0)
    size = 8
    frames = padded_frames(rng, 2, num_frames, 24, 30, channels, valid_hw=(20, 26))
    boxes = np.array(
        [
            [[0, 0, 20, 26], [12, 18, 8, 8], [5, 21, 15, 5], [3, 2, 4, 6]],  # whole, edge corner
            [[17, 0, 3, 11], [0, 1, 13, 9], [9, 13, 11, 13], [19, 25, 1, 1]],  # 1 px at the edge
        ],
        np.int32,
    )  # heights and widths below, at and above S = 8; every box ends inside (20, 26)
    flips = np.array([[False, True, False, True], [True, False, True, False]])
    got = both(size, flow, frames, boxes, flips)
    np.testing.assert_allclose(got, reference(frames, boxes, flips, size, flow), atol=1e-3)


def test_a_crop_of_the_output_size_is_returned_exactly_and_reversed_when_flipped():
    # Pixel value = 10 * column + row, so the output names the source pixel it came from.
    rows, cols = np.meshgrid(np.arange(12), np.arange(20), indexing="ij")
    frame = (10 * cols + rows).astype(np.uint8)[None, None, :, :, None]  # [1, 1, 12, 20, 1]
    boxes = np.array([[[2, 5, 6, 6], [2, 5, 6, 6]]], np.int32)
    got = both(6, False, frame, boxes, np.array([[False, True]]))
    crop = frame[0, 0, 2:8, 5:11].astype(np.float32)
    np.testing.assert_array_equal(got[0], crop)
    np.testing.assert_array_equal(got[1], crop[:, ::-1])
    assert got[1, 0, :, 0].tolist() == [100 + 2, 90 + 2, 80 + 2, 70 + 2, 60 + 2, 50 + 2]


def test_mirror_flow_x_negates_only_x_channels_of_flipped_views():
    images = tf.constant(np.arange(2 * 1 * 1 * 4, dtype=np.float32).reshape(2, 1, 1, 4))
    got = mirror_flow_x(images, tf.constant([False, True])).numpy()
    assert got[0, 0, 0].tolist() == [0, 1, 2, 3]
    assert got[1, 0, 0].tolist() == [255 - 4, 5, 255 - 6, 7]
    compiled = tf.function(mirror_flow_x, jit_compile=True)(images, tf.constant([False, True]))
    np.testing.assert_array_equal(compiled.numpy(), got)


def test_flipped_flow_view_is_mirrored_with_x_negated():
    rng = np.random.default_rng(1)
    frames = padded_frames(rng, 1, 6, 16, 16, 1, valid_hw=(14, 15))  # L = 3: x0 y0 x1 y1 x2 y2
    boxes = np.array([[[1, 2, 13, 11], [1, 2, 13, 11]]], np.int32)
    plain, flipped = both(7, True, frames, boxes, np.array([[False, True]]))
    mirrored = plain[:, ::-1]
    np.testing.assert_allclose(flipped[..., 0::2], 255.0 - mirrored[..., 0::2], atol=1e-4)
    np.testing.assert_allclose(flipped[..., 1::2], mirrored[..., 1::2], atol=1e-4)
    # Not flipped: untouched, i.e. what the same frames give as RGB-like channels.
    as_images = both(7, False, frames, boxes[:, :1], np.array([[False]]))
    np.testing.assert_array_equal(plain, as_images[0])


def test_views_are_sample_major():
    # Sample b's frame is constant 100 * b plus 10 * column + row inside a 9 x 9 valid part.
    rows, cols = np.meshgrid(np.arange(9), np.arange(9), indexing="ij")
    base = 10 * cols + rows
    frames = np.full([2, 1, 10, 12, 1], PAD, np.uint8)
    frames[0, 0, :9, :9, 0] = base
    frames[1, 0, :9, :9, 0] = base + 100
    boxes = np.array(
        [[[0, 0, 3, 3], [1, 4, 3, 3], [6, 6, 3, 3]], [[0, 6, 3, 3], [3, 3, 3, 3], [6, 0, 3, 3]]],
        np.int32,
    )
    got = both(3, False, frames, boxes, np.zeros([2, 3], bool))
    assert got.shape == (6, 3, 3, 1)
    for b in range(2):
        for v in range(3):
            y, x, _, _ = boxes[b, v]
            assert got[b * 3 + v, 0, 0, 0] == 100 * b + 10 * x + y, (b, v)
            np.testing.assert_array_equal(
                got[b * 3 + v, ..., 0], frames[b, 0, y : y + 3, x : x + 3, 0]
            )


@pytest.mark.parametrize("mirrored", [False, True])
def test_compiles_inside_a_strategy_run(mirrored):
    strategy = (
        tf.distribute.MirroredStrategy(["/cpu:0"]) if mirrored else tf.distribute.get_strategy()
    )
    rng = np.random.default_rng(2)
    frames = padded_frames(rng, 2, 2, 12, 14, 1, valid_hw=(11, 13))
    boxes = np.array([[[0, 0, 11, 13]], [[2, 3, 6, 9]]], np.int32)
    flips = np.array([[True], [False]])
    windows = Windows(tf.constant(frames), tf.constant(boxes), tf.constant(flips))
    # As in training: batches from a distributed tf.data dataset, resampled in the replica step.
    batches = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(windows))
    resample = tf.function(lambda w: model_input(w, 5, True), jit_compile=True)

    @tf.function
    def step(w: Windows) -> tf.Tensor:
        return strategy.gather(strategy.run(resample, args=(w,)), axis=0)

    got = step(next(iter(batches))).numpy()
    np.testing.assert_allclose(got, reference(frames, boxes, flips, 5, True), atol=1e-3)


@pytest.mark.parametrize("size", [0, -3, 2.0, True])
def test_bad_size_is_named(size):
    windows = Windows(
        tf.zeros([1, 1, 4, 4, 3], tf.uint8),
        tf.zeros([1, 1, 4], tf.int32),
        tf.zeros([1, 1], tf.bool),
    )
    with pytest.raises(ValueError, match="size="):
        model_input(windows, size, False)


def test_flow_needs_channel_pairs():
    windows = Windows(
        tf.zeros([1, 1, 4, 4, 3], tf.uint8),
        tf.zeros([1, 1, 4], tf.int32),
        tf.zeros([1, 1], tf.bool),
    )
    with pytest.raises(ValueError, match="flow=True"):
        model_input(windows, 4, True)
