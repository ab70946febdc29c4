import types

import pytest
import tensorflow as tf

from training import strategy as strategy_lib


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


def test_unknown_strategy_names_the_flag():
    with pytest.raises(ValueError, match="--strategy='gpu'"):
        strategy_lib.create_strategy("gpu")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategy_lib.create_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
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
