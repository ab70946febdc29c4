"""The tf.data service mode, against a real dispatcher and worker on loopback."""

import pytest
import tensorflow as tf

from configs import base
from input_pipeline import datasets, service, testdata

H, W = 32, 40


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data"))
    frame = testdata.painted_jpeg(90, H, W, 1)
    rgb = testdata.painted_jpeg(90, H, W, 3)
    videos = [
        testdata.make_video(f"v_A_g0{i}_c01", i % 2, [rgb] * 12, [frame] * 11, [frame] * 11, (H, W))
        for i in range(1, 5)
    ]
    testdata.write_data_dir(path, {"train": videos}, num_classes=2, num_shards=2)
    return path


@pytest.fixture(scope="module")
def dispatcher():
    server = tf.data.experimental.service.DispatchServer()
    address = server.target.split("://")[1]
    worker = tf.data.experimental.service.WorkerServer(
        tf.data.experimental.service.WorkerConfig(dispatcher_address=address)
    )
    yield server.target
    worker.stop()
    server.stop()


@pytest.mark.parametrize("mode", service.PROCESSING_MODES)
def test_train_batches_come_from_the_service(data_dir, dispatcher, mode):
    config = base.get_config()
    config.stream = "temporal"
    config.data.image_size = 16
    config.data.service_address = dispatcher
    config.data.service_processing_mode = mode
    dataset = datasets.train_dataset(config, data_dir, 4)
    assert b"DataServiceDataset" in dataset._as_serialized_graph().numpy()
    for images, labels in dataset.take(3):
        assert images.shape == (4, 16, 16, 20) and labels.shape == (4,)
        assert float(tf.reduce_max(tf.abs(images[..., 1::2] - 90.0))) <= 1.0


def test_no_address_leaves_the_dataset_in_process():
    dataset = tf.data.Dataset.range(3)
    assert service.distribute(dataset, base.get_config().data) is dataset


def test_unknown_mode_is_named():
    config = base.get_config().data
    config.service_processing_mode = "one_epoch"
    with pytest.raises(ValueError, match="config.data.service_processing_mode='one_epoch'"):
        service.distribute(tf.data.Dataset.range(3), config)
