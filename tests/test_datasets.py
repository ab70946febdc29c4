"""End-to-end tests of train_dataset / eval_dataset on small painted data directories."""

import numpy as np
import pytest
import tensorflow as tf

from configs import base
from input_pipeline import datasets, testdata
from tfrecords import manifest as manifest_lib

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
    testdata.write_data_dir(path, {"train": train, "test": test}, num_classes=3, num_shards=2)
    return path


def test_spatial_train_batches_hold_sampled_rgb_frames(data_dir):
    dataset = datasets.train_dataset(_config("spatial"), data_dir, 8)
    assert dataset.element_spec == (
        tf.TensorSpec([8, 24, 24, 3], tf.float32),
        tf.TensorSpec([8], tf.int32),
    )
    for images, labels in dataset.take(3).as_numpy_iterator():
        for image, label in zip(images, labels, strict=True):
            assert 0 <= _rgb_index(image[12, 12]) < 50 and 0 <= label < 3
            np.testing.assert_allclose(image, np.broadcast_to(image[:1, :1], image.shape), atol=2)


def test_temporal_train_samples_are_l_consecutive_flow_frames(data_dir):
    dataset = datasets.train_dataset(_config("temporal"), data_dir, 8)
    assert dataset.element_spec[0] == tf.TensorSpec([8, 24, 24, 20], tf.float32)
    flips = set()
    for images, _ in dataset.take(4).as_numpy_iterator():
        for image in images:
            x, y = np.round(image[0, 0, 0::2]), np.round(image[0, 0, 1::2])
            expected = 255 - y[0] + np.arange(10)  # y_i = 255 - i
            flipped = x[0] != expected[0]
            np.testing.assert_array_equal(x, 255 - expected if flipped else expected)
            np.testing.assert_array_equal(y, 255 - expected)  # y is never negated
            flips.add(bool(flipped))
    assert flips == {True, False}


def test_three_frame_video_loops_in_a_flow_stack(tmp_path):
    testdata.write_data_dir(str(tmp_path), {"train": [_video(0, 3, 0)]}, num_classes=1)
    config = _config("temporal", random_flip=False)
    images, _ = next(iter(datasets.train_dataset(config, str(tmp_path), 2)))
    for image in images.numpy():  # 2 flow frames: 0 1 0 1 ... or 1 0 1 0 ...
        x = np.round(image[0, 0, 0::2])
        assert x.tolist() in ([0, 1] * 5, [1, 0] * 5)


@pytest.mark.parametrize(("stream", "crops"), [("spatial", 10), ("temporal", 10), ("temporal", 1)])
def test_eval_pass_yields_every_view_of_every_video_once(data_dir, stream, crops):
    config = _config(stream, eval_num_crops=crops)
    views = {"video_id": [], "view": [], "label": []}
    for batch in datasets.eval_dataset(config, data_dir, "test", 7).as_numpy_iterator():
        assert batch["image"].shape[1:] == (24, 24, 3 if stream == "spatial" else 20)
        for key, values in views.items():
            values.extend(batch[key].tolist())
    per_video = 4 * crops
    assert len(views["video_id"]) == 3 * per_video
    ids = [f"v_C{i % 3}_g{i + 1:02d}_c01".encode() for i in range(3)]
    # Shards hold videos 0, 2 and 1 (round-robin over 2 shards), read in parallel and
    # deterministically; each video's views are contiguous and complete.
    runs = [views["video_id"][i * per_video : (i + 1) * per_video] for i in range(3)]
    assert sorted(run[0] for run in runs) == sorted(ids)
    for i, run in enumerate(runs):
        assert run == [run[0]] * per_video
        assert views["view"][i * per_video : (i + 1) * per_video] == list(range(per_video))
        assert views["label"][i * per_video] == ids.index(run[0]) % 3


