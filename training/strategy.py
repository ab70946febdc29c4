"""`tf.distribute` strategies by name (train.py's `--strategy`), and who writes outputs.

* `default`: one device (the first GPU if any, else the CPU).
* `mirrored`: all local GPUs (or the logical CPU devices a test creates), synchronous.
* `multi_worker`: MultiWorkerMirroredStrategy; the cluster comes from the `TF_CONFIG`
  environment variable, set on every worker (same command, its own task index).
* `tpu`: TPUStrategy on the TPU named by `--tpu` ('' = the TPU VM's local TPU, or a name /
  grpc address of a TPU node). TPUs read and write `gs://` paths only.

A strategy built where its accelerator is missing still trains, on the CPU:
`MirroredStrategy()` on a TensorFlow that sees no GPU (the CPU build, or no driver) is one
replica on `CPU:0`. `log_devices` says where training runs and warns in that case.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging

from tfrecords.errors import UserError
from training import SINGLE_WORKER_STRATEGIES as SINGLE_WORKER_STRATEGIES
from training import STRATEGIES

# The device type each accelerator strategy is for; the others are fine on the CPU.
ACCELERATORS = {"mirrored": "GPU", "multi_worker": "GPU", "tpu": "TPU"}
_INSTALL = {
    "GPU": "install TensorFlow's GPU build (`make setup ACCEL=gpu`) and check that "
    "`nvidia-smi` sees the GPU",
    "TPU": "run on a TPU VM with its TensorFlow (README) and pass --tpu if the TPU is remote",
}


def create_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """Builds the strategy `name` (see the module docstring).

    Must run before any other TensorFlow op for `multi_worker` and `tpu`.

    Raises:
      ValueError: unknown name, or `multi_worker` without a usable TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError(
                "the multi_worker strategy needs the TF_CONFIG environment variable on every "
                'worker, e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}'
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise UserError(
                f"TF_CONFIG is not valid JSON ({e}): {os.environ['TF_CONFIG']!r}"
            ) from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise UserError(f"strategy {name!r}: use one of {STRATEGIES}")


def log_devices(name: str, strategy: tf.distribute.Strategy) -> None:
    """Logs the devices `strategy` (built as `--strategy=name`) trains on.

    Warns when a GPU/TPU strategy (`ACCELERATORS`) found no device of its kind, i.e. training
    runs on the CPU, and says how to install the build that sees the accelerator.
    """
    if name == "default":  # TensorFlow's default device: the first GPU if any, else the CPU
        gpus = tf.config.list_logical_devices("GPU")
        devices = [(gpus or tf.config.list_logical_devices("CPU"))[0].name]
    else:
        devices = list(strategy.extended.worker_devices)
    logging.info(
        "--strategy=%s: %d replicas on %s (logical devices here: %s)",
        name,
        strategy.num_replicas_in_sync,
        ", ".join(devices),
        ", ".join(device.name for device in tf.config.list_logical_devices()),
    )
    wanted = ACCELERATORS.get(name)
    if wanted and not any(tf.DeviceSpec.from_string(d).device_type == wanted for d in devices):
        logging.warning(
            "--strategy=%s found no %s: training runs on the CPU (%s). To use the %s, %s.",
            name,
            wanted,
            ", ".join(devices),
            wanted,
            _INSTALL[wanted],
        )


def is_default(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` is TensorFlow's default (no-op) strategy: one replica, no merging."""
    with strategy.scope():
        return not tf.distribute.has_strategy()


def task_of(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task id) of this worker; (None, 0) outside a multi-worker cluster."""
    resolver = strategy.cluster_resolver
    if resolver is None or isinstance(resolver, tf.distribute.cluster_resolver.TPUClusterResolver):
        return None, 0
    return resolver.task_type, resolver.task_id


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes summaries, the config and the real checkpoints.

    The chief is the 'chief' task, or worker 0 of a cluster without one; single-worker
    strategies (default, mirrored, TPU) are always chief.
    """
    task_type, task_id = task_of(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether this is a MultiWorkerMirroredStrategy (workers must act in lockstep)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
