"""Known-answer tests of the device-side crop, mirror, bilinear resize and cast (resample.py).

Every check runs eagerly and compiled with XLA (`jit_compile=True`, as on a TPU) and the two
must agree; one runs inside a tf.distribute strategy's `run`. The reference is
`tf.image.resize` (bilinear, TF2 defaults) of the crop sliced with numpy (`reference_view`).
Padding is filled with 255, not zeros, so any read outside a box shows. The real-size tests
cut 168-256 px views of textured 256 x 340 frames and resize them to 224, as training and
evaluation do, with a tolerance from the measured error (conftest.py).
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import ANY_VIEW_ATOL, TEXTURED_VIEW_ATOL, reference_view

from input_pipeline.resample import Windows, fold_segments, mirror_flow_x, model_input
from tfrecords import testdata

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
    """`reference_view` of every box, T frames stacked into channels: [B * V, S, S, T * c]."""
    out = []
    for b in range(boxes.shape[0]):
        stacked = np.concatenate(list(frames[b]), axis=-1)  # [H, W, T * c], channel t * c + ch
        out.extend(
            reference_view(stacked, box, flip, size, flow)
            for box, flip in zip(boxes[b], flips[b], strict=True)
        )
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


# Real sizes: UCF-101's 256 x 340 frames inside a larger buffer filled with PAD, views of
# 168-256 px (square and not, at corners, the centre and odd offsets) resized to S = 224.
REAL_FRAME_HW = (256, 340)
REAL_BUFFER_HW = (264, 352)
REAL_SIZE = 224
REAL_BOXES = np.array(
    [
        [[0, 0, 256, 256], [16, 58, 224, 224], [88, 172, 168, 168], [32, 84, 224, 256]],
        [[7, 3, 249, 230], [13, 101, 168, 192], [64, 116, 192, 224], [40, 148, 216, 192]],
    ],
    np.int32,
)
REAL_FLIPS = np.array([[False, True, False, True], [True, False, True, False]])


@pytest.fixture(
    scope="module",
    params=[(1, 3, False, False), (20, 1, True, False), (20, 1, True, True)],
    ids=["rgb", "flow", "flow-noise"],
)
def real_size(request) -> dict:
    """Real-size frames and their views: the frames, 'flow', 'atol', and the views 'eager',
    'xla' (model_input compiled with jit_compile=True) and 'expected' (`reference`), float32
    [8, 224, 224, T * c]. Frames are `testdata.textured`, or uniform noise (the largest steps
    between neighbours, so the largest float error) with `ANY_VIEW_ATOL`."""
    num_frames, channels, flow, noise = request.param
    shape = [2, num_frames, *REAL_FRAME_HW, channels]
    if noise:
        content = np.random.default_rng(4).integers(0, 256, shape, np.uint8)
    else:
        content = np.array(
            [
                [
                    testdata.textured(*REAL_FRAME_HW, channels, phase=b + 0.7 * t)
                    for t in range(num_frames)
                ]
                for b in range(2)
            ]
        )
    frames = np.full([2, num_frames, *REAL_BUFFER_HW, channels], PAD, np.uint8)
    frames[:, :, : REAL_FRAME_HW[0], : REAL_FRAME_HW[1]] = content
    windows = Windows(
        tf.constant(frames), tf.constant(REAL_BOXES), tf.constant(REAL_FLIPS, tf.bool)
    )
    compiled = tf.function(lambda w: model_input(w, REAL_SIZE, flow), jit_compile=True)
    return {
        "frames": frames,
        "flow": flow,
        "atol": ANY_VIEW_ATOL if noise else TEXTURED_VIEW_ATOL,
        "eager": model_input(windows, REAL_SIZE, flow).numpy(),
        "xla": compiled(windows).numpy(),
        "expected": reference(frames, REAL_BOXES, REAL_FLIPS, REAL_SIZE, flow),
    }


@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_real_size_views_match_tf_image_resize_of_the_numpy_crop(real_size, mode):
    difference = np.abs(real_size[mode] - real_size["expected"])
    assert difference.max() <= real_size["atol"]


@pytest.mark.parametrize(
    "error", [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)], ids=["y", "x", "h", "w"]
)
def test_a_one_pixel_box_error_is_far_outside_the_real_size_tolerance(real_size, error):
    """Every view of a box one pixel off (offset or size) misses by 1000 x the tolerance."""
    wrong = reference(
        real_size["frames"], REAL_BOXES + np.int32(error), REAL_FLIPS, REAL_SIZE, real_size["flow"]
    )
    per_view = np.abs(real_size["eager"] - wrong).max(axis=(1, 2, 3))
    assert per_view.min() > 1000 * real_size["atol"]


def test_fold_segments_makes_each_snippet_a_sample_of_its_examples_view():
    # 2 examples of K = 3 snippets of T = 2 frames: frame (b, k, t) is painted 100b + 10k + t.
    values = np.arange(2)[:, None, None] * 100 + np.arange(3)[None, :, None] * 10 + np.arange(2)
    frames = np.broadcast_to(values.reshape(2, 6, 1, 1, 1), (2, 6, 4, 5, 1)).astype(np.uint8)
    boxes = np.array([[[0, 0, 4, 5]], [[1, 2, 3, 3]]], np.int32)
    flips = np.array([[False], [True]])
    folded = fold_segments(Windows(tf.constant(frames), tf.constant(boxes), flips), 3)
    assert folded.frames.shape == (6, 2, 4, 5, 1)
    for b in range(2):
        for k in range(3):
            row = b * 3 + k
            assert folded.frames.numpy()[row, :, 0, 0, 0].tolist() == [
                100 * b + 10 * k,
                100 * b + 10 * k + 1,
            ]
            assert folded.boxes.numpy()[row].tolist() == boxes[b].tolist()
            assert folded.flips.numpy()[row].tolist() == flips[b].tolist()
    with pytest.raises(ValueError, match="num_segments=4"):
        fold_segments(Windows(tf.constant(frames), tf.constant(boxes), flips), 4)
