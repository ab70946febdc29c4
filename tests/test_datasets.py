"""End-to-end tests of train_dataset / eval_dataset on small generated data directories.

Painted (flat) frames make sampled frame indices readable from a pixel; textured frames
(`testdata.textured_jpeg`) at real sizes check crop boxes and the resize against frames
decoded by another decoder (simplejpeg), cut with numpy and resized with tf.image.resize.
"""

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

from configs import base
from input_pipeline import datasets, resample, samples
from tfrecords import manifest as manifest_lib
from tfrecords import testdata

H, W = 48, 64
BAD = b"not a jpeg"


def _video(index: int, num_frames: int, label: int, keep=None):
    """RGB frame i painted (16 (i // 16), 16 (i % 16), 0); flow x_i = i, y_i = 255 - i (mod 256).

    Frames whose index is not in `keep` (when given) are not JPEGs: decoding one fails.
    """

    def frame(i, build):
        return build(i) if keep is None or i in keep else BAD

    def rgb(i):
        pixels = np.zeros([H, W, 3], np.uint8)
        pixels[..., 0], pixels[..., 1] = 16 * (i // 16 % 16), 16 * (i % 16)
        return testdata.encode_jpeg(pixels, quality=100)

    return testdata.make_video(
        f"v_C{label}_g{index + 1:02d}_c01",
        label,
        [frame(i, rgb) for i in range(num_frames)],
        [
            frame(i, lambda i: testdata.painted_jpeg(i % 256, H, W, 1))
            for i in range(num_frames - 1)
        ],
        [
            frame(i, lambda i: testdata.painted_jpeg(255 - i % 256, H, W, 1))
            for i in range(num_frames - 1)
        ],
        (H, W),
    )


def _rgb_index(pixel: np.ndarray) -> int:
    return int(round(pixel[0] / 16) * 16 + round(pixel[1] / 16))


def _images(windows: resample.Windows, config) -> np.ndarray:
    """The device step on a batch of windows: float32 [b x V, S, S, C]."""
    flow = config.stream == "temporal"
    return resample.model_input(windows, config.data.image_size, flow).numpy()


def _train_batch(config, data_dir: str, batch_size: int, context=None):
    """First (images [b, S, S, C] float32, labels [b]) of train_dataset after the device step."""
    windows, labels = next(iter(datasets.train_dataset(config, data_dir, batch_size, context)))
    return _images(windows, config), labels.numpy()


def _eval_views(config, data_dir: str, subset: str = "test"):
    """Every view of an eval pass: (images [N, S, S, C], {'video_id', 'view', 'label'} [N])."""
    images, meta = [], {samples.VIDEO_ID: [], samples.VIEW: [], samples.LABEL: []}
    for batch in datasets.eval_dataset(config, data_dir, subset):
        images.append(_images(batch[samples.WINDOWS], config))
        for key, values in meta.items():
            values.extend(np.ravel(batch[key].numpy()).tolist())
    return np.concatenate(images), meta


def _config(stream: str, **data):
    config = base.get_config()
    config.stream = stream
    config.data.image_size = 24
    config.data.eval_num_samples = 4
    config.data.shuffle_buffer = 16
    config.data.train_samples_per_video = 2
    config.data.deterministic = True
    config.data.update(data)
    return config


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data"))
    train = [_video(i, 20 + 10 * i, i % 3) for i in range(4)]
    test = [_video(i, n, i % 3) for i, n in enumerate([3, 30, 57])]
    testdata.write_data_dir(
        path,
        {"train": train, "test": test},
        num_classes=3,
        num_shards=2,
        rgb_chunks={"train": 3},
    )
    return path


def test_spatial_train_batches_hold_sampled_rgb_frames(data_dir):
    config = _config("spatial")
    dataset = datasets.train_dataset(config, data_dir, 8)
    side = 48  # the largest crop side on 48x64 frames: uint8 windows padded to it
    assert dataset.element_spec == (
        resample.Windows(
            tf.TensorSpec([8, 1, side, side, 3], tf.uint8),
            tf.TensorSpec([8, 1, 4], tf.int32),
            tf.TensorSpec([8, 1], tf.bool),
        ),
        tf.TensorSpec([8], tf.int32),
    )
    for windows, labels in dataset.take(3):
        for image, label in zip(_images(windows, config), labels.numpy(), strict=True):
            assert 0 <= _rgb_index(image[12, 12]) < 50 and 0 <= label < 3
            np.testing.assert_allclose(image, np.broadcast_to(image[:1, :1], image.shape), atol=2)


def test_temporal_train_samples_are_l_consecutive_flow_frames(data_dir):
    config = _config("temporal")
    dataset = datasets.train_dataset(config, data_dir, 8)
    assert dataset.element_spec[0].frames == tf.TensorSpec([8, 20, 48, 48, 1], tf.uint8)
    flips = set()
    for windows, _ in dataset.take(4):
        for image in _images(windows, config):
            x, y = np.round(image[0, 0, 0::2]), np.round(image[0, 0, 1::2])
            expected = 255 - y[0] + np.arange(10)  # y_i = 255 - i
            flipped = x[0] != expected[0]
            np.testing.assert_array_equal(x, 255 - expected if flipped else expected)
            np.testing.assert_array_equal(y, 255 - expected)  # y is never negated
            flips.add(bool(flipped))
    assert flips == {True, False}


def test_segment_examples_hold_three_rgb_snippets_in_time_order(data_dir):
    # Train videos of 20..50 frames in 3 strided chunks: K = 3 snippets per example, one
    # window (the same padded buffer), snippet k from the k-th third of its chunk.
    config = _config("spatial", num_segments=3)
    dataset = datasets.train_dataset(config, data_dir, 8)
    assert dataset.element_spec[0].frames == tf.TensorSpec([8, 3, 48, 48, 3], tf.uint8)
    for windows, _ in dataset.take(3):
        images = _images(resample.fold_segments(windows, 3), config)
        for example in images.reshape(8, 3, *images.shape[1:]):
            indices = [_rgb_index(image[12, 12]) for image in example]
            assert indices[0] < indices[1] < indices[2], indices


def test_three_frame_video_loops_in_a_flow_stack(tmp_path):
    testdata.write_data_dir(str(tmp_path), {"train": [_video(0, 3, 0)]}, num_classes=1)
    config = _config("temporal", random_flip=False)
    images, _ = _train_batch(config, str(tmp_path), 2)
    for image in images:  # 2 flow frames: 0 1 0 1 ... or 1 0 1 0 ...
        x = np.round(image[0, 0, 0::2])
        assert x.tolist() in ([0, 1] * 5, [1, 0] * 5)


@pytest.mark.parametrize(("stream", "crops"), [("spatial", 10), ("temporal", 10), ("temporal", 1)])
def test_eval_pass_yields_every_view_of_every_video_once(data_dir, stream, crops):
    config = _config(stream, eval_num_crops=crops)
    config.eval.batch_size = 7 * crops  # 7 samples a batch
    images, views = _eval_views(config, data_dir)
    assert images.shape[1:] == (24, 24, 3 if stream == "spatial" else 20)
    per_video = 4 * crops
    assert len(views[samples.VIDEO_ID]) == 3 * per_video
    ids = [f"v_C{i % 3}_g{i + 1:02d}_c01".encode() for i in range(3)]
    # Shards hold videos 0, 2 and 1 (round-robin over 2 shards), read in parallel and
    # deterministically; each video's views are contiguous and complete.
    runs = [views[samples.VIDEO_ID][i * per_video : (i + 1) * per_video] for i in range(3)]
    assert sorted(run[0] for run in runs) == sorted(ids)
    for i, run in enumerate(runs):
        assert run == [run[0]] * per_video
        assert views[samples.VIEW][i * per_video : (i + 1) * per_video] == list(range(per_video))
        assert views[samples.LABEL][i * per_video] == ids.index(run[0]) % 3


def test_eval_samples_are_uniformly_spaced_and_loop(data_dir):
    config = _config("spatial", eval_num_crops=1)
    frames = {}
    images, views = _eval_views(config, data_dir)
    for video_id, image in zip(views[samples.VIDEO_ID], images, strict=True):
        frames.setdefault(video_id, []).append(_rgb_index(image[12, 12]))
    assert frames[b"v_C0_g01_c01"] == [0, 1, 1, 2]  # 3 frames, 4 samples: floor((2k+1)3/8)
    assert frames[b"v_C1_g02_c01"] == [3, 11, 18, 26]  # 30 frames
    temporal = _config("temporal", eval_num_crops=1, random_flip=False)
    images, views = _eval_views(temporal, data_dir)
    for video_id, image in zip(views[samples.VIDEO_ID], images, strict=True):
        if video_id == b"v_C0_g01_c01":  # 2 flow frames, L = 10: loops from 0
            assert np.round(image[0, 0, 0::2]).tolist() == [0, 1] * 5


def test_chunked_training_subset_evaluates_every_view_once_as_whole_videos_do(data_dir):
    """Strided RGB chunks (train subset, K = 3) give the same views as whole-video records."""
    config = _config("spatial", eval_num_crops=5)
    chunked_images, chunked = _eval_views(config, data_dir, "train")
    whole_dir = data_dir + "_whole"
    train = [_video(i, 20 + 10 * i, i % 3) for i in range(4)]
    testdata.write_data_dir(whole_dir, {"train": train}, num_classes=3, num_shards=2)
    whole_images, whole = _eval_views(config, whole_dir, "train")

    def by_view(images, meta):
        keys = list(zip(meta[samples.VIDEO_ID], meta[samples.VIEW], strict=True))
        assert len(set(keys)) == len(keys) == 4 * 4 * 5  # 4 videos x K = 4 x 5 crops
        return dict(zip(keys, images, strict=True))

    chunked_views, whole_views = by_view(chunked_images, chunked), by_view(whole_images, whole)
    assert chunked_views.keys() == whole_views.keys()
    for key, image in whole_views.items():
        np.testing.assert_array_equal(chunked_views[key], image)


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_only_sampled_frames_are_decoded(tmp_path, stream):
    """Unsampled frames of a long video are not JPEGs: any decode of them would fail."""
    config = _config(stream, shuffle_buffer=1)
    valid = str(tmp_path / "valid")
    testdata.write_data_dir(valid, {"train": [_video(0, 250, 0)]}, num_classes=1)
    images, _ = _train_batch(config, valid, 2)
    if stream == "spatial":
        used = {_rgb_index(image[12, 12]) for image in images}
    else:
        used = set()
        for image in images:  # y_i = 255 - i is never negated
            used |= set((255 - np.round(image[0, 0, 1::2])).astype(int).tolist())
    corrupt = str(tmp_path / "corrupt")
    testdata.write_data_dir(corrupt, {"train": [_video(0, 250, 0, keep=used)]}, num_classes=1)
    again, _ = _train_batch(config, corrupt, 2)
    np.testing.assert_array_equal(again, images)
    # Eval: a 1,000-frame video of which only the sampled frames are JPEGs. K = 4 starts
    # floor((2k + 1) P / 8) with P = 1000 RGB starts, or 999 - 10 + 1 = 990 flow starts.
    flow_starts = [(2 * k + 1) * 990 // 8 for k in range(4)]
    keep = {s + t for s in flow_starts for t in range(10)} | {
        (2 * k + 1) * 1000 // 8 for k in range(4)
    }
    testdata.write_data_dir(corrupt, {"test": [_video(0, 1000, 0, keep=keep)]}, num_classes=1)
    images, _ = _eval_views(config, corrupt)
    assert len(images) == 4 * 10


# Textured videos (`testdata.textured_jpeg`; every frame of a video the same, x and y planes
# different): UCF-101's 256 x 340, and 241 x 321 (odd free space around a crop), which eval
# pads to 256 x 340.
TEXTURED = {
    "v_C0_g01_c01": ((256, 340), 0),
    "v_C1_g02_c01": ((241, 321), 1),
}


def _textured_frames(video_id: str) -> dict[str, bytes]:
    """The JPEG bytes of `video_id`'s RGB frame and flow x and y frames, phases from its label."""
    frame_hw, label = TEXTURED[video_id]
    return {
        "rgb": testdata.textured_jpeg(*frame_hw, 3, phase=label),
        "x": testdata.textured_jpeg(*frame_hw, 1, phase=label + 0.3),
        "y": testdata.textured_jpeg(*frame_hw, 1, phase=label + 0.6),
    }


def _independent_stack(video_id: str, config) -> np.ndarray:
    """uint8 [H, W, C]: a sample of `video_id` decoded by simplejpeg (RGB, or L x (x, y))."""
    frames = _textured_frames(video_id)
    dct = config.data.jpeg_dct_method
    if config.stream == "spatial":
        return independent_decode(frames["rgb"], 3, dct)
    planes = [independent_decode(frames[axis], 1, dct) for axis in ("x", "y")]
    return np.concatenate(planes * config.data.num_flow_frames, axis=-1)


@pytest.fixture(scope="module")
def textured_dir(tmp_path_factory):
    """Train: the 256 x 340 video; test: both `TEXTURED` videos (6 frames each)."""
    path = str(tmp_path_factory.mktemp("textured"))
    videos = []
    for video_id, (frame_hw, label) in TEXTURED.items():
        frames = _textured_frames(video_id)
        videos.append(
            testdata.make_video(
                video_id, label, [frames["rgb"]] * 6, [frames["x"]] * 5, [frames["y"]] * 5, frame_hw
            )
        )
    testdata.write_data_dir(path, {"train": videos[:1], "test": videos}, num_classes=2)
    return path


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_train_windows_are_hand_derived_crops_resized_like_tf_image_resize(textured_dir, stream):
    """Each padded window is a TSN crop of the independently decoded frame, zeros around it;
    its device view is tf.image.resize of that crop (mirrored, flow x negated, when flipped)."""
    config = _config(stream, image_size=224)
    full = _independent_stack("v_C0_g01_c01", config)
    windows, _ = next(iter(datasets.train_dataset(config, textured_dir, 8)))
    images = _images(windows, config)
    for frames, box, flip, image in zip(
        windows.frames.numpy(),
        windows.boxes.numpy()[:, 0],
        windows.flips.numpy()[:, 0],
        images,
        strict=True,
    ):
        stacked = np.concatenate(list(frames), axis=-1)  # [side, side, C]
        h, w = box[2:]
        assert box[:2].tolist() == [0, 0] and (h, w) in train_crop_shapes(256)
        assert not stacked[h:].any() and not stacked[:, w:].any()  # zero padding
        _, offset = tsn_crop_position(full, stacked[:h, :w])
        expected = reference_view(full, (*offset, h, w), flip, 224, config.stream == "temporal")
        np.testing.assert_allclose(image, expected, rtol=0, atol=TEXTURED_VIEW_ATOL)


# Hand-derived eval boxes: side floor(0.875 x short side) (241 x 0.875 = 210.875), then
# centre, TL, TR, BL, BR at rows and columns 0, free // 2 or free (free = frame - side); the
# same 5 mirrored.
EVAL_BOXES = {
    b"v_C0_g01_c01": [[16, 58], [0, 0], [0, 116], [32, 0], [32, 116]],  # 224, free 32 x 116
    b"v_C1_g02_c01": [[15, 55], [0, 0], [0, 111], [31, 0], [31, 111]],  # 210, free 31 x 111
}
EVAL_SIDES = {b"v_C0_g01_c01": 224, b"v_C1_g02_c01": 210}


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_eval_views_are_hand_derived_boxes_resized_like_tf_image_resize(textured_dir, stream):
    """Frames padded to the largest (256 x 340) keep their boxes inside them; each view is
    tf.image.resize of the box of the independently decoded frame, mirrored in views 5-9."""
    config = _config(stream, image_size=224, eval_num_samples=1)
    config.eval.batch_size = 20  # both videos' 10 views in one batch
    (batch,) = list(datasets.eval_dataset(config, textured_dir, "test"))
    windows = batch[samples.WINDOWS]
    assert windows.frames.shape[2:4] == (256, 340)
    images = _images(windows, config).reshape(2, 10, 224, 224, -1)
    flips = [False] * 5 + [True] * 5
    for video_id, frames, boxes, views, sample_flips in zip(
        batch[samples.VIDEO_ID].numpy()[:, 0],
        windows.frames.numpy(),
        windows.boxes.numpy(),
        images,
        windows.flips.numpy(),
        strict=True,
    ):
        side = EVAL_SIDES[video_id]
        assert boxes.tolist() == [[y, x, side, side] for y, x in EVAL_BOXES[video_id] * 2]
        assert sample_flips.tolist() == flips
        full = _independent_stack(video_id.decode(), config)
        stacked = np.concatenate(list(frames), axis=-1)
        np.testing.assert_array_equal(stacked[: full.shape[0], : full.shape[1]], full)
        assert not stacked[full.shape[0] :].any() and not stacked[:, full.shape[1] :].any()
        for view, box, flip in zip(views, boxes, flips, strict=True):
            expected = reference_view(full, box, flip, 224, config.stream == "temporal")
            np.testing.assert_allclose(view, expected, rtol=0, atol=TEXTURED_VIEW_ATOL)


def test_input_context_shards_files_and_sizes_replica_batches(data_dir):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=4
    )
    shard_1 = {1, 3}  # flow: videos 1 and 3 (labels 1 and 0), 30 and 50 frames
    images, labels = _train_batch(_config("temporal"), data_dir, 16, context)
    assert images.shape[0] == 4
    assert set(labels.tolist()) <= {v % 3 for v in shard_1}
    three = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=0)
    with pytest.raises(ValueError, match="2 train shards cannot feed 3 input pipelines"):
        datasets.train_dataset(_config("spatial"), data_dir, 16, three)