def test_eval_samples_are_uniformly_spaced_and_loop(data_dir):
    config = _config("spatial", eval_num_crops=1)
    frames = {}
    for batch in datasets.eval_dataset(config, data_dir, "test", 100).as_numpy_iterator():
        for video_id, image in zip(batch["video_id"], batch["image"], strict=True):
            frames.setdefault(video_id, []).append(_rgb_index(image[12, 12]))
    assert frames[b"v_C0_g01_c01"] == [0, 1, 1, 2]  # 3 frames, 4 samples: floor((2k+1)3/8)
    assert frames[b"v_C1_g02_c01"] == [3, 11, 18, 26]  # 30 frames
    temporal = _config("temporal", eval_num_crops=1, random_flip=False)
    for batch in datasets.eval_dataset(temporal, data_dir, "test", 100).as_numpy_iterator():
        for video_id, image in zip(batch["video_id"], batch["image"], strict=True):
            if video_id == b"v_C0_g01_c01":  # 2 flow frames, L = 10: loops from 0
                assert np.round(image[0, 0, 0::2]).tolist() == [0, 1] * 5


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_only_sampled_frames_are_decoded(tmp_path, stream):
    """Unsampled frames of a long video are not JPEGs: any decode of them would fail."""
    config = _config(stream, shuffle_buffer=1)
    valid = str(tmp_path / "valid")
    testdata.write_data_dir(valid, {"train": [_video(0, 250, 0)]}, num_classes=1)
    images, _ = next(iter(datasets.train_dataset(config, valid, 2)))
    if stream == "spatial":
        used = {_rgb_index(image[12, 12]) for image in images.numpy()}
    else:
        used = set()
        for image in images.numpy():  # y_i = 255 - i is never negated
            used |= set((255 - np.round(image[0, 0, 1::2])).astype(int).tolist())
    corrupt = str(tmp_path / "corrupt")
    testdata.write_data_dir(corrupt, {"train": [_video(0, 250, 0, keep=used)]}, num_classes=1)
    again, _ = next(iter(datasets.train_dataset(config, corrupt, 2)))
    np.testing.assert_array_equal(again.numpy(), images.numpy())
    # Eval: a 1,000-frame video of which only the sampled frames are JPEGs. K = 4 starts
    # floor((2k + 1) P / 8) with P = 1000 RGB starts, or 999 - 10 + 1 = 990 flow starts.
    flow_starts = [(2 * k + 1) * 990 // 8 for k in range(4)]
    keep = {s + t for s in flow_starts for t in range(10)} | {
        (2 * k + 1) * 1000 // 8 for k in range(4)
    }
    testdata.write_data_dir(corrupt, {"test": [_video(0, 1000, 0, keep=keep)]}, num_classes=1)
    count = sum(b["image"].shape[0] for b in datasets.eval_dataset(config, corrupt, "test", 16))
    assert count == 4 * 10


def test_input_context_shards_files_and_sizes_replica_batches(data_dir):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=4
    )
    dataset = datasets.train_dataset(_config("spatial"), data_dir, 16, context)
    shard_1 = {1, 3}  # videos 1 and 3 (labels 1 and 0), 30 and 50 frames
    images, labels = next(iter(dataset))
    assert images.shape[0] == 4
    assert set(labels.numpy().tolist()) <= {v % 3 for v in shard_1}
    three = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=0)
    with pytest.raises(ValueError, match="2 train shards cannot feed 3 input pipelines"):
        datasets.train_dataset(_config("spatial"), data_dir, 16, three)


def test_deterministic_runs_repeat_exactly(data_dir):
    config = _config("temporal")
    first = [b[0] for b in datasets.train_dataset(config, data_dir, 4).take(2).as_numpy_iterator()]
    second = [b[0] for b in datasets.train_dataset(config, data_dir, 4).take(2).as_numpy_iterator()]
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("stream", "audio", "config.stream='audio'"),
        ("data.eval_num_crops", 4, "config.data.eval_num_crops=4"),
        ("data.crop_scales", (1.0, 1.5), "config.data.crop_scales=1.5"),
        ("data.jpeg_dct_method", "FAST", "config.data.jpeg_dct_method='FAST'"),
        ("data.service_processing_mode", "epoch", "config.data.service_processing_mode"),
        ("data.train_samples_per_video", 0, "config.data.train_samples_per_video=0"),
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
    with pytest.raises(manifest_lib.ManifestError, match="no 'validation' shards"):
        datasets.eval_dataset(_config("spatial"), data_dir, "validation", 8)
