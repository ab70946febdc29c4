"""Strategies by name, chief election, and two train.py worker processes in lockstep."""

import json
import logging
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
from conftest import free_ports, quick_train_args

from tfrecords import testdata
from tfrecords.errors import UserError
from training import checkpoints
from training import strategy as strategy_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_default_strategy_is_single_replica_chief():
    strategy = strategy_lib.create_strategy("default")
    assert strategy.num_replicas_in_sync == 1
    assert strategy_lib.is_chief(strategy)
    assert not strategy_lib.is_multi_worker(strategy)
    assert strategy_lib.task_of(strategy) == (None, 0)


def test_mirrored_strategy_builds_on_local_devices():
    strategy = strategy_lib.create_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy_lib.is_chief(strategy)


def test_unknown_strategy_names_the_value():
    with pytest.raises(UserError, match="strategy 'gpu'"):
        strategy_lib.create_strategy("gpu")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="TF_CONFIG"):
        strategy_lib.create_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        strategy_lib.create_strategy("multi_worker")


def _cluster(task_type: str, task_id: int, jobs: dict):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(jobs), task_type=task_type, task_id=task_id
    )
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize(
    "task_type, task_id, jobs, chief",
    [
        ("worker", 0, {"worker": ["a:1", "b:1"]}, True),
        ("worker", 1, {"worker": ["a:1", "b:1"]}, False),
        ("chief", 0, {"chief": ["c:1"], "worker": ["a:1"]}, True),
        ("worker", 0, {"chief": ["c:1"], "worker": ["a:1"]}, False),
    ],
)
def test_chief_election(task_type, task_id, jobs, chief):
    assert strategy_lib.is_chief(_cluster(task_type, task_id, jobs)) is chief


# Runs train.py's main in this process after wrapping Checkpointer.save so that every worker,
# chief or not, also writes its model weights at the last step to $WEIGHTS_OUT (the non-chief
# deletes its own checkpoint right after saving it).
_TRAIN_AND_KEEP_WEIGHTS = """
import os, runpy, sys
import numpy as np
from training import checkpoints

save = checkpoints.Checkpointer.save

def save_and_keep(self, step):
    path = save(self, step)
    weights = self._checkpoint.model.weights
    np.savez(os.environ["WEIGHTS_OUT"], step=step, *[w.numpy() for w in weights])
    return path

checkpoints.Checkpointer.save = save_and_keep
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_multi_worker_processes_train_in_lockstep(tmp_path):
    data_dir = str(tmp_path / "records")
    rgb = testdata.painted_jpeg(90, 24, 32, 3)
    flow = testdata.painted_jpeg(128, 24, 32, 1)
    videos = [
        testdata.make_video(f"v_A_g0{i}_c01", i % 2, [rgb] * 6, [flow] * 5, [flow] * 5, (24, 32))
        for i in range(1, 5)
    ]
    testdata.write_data_dir(data_dir, {"train": videos}, num_classes=2, num_shards=2)
    ports = free_ports(2)
    workdir = str(tmp_path / "run")  # shared, as a gs:// workdir would be
    steps = 4
    command = quick_train_args(
        "demo_spatial.py", workdir, data_dir, steps, "--strategy=multi_worker"
    )
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    processes = []
    for index in range(2):
        env = {
            **os.environ,
            "PYTHONPATH": REPO,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
            "WEIGHTS_OUT": str(tmp_path / f"weights{index}.npz"),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", _TRAIN_AND_KEEP_WEIGHTS, *command],
                env=env,
                cwd=REPO,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr[-3000:]

    assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(workdir)) == steps
    assert not any(name.startswith("tmp_checkpoints") for name in os.listdir(workdir))
    chief, worker = (np.load(tmp_path / f"weights{i}.npz") for i in range(2))
    assert int(chief["step"]) == int(worker["step"]) == steps
    arrays = [key for key in chief.files if key != "step"]
    assert arrays and arrays == [key for key in worker.files if key != "step"]
    for key in arrays:
        np.testing.assert_array_equal(chief[key], worker[key])
    restored = checkpoints.restore_model(checkpoints.load_config(workdir), workdir, 2)
    assert len(restored.weights) == len(arrays)  # the chief's checkpoint holds those weights
    for weight, key in zip(restored.weights, arrays, strict=True):
        np.testing.assert_array_equal(weight.numpy(), chief[key])


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="needs a CPU-only host")
def test_mirrored_without_a_gpu_warns_that_training_runs_on_the_cpu(caplog):
    with caplog.at_level(logging.INFO):
        strategy_lib.log_devices("mirrored", strategy_lib.create_strategy("mirrored"))
    assert "--strategy=mirrored: 1 replicas on /job:localhost/replica:0/task:0/device:CPU:0" in (
        caplog.text
    )
    (warning,) = _warnings(caplog)
    assert "--strategy=mirrored found no GPU: training runs on the CPU" in warning
    assert "make setup ACCEL=gpu" in warning


def test_default_strategy_logs_its_device_without_warning(caplog):
    with caplog.at_level(logging.INFO):
        strategy_lib.log_devices("default", strategy_lib.create_strategy("default"))
    assert "--strategy=default: 1 replicas on /device:" in caplog.text
    assert not _warnings(caplog)


def _fake_strategy(device_type: str) -> types.SimpleNamespace:
    """A stand-in for a strategy on one device of `device_type` (no TPU here to build one)."""
    device = f"/job:worker/replica:0/task:0/device:{device_type}:0"
    return types.SimpleNamespace(
        extended=types.SimpleNamespace(worker_devices=(device,)), num_replicas_in_sync=1
    )


def test_tpu_strategy_warns_only_without_tpu_devices(caplog):
    with caplog.at_level(logging.INFO):
        strategy_lib.log_devices("tpu", _fake_strategy("TPU"))
    assert not _warnings(caplog)
    with caplog.at_level(logging.INFO):
        strategy_lib.log_devices("tpu", _fake_strategy("CPU"))
    (warning,) = _warnings(caplog)
    assert "--strategy=tpu found no TPU: training runs on the CPU" in warning
