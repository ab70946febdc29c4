"""Tests of one sample's gather/decode steps on records written with painted frames."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    TEXTURED_VIEW_ATOL,
    independent_decode,
    reference_view,
    train_crop_shapes,
    tsn_crop_position,
)
from conftest import (
    eager_and_in_tf_data as both,
)

from input_pipeline import resample, samples
from tfrecords import schema, streams, testdata

H, W = 48, 64
SPEC = samples.SampleSpec(
    stream=streams.TEMPORAL,
    num_flow_frames=10,
    image_size=32,
    samples_per_video=4,
    crop_scales=(1.0, 0.875, 0.75, 0.66),
    max_scale_jitter=1,
    random_flip=True,
    dct_method="INTEGER_FAST",
    eval_crop_scale=0.875,
    eval_num_samples=3,
    eval_num_crops=10,
)
RGB_SPEC = dataclasses.replace(SPEC, stream=streams.SPATIAL)


def _pattern() -> np.ndarray:
    """uint8 [H, W]: 8x8 blocks whose value encodes (block row, block column); asymmetric."""
    rows, cols = np.mgrid[0:H, 0:W] // 8
    return (40 + 20 * rows + 3 * cols).astype(np.uint8)


def _video(num_frames: int, x: list[bytes] | None = None, y: list[bytes] | None = None):
    """RGB frame i painted 5i (grey); flow x_i painted i, y_i painted 200 - i, unless given."""
    rgb = [testdata.painted_jpeg(5 * i, H, W, 3) for i in range(num_frames)]
    x = x or [testdata.painted_jpeg(i, H, W, 1) for i in range(num_frames - 1)]
    y = y or [testdata.painted_jpeg(200 - i, H, W, 1) for i in range(num_frames - 1)]
    return testdata.make_video("v_A_g01_c01", 3, rgb, x, y, (H, W))


def _record(num_frames: int, x: list[bytes] | None = None, y: list[bytes] | None = None) -> bytes:
    """The flow record of `_video`."""
    return schema.encode_flow(_video(num_frames, x, y))


def _model_input(windows: resample.Windows, spec: samples.SampleSpec) -> np.ndarray:
    """One sample's Windows (no batch axis) through the device step: [V, S, S, C] float32."""
    batched = resample.Windows(*(t[tf.newaxis] for t in windows))
    return resample.model_input(batched, spec.image_size, spec.stream.flow).numpy()


def _decode_values(strings) -> np.ndarray:
    return np.array([tf.io.decode_jpeg(s)[0, 0, 0].numpy() for s in np.ravel(strings)])


def _textured_record(stream: streams.Stream, frame_hw: tuple[int, int], num_frames: int) -> bytes:
    """A whole-video record of `stream` whose frames all differ: `testdata.textured_jpeg` RGB
    frame i of phase i, flow x_i of phase i + 0.3 and y_i of phase i + 0.6."""
    rgb = [testdata.textured_jpeg(*frame_hw, 3, phase=i) for i in range(num_frames)]
    x = [testdata.textured_jpeg(*frame_hw, 1, phase=i + 0.3) for i in range(num_frames - 1)]
    y = [testdata.textured_jpeg(*frame_hw, 1, phase=i + 0.6) for i in range(num_frames - 1)]
    video = testdata.make_video("v_A_g01_c01", 3, rgb, x, y, frame_hw)
    return schema.encode_flow(video) if stream.flow else schema.encode_rgb_chunks(video, 1)[0]


def _independent_stack(frames: tuple[tf.Tensor, ...], spec: samples.SampleSpec) -> np.ndarray:
    """uint8 [H, W, T * c]: a sample's encoded frames (one string [length] per frame list)
    decoded by simplejpeg and stacked time-major (flow: x_0, y_0, x_1, ...)."""
    planes = [
        independent_decode(strings[t].numpy(), spec.frame_channels, spec.dct_method)
        for t in range(spec.length)
        for strings in frames
    ]
    return np.concatenate(planes, axis=-1)


