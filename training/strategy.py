"""`tf.distribute` strategies by name (train.py's `--strategy`), and who writes outputs.

* `default`: one device (the first GPU if any, else the CPU).
* `mirrored`: all local GPUs (or the logical CPU devices a test creates), synchronous.
* `multi_worker`: MultiWorkerMirroredStrategy; the cluster comes from the `TF_CONFIG`
  environment variable, set on every worker (same command, its own task index).
* `tpu`: TPUStrategy on the TPU named by `--tpu` ('' = the TPU VM's local TPU, or a name /
  grpc address of a TPU node). TPUs read and write `gs://` paths only.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfrecords.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


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