def test_deterministic_runs_repeat_exactly(data_dir):
    config = _config("temporal")
    first = list(datasets.train_dataset(config, data_dir, 4).take(2).as_numpy_iterator())
    second = list(datasets.train_dataset(config, data_dir, 4).take(2).as_numpy_iterator())
    for a, b in zip(tf.nest.flatten(first), tf.nest.flatten(second), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("stream", "audio", "config.stream='audio'"),
        ("data.eval_num_crops", 4, "config.data.eval_num_crops=4"),
        ("data.crop_scales", (1.0, 1.5), "config.data.crop_scales=1.5"),
        ("data.jpeg_dct_method", "FAST", "config.data.jpeg_dct_method='FAST'"),
        ("data.service_processing_mode", "epoch", "config.data.service_processing_mode"),
        ("data.service_compression", "zstd", "config.data.service_compression='zstd'"),
        ("data.train_samples_per_video", 0, "config.data.train_samples_per_video=0"),
        ("data.num_segments", 0, "config.data.num_segments=0"),
    ],
)
def test_bad_config_values_are_named(data_dir, key, value, message):
    config = _config("spatial")
    if key == "stream":
        config.stream = value
    else:
        config.data[key.split(".")[1]] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        datasets.train_dataset(config, data_dir, 8)


def test_missing_manifest_and_subset_are_reported(tmp_path, data_dir):
    with pytest.raises(manifest_lib.ManifestError, match="manifest.json: not found"):
        datasets.train_dataset(_config("spatial"), str(tmp_path), 8)
    with pytest.raises(manifest_lib.ManifestError, match="no 'validation' rgb shards"):
        datasets.eval_dataset(_config("spatial"), data_dir, "validation")