def test_gather_train_takes_m_samples_of_l_consecutive_frames():
    record = _record(30)
    gathered = samples.gather_train(record, tf.constant([1, 2], tf.int64), SPEC)
    mapped = next(
        iter(
            tf.data.Dataset.from_tensors((record, tf.constant([1, 2], tf.int64))).map(
                lambda r, s: samples.gather_train(r, s, SPEC)
            )
        )
    )
    for a, b in zip(tf.nest.flatten(gathered), tf.nest.flatten(mapped), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x, y = gathered.frames
    assert x.shape == (4, 10) and y.shape == (4, 10)
    assert gathered.label.numpy().tolist() == [3] * 4 and gathered.seed.shape == (4, 2)
    values = _decode_values(x).reshape(4, 10)
    for row in values:  # 29 flow frames: start in [0, 19], consecutive
        assert 0 <= row[0] <= 19 and row.tolist() == list(range(row[0], row[0] + 10))
    np.testing.assert_array_equal(_decode_values(y).reshape(4, 10), 200 - values)


def _decode_train(sample, spec):
    """decode_train eagerly and in tf.data (equal), then the device step: [S, S, C]."""
    eager = samples.decode_train(sample, spec)
    mapped = next(
        iter(tf.data.Dataset.from_tensors(sample).map(lambda s: samples.decode_train(s, spec)))
    )
    for a, b in zip(tf.nest.flatten(eager), tf.nest.flatten(mapped), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    windows = eager[0]
    assert windows.frames.dtype == tf.uint8 and windows.frames.shape[0] == spec.train_frames
    assert windows.boxes.numpy().tolist() == [[0, 0, *windows.frames.shape[1:3]]]
    return _model_input(windows, spec)[0]


def test_one_crop_and_flip_for_all_channels_and_x_negated_on_flip():
    # Every x and y frame carries the same asymmetric pattern: crops and flips must match.
    frame = testdata.encode_jpeg(_pattern(), quality=100)
    record = _record(12, x=[frame] * 11, y=[frame] * 11)
    spec = dataclasses.replace(SPEC, image_size=24)
    first = samples.gather_train(record, tf.constant([0, 5], tf.int64), spec)
    _decode_train(samples.TrainSample(*(tf.nest.map_structure(lambda t: t[0], first))), spec)
    seeds = tf.data.Dataset.from_tensor_slices(tf.constant([[s, 5] for s in range(3)], tf.int64))
    windows = (
        seeds.map(lambda s: samples.gather_train(record, s, spec))
        .unbatch()
        .map(lambda sample: samples.decode_train(sample, spec)[0])
    )
    flips = set()
    for window in windows:
        image = _model_input(window, spec)[0]
        assert image.shape == (24, 24, 20) and image.dtype == np.float32
        xs, ys = image[..., 0::2], image[..., 1::2]
        np.testing.assert_array_equal(xs, np.repeat(xs[..., :1], 10, axis=-1))
        np.testing.assert_array_equal(ys, np.repeat(ys[..., :1], 10, axis=-1))
        flipped = not np.array_equal(xs, ys)
        if flipped:
            np.testing.assert_allclose(xs, 255.0 - ys, atol=1e-4)
            # y keeps the pattern mirrored: bright columns (high block index) now on the left.
            assert ys[:, 0].mean() > ys[:, -1].mean()
        else:
            assert ys[:, 0].mean() < ys[:, -1].mean()
        flips.add(flipped)
    assert flips == {True, False}


def test_rgb_sample_is_one_frame_in_rgb_order():
    red = testdata.encode_jpeg(np.tile(np.array([200, 30, 60], np.uint8), (H, W, 1)), quality=100)
    video = testdata.make_video("v_A_g01_c01", 1, [red] * 3, [red] * 2, [red] * 2, (H, W))
    sample = samples.gather_train(
        schema.encode_rgb_chunks(video, 1)[0], tf.constant([0, 1], tf.int64), RGB_SPEC
    )
    image = _decode_train(
        samples.TrainSample(*(tf.nest.map_structure(lambda t: t[0], sample))), RGB_SPEC
    )
    assert image.shape == (32, 32, 3)
    np.testing.assert_allclose(image.mean(axis=(0, 1)), [200, 30, 60], atol=3)


# Hand-derived eval views (crop side = floor(eval_crop_scale x short side); centre, TL, TR,
# BL, BR at 0, free // 2 or free = frame - side along each axis), then the same 5 mirrored.
EVAL_VIEWS = [
    # 256 x 340, 0.875: side 224, free 32 x 116 (UCF-101's frames, the paper's 224 views).
    (streams.TEMPORAL, (256, 340), 0.875, 224, [(16, 58), (0, 0), (0, 116), (32, 0), (32, 116)]),
    # 256 x 340, 0.66: side floor(168.96) = 168, free 88 x 172; upscaled to 224.
    (streams.SPATIAL, (256, 340), 0.66, 168, [(44, 86), (0, 0), (0, 172), (88, 0), (88, 172)]),
    # Portrait 341 x 257: the short side is the width, side floor(224.875) = 224; odd free
    # 117 x 33, so the centre rounds down.
    (streams.TEMPORAL, (341, 257), 0.875, 224, [(58, 16), (0, 0), (0, 33), (117, 0), (117, 33)]),
]


@pytest.mark.parametrize(
    ("stream", "frame_hw", "scale", "side", "corners"),
    EVAL_VIEWS,
    ids=["flow-256x340-0.875", "rgb-256x340-0.66", "flow-341x257-0.875"],
)
def test_eval_views_are_hand_derived_corners_centre_and_mirrors(
    stream, frame_hw, scale, side, corners
):
    spec = dataclasses.replace(
        SPEC, stream=stream, image_size=224, eval_num_samples=2, eval_crop_scale=scale
    )
    gathered = samples.gather_eval(_textured_record(stream, frame_hw, 5), spec)
    assert gathered.sample.numpy().tolist() == [0, 1]
    one = samples.EvalSample(*(tf.nest.map_structure(lambda t: t[1], gathered)))
    views = samples.decode_eval(one, spec)
    mapped = next(
        iter(tf.data.Dataset.from_tensors(one).map(lambda s: samples.decode_eval(s, spec)))
    )
    for a, b in zip(tf.nest.flatten(views), tf.nest.flatten(mapped), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    windows = views["windows"]
    # Whole frames, each decoded once.
    assert windows.frames.shape == (spec.num_frames, *frame_hw, spec.frame_channels)
    assert windows.boxes.numpy().tolist() == [[y, x, side, side] for y, x in corners * 2]
    assert windows.flips.numpy().tolist() == [False] * 5 + [True] * 5
    assert views["view"].numpy().tolist() == list(range(10, 20))
    assert views["video_id"].numpy().tolist() == [b"v_A_g01_c01"] * 10
    full = _independent_stack(one.frames, spec)
    images = _model_input(windows, spec)
    for image, (y, x), flip in zip(images, corners * 2, [False] * 5 + [True] * 5, strict=True):
        expected = reference_view(full, (y, x, side, side), flip, 224, stream.flow)
        np.testing.assert_allclose(image, expected, rtol=0, atol=TEXTURED_VIEW_ATOL)


def test_integer_fast_idct_is_within_a_level_or_two_of_accurate():
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.normal(0, 4, (256, 340, 3)), axis=1)
    frame = testdata.encode_jpeg(
        np.clip(smooth - smooth.min(axis=1, keepdims=True), 0, 255), quality=90
    )
    fast = tf.io.decode_jpeg(frame, dct_method="INTEGER_FAST").numpy().astype(int)
    accurate = tf.io.decode_jpeg(frame, dct_method="INTEGER_ACCURATE").numpy().astype(int)
    difference = np.abs(fast - accurate)
    assert difference.mean() < 1.5 and difference.max() <= 12


@pytest.mark.parametrize(
    ("stream", "frame_hw"),
    [(streams.TEMPORAL, (256, 340)), (streams.SPATIAL, (257, 341))],  # 257 x 341: odd free space
    ids=["flow-256x340", "rgb-257x341"],
)
def test_train_windows_are_hand_derived_corner_crops_resized_like_tf_image_resize(stream, frame_hw):
    """Each window is one of the hand-derived crops of the independently decoded frames; its
    device view is tf.image.resize of that crop, mirrored (flow: x negated) when flipped."""
    shapes = train_crop_shapes(min(frame_hw))
    spec = dataclasses.replace(SPEC, stream=stream, num_flow_frames=2, image_size=224)
    record = _textured_record(stream, frame_hw, 8)
    seeds = tf.data.Dataset.from_tensor_slices(tf.constant([[s, 9] for s in range(10)], tf.int64))
    pipeline = (
        seeds.map(lambda s: samples.gather_train(record, s, spec))
        .unbatch()
        .map(lambda sample: (sample.frames, samples.decode_train(sample, spec)[0]))
    )
    sizes, positions, flips = set(), set(), set()
    for strings, windows in pipeline:
        box = windows.boxes.numpy()[0].tolist()
        crop_hw = tuple(box[2:])
        assert box[:2] == [0, 0] and crop_hw in shapes
        full = _independent_stack(strings, spec)
        window = np.concatenate(list(windows.frames.numpy()), axis=-1)  # [h, w, T * c]
        names, offset = tsn_crop_position(full, window)
        flip = bool(windows.flips[0])
        expected = reference_view(full, (*offset, *crop_hw), flip, 224, stream.flow)
        view = _model_input(windows, spec)[0]
        np.testing.assert_allclose(view, expected, rtol=0, atol=TEXTURED_VIEW_ATOL)
        sizes.add(crop_hw)
        positions |= names
        flips.add(flip)
    assert flips == {True, False} and sizes == shapes and len(positions) == 5


def test_strided_chunks_sample_their_own_frames_and_eval_takes_each_sample_once():
    video = _video(30)
    records = schema.encode_rgb_chunks(video, 4)
    spec = dataclasses.replace(RGB_SPEC, samples_per_video=16, eval_num_samples=7)
    for j, record in enumerate(records):
        gathered = samples.gather_train(record, tf.constant([j, 1], tf.int64), spec)
        frames = _decode_values(gathered.frames[0]) // 5  # RGB frame i painted 5i
        assert set(frames.tolist()) <= set(range(j, 30, 4)) and len(set(frames.tolist())) > 1
    whole = samples.gather_eval(schema.encode_rgb_chunks(video, 1)[0], spec)
    expected = dict(
        zip(whole.sample.numpy().tolist(), _decode_values(whole.frames[0]) // 5, strict=True)
    )
    assert sorted(expected) == list(range(7))
    found = {}
    for record in records:
        part = samples.gather_eval(record, spec)
        values = _decode_values(part.frames[0]) // 5
        for k, frame in zip(part.sample.numpy().tolist(), values, strict=True):
            assert k not in found
            found[k] = frame
    assert found == expected  # every sample once, the same frame as from the whole video


def test_one_segment_is_todays_sampler_for_the_same_seed():
    # Starts and per-sample seeds recorded from the sampler before segments existed (main at
    # 6a0aeeb, this record and seed).
    gathered = samples.gather_train(_record(40), tf.constant([7, 11], tf.int64), SPEC)
    assert _decode_values(gathered.frames[0]).reshape(4, 10)[:, 0].tolist() == [16, 17, 5, 23]
    assert gathered.seed.numpy()[:, 0].tolist() == [
        -7084551898435024886,
        1034115822639266964,
        -3656613820346320952,
        -5196056211747833417,
    ]


def test_segments_take_one_stack_from_each_third_with_one_crop_and_flip():
    # 31 RGB frames -> 30 flow frames, L = 10: P = 21 starts, segments [0, 7), [7, 14), [14, 21).
    spec = dataclasses.replace(SPEC, num_segments=3, samples_per_video=64)
    record = _record(31)
    gathered = samples.gather_train(record, tf.constant([4, 2], tf.int64), spec)
    x, y = gathered.frames
    assert x.shape == (64, 30) and y.shape == (64, 30)
    values = _decode_values(x).reshape(64, 3, 10)
    np.testing.assert_array_equal(_decode_values(y).reshape(64, 3, 10), 200 - values)
    starts = values[:, :, 0]
    for k in range(3):
        assert set(starts[:, k].tolist()) == set(range(7 * k, 7 * k + 7))  # all, only these
    np.testing.assert_array_equal(values, starts[..., None] + np.arange(10))
    # decode_train: one window (one size, one box) and one flip for the 3 x 20 planes.
    example = samples.TrainSample(*(tf.nest.map_structure(lambda t: t[0], gathered)))
    windows, _ = samples.decode_train(example, spec)
    assert windows.frames.shape[0] == 60 and windows.flips.shape == (1,)
    planes = windows.frames.numpy()[:, 0, 0, 0].astype(int)
    expected = np.stack([values[0], 200 - values[0]], -1).reshape(60)  # x_0, y_0, x_1, ...
    np.testing.assert_allclose(planes, expected, atol=2)  # JPEG of a flat grey


def test_segments_of_a_strided_chunk_span_the_whole_video():
    # Chunk 1 of 2 of 50 RGB frames holds frames 1, 3, ..., 49 (25 positions): segments of
    # positions [0, 8), [8, 16), [16, 25), i.e. video frames 1..15, 17..31, 33..49.
    spec = dataclasses.replace(RGB_SPEC, num_segments=3, samples_per_video=64)
    record = schema.encode_rgb_chunks(_video(50), 2)[1]
    gathered = both(lambda r: samples.gather_train(r, tf.constant([0, 9], tf.int64), spec), record)
    frames = _decode_values(gathered.frames[0]).reshape(64, 3) // 5  # RGB frame i painted 5i
    for k, (first, last) in enumerate([(1, 15), (17, 31), (33, 49)]):
        assert set(frames[:, k].tolist()) == set(range(first, last + 1, 2))
