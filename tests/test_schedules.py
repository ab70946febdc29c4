import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import base
from training import schedules


def _train_config(**changes):
    train = base.get_config().train
    train.num_epochs = 0.0
    train.num_steps = 100
    for key, value in changes.items():
        train[key] = value
    return train


def test_duration_steps_from_steps_or_epochs():
    assert schedules.duration_steps(_train_config(), "num", 1000, required=True) == 100
    epochs = _train_config(num_steps=0, num_epochs=2.5, batch_size=32)
    # 2.5 epochs x 9537 videos / 32 = 745.08 -> 746 steps.
    assert schedules.duration_steps(epochs, "num", 9537, required=True) == 746
    assert schedules.duration_steps(_train_config(), "head_only", 1000, required=False) == 0


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"num_steps": 10, "num_epochs": 1.0}, "give one of the two"),
        ({"num_steps": 0, "num_epochs": 0.0}, "set one of the two"),
        ({"num_steps": -5}, "cannot be negative"),
    ],
)
def test_duration_steps_errors_name_the_keys(changes, match):
    with pytest.raises(ValueError, match=match) as error:
        schedules.duration_steps(_train_config(**changes), "num", 1000, required=True)
    assert "config.train.num_steps" in str(error.value)


def test_piecewise_constant_known_answer_eager_and_in_tf_data():
    schedule = schedules.PiecewiseConstant((3, 5), (1.0, 0.1, 0.01))
    expected = [1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.01]
    eager = [float(schedule(tf.constant(step))) for step in range(8)]
    np.testing.assert_allclose(eager, expected, rtol=1e-6)
    mapped = list(tf.data.Dataset.range(8).map(schedule).as_numpy_iterator())
    np.testing.assert_allclose(mapped, expected, rtol=1e-6)


@pytest.mark.parametrize("boundaries", [(5, 3), (3, 3), (0,)])
def test_piecewise_constant_rejects_bad_boundaries(boundaries):
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.PiecewiseConstant(boundaries, (1.0,) * (len(boundaries) + 1))


def test_schedule_with_head_only_phase():
    train = _train_config(learning_rate=1e-3, lr_boundaries=(20,), head_learning_rate=1e-2)
    schedule = schedules.learning_rate_schedule(train, head_only_steps=10)
    assert schedule.boundaries == (10, 20)
    np.testing.assert_allclose(schedule.values, (1e-2, 1e-3, 1e-4))
    with pytest.raises(ValueError, match="after the head-only phase"):
        schedules.learning_rate_schedule(_train_config(lr_boundaries=(10,)), head_only_steps=10)


def test_optimizer_drops_its_learning_rate_at_the_configured_step():
    # Plain SGD on loss = v: every update moves v by exactly -lr(step).
    train = _train_config(learning_rate=1.0, lr_boundaries=(3,), momentum=0.0, weight_decay=0.0)
    step = tf.Variable(0, dtype=tf.int64)
    optimizer = schedules.create_optimizer(train, schedules.learning_rate_schedule(train, 0), step)
    variable = keras.Variable(0.0)
    moves = []
    for _ in range(6):
        before = float(variable.numpy())
        optimizer.apply_gradients([(tf.constant(1.0), variable)])
        step.assign_add(1)
        moves.append(before - float(variable.numpy()))
    np.testing.assert_allclose(moves, [1.0, 1.0, 1.0, 0.1, 0.1, 0.1], rtol=1e-6)


def test_create_optimizer_choices():
    step = tf.Variable(0, dtype=tf.int64)
    schedule = schedules.PiecewiseConstant((), (0.1,))
    assert isinstance(
        schedules.create_optimizer(_train_config(optimizer="adam"), schedule, step),
        keras.optimizers.Adam,
    )
    mixed = _train_config(dtype_policy="mixed_float16")
    assert isinstance(
        schedules.create_optimizer(mixed, schedule, step), keras.optimizers.LossScaleOptimizer
    )
    with pytest.raises(ValueError, match="config.train.optimizer='lamb'"):
        schedules.create_optimizer(_train_config(optimizer="lamb"), schedule, step)


def test_learning_rates_scale_linearly_with_the_batch():
    # lr 1e-2 and head lr 4e-2 given for batch 256, run at 16: x1/16, boundaries kept.
    train = _train_config(
        learning_rate=1e-2,
        head_learning_rate=4e-2,
        reference_batch_size=256,
        batch_size=16,
        lr_boundaries=(50, 70),
    )
    assert schedules.scaled_learning_rate(train, "learning_rate") == pytest.approx(6.25e-4)
    schedule = schedules.learning_rate_schedule(train, head_only_steps=10)
    assert schedule.boundaries == (10, 50, 70)
    np.testing.assert_allclose(schedule.values, (2.5e-3, 6.25e-4, 6.25e-5, 6.25e-6))
    # At the reference batch the configured values are used exactly.
    same = _train_config(learning_rate=0.05, reference_batch_size=32, batch_size=32)
    assert schedules.learning_rate_schedule(same, 0).values == (0.05,)


def test_warmup_ramps_linearly_then_follows_the_boundaries():
    # lr 0.4 at batch 64 run at 32 -> 0.2; 4 warmup updates: 0.05, 0.1, 0.15, 0.2; x0.1 at 6.
    train = _train_config(
        learning_rate=0.4,
        reference_batch_size=64,
        batch_size=32,
        warmup_steps=4,
        lr_boundaries=(6,),
    )
    schedule = schedules.learning_rate_schedule(train, 0)
    assert (schedule.boundaries, schedule.warmup_steps) == ((6,), 4)
    expected = [0.05, 0.1, 0.15, 0.2, 0.2, 0.2, 0.02, 0.02]
    eager = [float(schedule(tf.constant(step))) for step in range(8)]
    np.testing.assert_allclose(eager, expected, rtol=1e-6)
    mapped = list(tf.data.Dataset.range(8).map(schedule).as_numpy_iterator())
    np.testing.assert_allclose(mapped, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"reference_batch_size": 0}, "config.train.reference_batch_size=0"),
        ({"warmup_steps": -1}, "config.train.warmup_steps=-1"),
    ],
)
def test_bad_scaling_settings_name_the_key(changes, match):
    with pytest.raises(ValueError, match=match):
        schedules.learning_rate_schedule(_train_config(**changes), 0)
