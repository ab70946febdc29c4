"""The tf.data service mode, against a real dispatcher and worker processes on loopback.

Two `python -m input_pipeline.service` worker processes (each in its own directory holding a
`worker_name` file a graph op reads) behind a dispatcher: the train dataset reads from them,
each example is tagged with the worker that made it, and train.py (its own process) trains
through them.
"""

import collections
import os
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf
from conftest import free_ports, quick_train_args

from configs import base
from input_pipeline import datasets, resample, service
from tfrecords import testdata
from training import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 32, 40
NUM_WORKERS = 2


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


@pytest.mark.parametrize("mode", service.PROCESSING_MODES)
def test_train_batches_come_from_the_service(data_dir, service_processes, mode):
    config = base.get_config()
    config.stream = "temporal"
    config.data.image_size = 16
    config.data.service_address = service_processes
    config.data.service_processing_mode = mode
    dataset = datasets.train_dataset(config, data_dir, 4)
    assert b"DataServiceDataset" in dataset._as_serialized_graph().numpy()
    for windows, labels in dataset.take(3):
        # uint8 windows cross the service; the step resizes them on the device.
        assert windows.frames.dtype == tf.uint8 and windows.frames.shape == (4, 20, 32, 32, 1)
        images = resample.model_input(windows, 16, flow=True)
        assert images.shape == (4, 16, 16, 20) and labels.shape == (4,)
        assert float(tf.reduce_max(tf.abs(images[..., 1::2] - 90.0))) <= 1.0


def test_segment_examples_cross_the_service_as_one_window(data_dir, service_processes):
    config = base.get_config()
    config.stream = "temporal"
    config.data.image_size = 16
    config.data.num_segments = 3
    config.data.service_address = service_processes
    windows, labels = next(iter(datasets.train_dataset(config, data_dir, 4)))
    assert windows.frames.shape == (4, 60, 32, 32, 1) and labels.shape == (4,)
    images = resample.model_input(resample.fold_segments(windows, 3), 16, flow=True)
    assert images.shape == (12, 16, 16, 20)


@pytest.mark.parametrize(("setting", "expected"), [("none", None), ("auto", "AUTO")])
def test_compression_setting_reaches_the_service(monkeypatch, setting, expected):
    calls = []

    def distribute(**kwargs):
        calls.append(kwargs)
        return lambda dataset: dataset

    monkeypatch.setattr(tf.data.experimental.service, "distribute", distribute)
    config = base.get_config().data
    config.service_address = "grpc://localhost:1"
    config.service_compression = setting
    service.distribute(tf.data.Dataset.range(3), config)
    assert calls == [
        {
            "processing_mode": "distributed_epoch",
            "service": "grpc://localhost:1",
            "compression": expected,
        }
    ]


def test_no_address_leaves_the_dataset_in_process():
    dataset = tf.data.Dataset.range(3)
    assert service.distribute(dataset, base.get_config().data) is dataset


def test_unknown_mode_is_named():
    config = base.get_config().data
    config.service_processing_mode = "one_epoch"
    with pytest.raises(ValueError, match="config.data.service_processing_mode='one_epoch'"):
        service.distribute(tf.data.Dataset.range(3), config)


def test_server_roles_are_checked():
    with pytest.raises(ValueError, match="role 'master'"):
        service.start_server("master", 0)
    with pytest.raises(ValueError, match="HOST:PORT address of its dispatcher"):
        service.start_server("worker", 0)


def _wait_for_ports(ports: list[int], processes: list[subprocess.Popen], logs: list[str]) -> None:
    deadline = time.monotonic() + 90
    pending = list(ports)
    while pending:
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                with open(log) as f:
                    raise AssertionError(f"server exited {process.returncode}: {f.read()[-2000:]}")
        assert time.monotonic() < deadline, f"ports {pending} not serving after 90 s"
        with socket.socket() as s:
            if s.connect_ex(("localhost", pending[0])) == 0:
                pending.pop(0)
                continue
        time.sleep(0.2)


@pytest.fixture(scope="module")
def service_processes(tmp_path_factory):
    """A dispatcher (in this process) and NUM_WORKERS worker processes of the binary.

    Yields the dispatcher's grpc:// address.
    """
    root = tmp_path_factory.mktemp("service")
    dispatcher = service.start_server("dispatcher", 0)
    dispatcher_address = dispatcher.target.removeprefix("grpc://")
    ports = free_ports(NUM_WORKERS)
    env = {**os.environ, "PYTHONPATH": REPO}
    processes, logs = [], []
    for i, port in enumerate(ports):
        cwd = root / f"worker{i}"
        cwd.mkdir()
        (cwd / "worker_name").write_text(f"worker{i}")
        command = [
            sys.executable,
            "-m",
            "input_pipeline.service",
            "--role=worker",
            f"--port={port}",
            f"--dispatcher_address={dispatcher_address}",
        ]
        logs.append(str(root / f"worker{i}.log"))
        with open(logs[-1], "w") as log:
            processes.append(
                subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    try:
        _wait_for_ports(ports, processes, logs)
        time.sleep(1.0)  # workers register with the dispatcher right after they start
        yield dispatcher.target
    finally:
        for process in processes:
            process.kill()  # stateless servers: nothing to flush
        for process in processes:
            process.wait(timeout=30)
        dispatcher.stop()


def _tagged(mode: str, address: str, count: int) -> list[tuple[int, str]]:
    """Ids 0..count-1 read through the service, each with the name of the worker that made it."""
    ids = tf.data.Dataset.range(count).map(lambda i: (i, tf.io.read_file("worker_name")))
    config = base.get_config().data
    config.service_address = address
    config.service_processing_mode = mode
    return [(int(i), name.numpy().decode()) for i, name in service.distribute(ids, config)]


def test_distributed_epoch_splits_one_epoch_over_the_worker_processes(service_processes):
    seen = _tagged("distributed_epoch", service_processes, 64)
    assert sorted(i for i, _ in seen) == list(range(64))  # every example exactly once
    per_worker = collections.Counter(name for _, name in seen)
    assert set(per_worker) == {f"worker{i}" for i in range(NUM_WORKERS)}


def test_parallel_epochs_gives_each_worker_process_the_whole_epoch(service_processes):
    seen = _tagged("parallel_epochs", service_processes, 16)
    expected = [(i, f"worker{w}") for i in range(16) for w in range(NUM_WORKERS)]
    assert sorted(seen) == sorted(expected)


def test_train_cli_reads_through_the_service(service_processes, data_dir, tmp_path):
    workdir = str(tmp_path / "run")
    steps = 6
    command = [
        sys.executable,
        *quick_train_args(
            "demo_temporal.py",
            workdir,
            data_dir,
            steps,
            f"--config.data.service_address={service_processes}",
        ),
    ]
    env = {**os.environ, "PYTHONPATH": REPO}
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = checkpoints.load_config(workdir)
    assert saved.data.service_address == service_processes
    assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(workdir)) == steps
