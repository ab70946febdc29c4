"""Known-answer tests of multi-scale corner crops, eval views, flips and resizing."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import eager_and_in_tf_data as both

from input_pipeline import crops
from tfrecords import testdata

SCALES = (1.0, 0.875, 0.75, 0.66)


def test_crop_sizes_of_a_256_short_side():
    assert both(lambda s: crops.crop_sizes(s, SCALES), tf.constant(256)).tolist() == [
        256,
        224,
        192,
        168,
    ]


def test_random_crops_are_corner_or_centre_multi_scale_crops():
    frame_hw = tf.constant([256, 340])
    sizes = [256, 224, 192, 168]

    def draw(seed):
        return crops.random_crop_params(frame_hw, SCALES, 1, True, seed)

    both(draw, tf.constant([4, 2], tf.int64))
    seeds = tf.data.Dataset.from_tensor_slices(tf.constant([[s, 3] for s in range(300)], tf.int64))
    params = [tuple(np.asarray(p).item() for p in params) for params in seeds.map(draw)]
    pairs, positions, flips = set(), set(), 0
    for oy, ox, h, w, flip in params:
        i, j = sizes.index(h), sizes.index(w)
        assert abs(i - j) <= 1
        pairs.add((i, j))
        free_y, free_x = 256 - h, 340 - w
        corners = {(0, 0): "tl", (0, free_x): "tr", (free_y, 0): "bl", (free_y, free_x): "br"}
        position = corners.get((oy, ox))
        if position is None:
            assert (oy, ox) == (free_y // 2, free_x // 2)
            position = "centre"
        positions.add(position)
        flips += flip
    assert len(pairs) == 10  # every pair at most one scale step apart
    assert positions == {"tl", "tr", "bl", "br", "centre"}
    assert 100 < flips < 200


def test_no_flip_when_random_flip_is_off():
    flips = [
        bool(crops.random_crop_params([256, 340], SCALES, 1, False, tf.constant([s, 0])).flip)
        for s in range(20)
    ]
    assert not any(flips)


def test_ten_eval_views_are_corners_centre_and_mirrors():
    params = both(lambda hw: crops.eval_crop_params(hw, 0.875, 10), tf.constant([256, 340]))
    corners = [(16, 58), (0, 0), (0, 116), (32, 0), (32, 116)]  # centre, TL, TR, BL, BR
    assert list(zip(params.offset_y.tolist(), params.offset_x.tolist(), strict=True)) == corners * 2
    assert params.height.tolist() == [224] * 10 and params.width.tolist() == [224] * 10
    assert params.flip.tolist() == [False] * 5 + [True] * 5


def test_one_and_five_eval_views():
    one = crops.eval_crop_params([256, 340], 0.875, 1)
    assert (int(one.offset_y[0]), int(one.offset_x[0]), bool(one.flip[0])) == (16, 58, False)
    five = crops.eval_crop_params([256, 340], 0.875, 5)
    assert not np.any(five.flip.numpy()) and len(five.flip) == 5


def test_other_view_counts_are_rejected():
    with pytest.raises(ValueError, match="eval_num_crops=3"):
        crops.eval_crop_params([256, 340], 0.875, 3)


def test_decode_crop_equals_crop_of_full_decode():
    rng = np.random.default_rng(0)
    gray = testdata.encode_jpeg(rng.integers(0, 255, (48, 64), dtype=np.uint8))
    colour = testdata.encode_jpeg(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    params = crops.CropParams(*(tf.constant(v) for v in (5, 7, 30, 33)), tf.constant(False))
    for encoded, channels in ((gray, 1), (colour, 3)):
        window = both(
            lambda e, c=channels: crops.decode_crop(e, params, c, "INTEGER_FAST"), encoded
        )
        full = tf.io.decode_jpeg(encoded, channels=channels, dct_method="INTEGER_FAST").numpy()
        expected = full[5:35, 7:40]
        if channels == 1:  # grayscale: bit-exact
            np.testing.assert_array_equal(window, expected)
        else:  # colour: only the last column differs (chroma upsampling at the window edge)
            np.testing.assert_array_equal(window[:, :-1], expected[:, :-1])


def test_max_window_side_bounds_every_training_window():
    assert crops.max_window_side([256, 340], (1.0, 0.875, 0.75, 0.66)) == 256
    assert crops.max_window_side([240, 320], (0.875, 0.75)) == 210
    # Frames of several sizes: the bound is the largest short side any of them can have.
    side = crops.max_window_side([300, 340], (1.0, 0.875))
    for frame_hw in ([256, 340], [300, 200], [300, 340]):
        for seed in range(50):
            params = crops.random_crop_params(frame_hw, (1.0, 0.875), 1, True, [seed, 0])
            assert int(params.height) <= side and int(params.width) <= side
