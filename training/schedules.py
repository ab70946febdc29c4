"""Durations, the learning-rate schedule and the optimizer, all read from `config.train`.

Steps are global optimizer updates. Durations may be given in steps or epochs (an epoch is
one sample per training video); `duration_steps` is the one place that converts. The
learning rate is a function of the global step the loop counts (not of the optimizer's own
counter, which loss scaling may hold back), so a boundary fires exactly at its step.

Configs give their learning rates for `train.reference_batch_size`; `scaled_learning_rate`
is the one place that applies the linear rule (lr x batch_size / reference_batch_size,
Goyal et al. 2017) for the batch actually run, optionally ramped in over `warmup_steps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import ml_collections
import tensorflow as tf

from tfrecords.errors import ConfigError

OPTIMIZERS = ("sgd", "rmsprop", "adam")


def duration_steps(
    train_config: ml_collections.ConfigDict,
    prefix: str,
    examples_per_epoch: int,
    required: bool,
) -> int:
    """Converts `train.<prefix>_steps` / `train.<prefix>_epochs` to global steps.

    Args:
      train_config: `config.train`.
      prefix: 'num' (the whole run) or 'head_only' (phase one of fine-tuning).
      examples_per_epoch: training videos (the manifest's written train count).
      required: whether one of the two must be positive (else both 0 means 0 steps).

    Returns:
      `<prefix>_steps`, or ceil(`<prefix>_epochs` * examples_per_epoch / batch_size).

    Raises:
      ValueError: both given, neither given when required, or a negative value.
    """
    steps = train_config[f"{prefix}_steps"]
    epochs = train_config[f"{prefix}_epochs"]
    keys = f"config.train.{prefix}_steps={steps} / config.train.{prefix}_epochs={epochs}"
    if steps < 0 or epochs < 0:
        raise ConfigError(f"{keys}: durations cannot be negative")
    if steps > 0 and epochs > 0:
        raise ConfigError(f"{keys}: give one of the two, set the other to 0")
    if steps > 0:
        return int(steps)
    if epochs > 0:
        if examples_per_epoch < 1:
            raise ConfigError(f"{keys}: epochs need training examples, the data has none")
        return math.ceil(epochs * examples_per_epoch / train_config.batch_size)
    if required:
        raise ConfigError(f"{keys}: set one of the two to a positive value")
    return 0


def scaled_learning_rate(train_config: ml_collections.ConfigDict, key: str) -> float:
    """`train_config[key]` (a learning rate at `reference_batch_size`) for `batch_size`.

    The linear rule: lr x batch_size / reference_batch_size, so a smaller batch takes
    proportionally smaller steps (e.g. 1e-2 at 256 is 6.25e-4 at 16).

    Args:
      train_config: `config.train`.
      key: 'learning_rate' or 'head_learning_rate'.

    Raises:
      ValueError: `reference_batch_size` is not a positive integer.
    """
    reference = train_config.reference_batch_size
    if not isinstance(reference, int) or reference < 1:
        raise ValueError(
            f"config.train.reference_batch_size={reference!r}: use a positive integer (the "
            "batch the config's learning rates are given for)"
        )
    return train_config[key] * (train_config.batch_size / reference)


class PiecewiseConstant:
    """values[i] for steps in [boundaries[i-1], boundaries[i]), after a linear warmup.

    `boundaries` are global steps: with boundaries (b,) and values (v0, v1), updates 0..b-1
    (0-based index of the update) use v0 and update b onward uses v1, i.e. the drop takes
    effect after b steps have been taken. With `warmup_steps` W > 0, update s < W uses its
    value times (s + 1) / W (a ramp from value / W to the full value at update W - 1).
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float], warmup_steps: int = 0):
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(
                f"config.train.warmup_steps={warmup_steps!r}: use a non-negative integer "
                "(0 = no warmup)"
            )
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{len(boundaries)} boundaries need {len(boundaries) + 1} values")
        if any(b <= 0 for b in boundaries) or list(boundaries) != sorted(set(boundaries)):
            raise ConfigError(
                f"learning-rate boundaries {tuple(boundaries)} (config.train.lr_boundaries and "
                "the head-only phase end): need positive, strictly increasing steps"
            )
        self.boundaries = tuple(int(b) for b in boundaries)
        self.values = tuple(float(v) for v in values)
        self.warmup_steps = warmup_steps

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        """Learning rate for the update with 0-based index `step` (int scalar) -> float32."""
        step = tf.cast(step, tf.int64)
        index = tf.reduce_sum(
            tf.cast(
                step >= tf.constant(self.boundaries, tf.int64, [len(self.boundaries)]), tf.int32
            )
        )
        value = tf.gather(tf.constant(self.values, tf.float32), index)
        if not self.warmup_steps:
            return value
        ramp = tf.cast(step + 1, tf.float32) / float(self.warmup_steps)
        return value * tf.minimum(ramp, 1.0)


def learning_rate_schedule(
    train_config: ml_collections.ConfigDict, head_only_steps: int
) -> PiecewiseConstant:
    """The run's schedule: head phase, then learning_rate decayed at each boundary.

    Steps before `head_only_steps` use `head_learning_rate`; then `learning_rate`, multiplied
    by `lr_decay_factor` after each of `lr_boundaries`. Both rates are scaled from
    `reference_batch_size` to `batch_size` (`scaled_learning_rate`); the first
    `warmup_steps` updates of the run ramp up to them. Boundaries stay where the config puts
    them, whatever the batch.

    Raises:
      ValueError: boundaries not increasing, or not after the head-only phase; a bad
        `reference_batch_size` or `warmup_steps`.
    """
    boundaries = [int(b) for b in train_config.lr_boundaries]
    learning_rate = scaled_learning_rate(train_config, "learning_rate")
    values = [learning_rate * train_config.lr_decay_factor**i for i in range(len(boundaries) + 1)]
    if head_only_steps > 0:
        if boundaries and boundaries[0] <= head_only_steps:
            raise ConfigError(
                f"config.train.lr_boundaries={tuple(boundaries)}: must lie after the "
                f"head-only phase ({head_only_steps} steps)"
            )
        boundaries = [head_only_steps, *boundaries]
        values = [scaled_learning_rate(train_config, "head_learning_rate"), *values]
    return PiecewiseConstant(boundaries, values, train_config.warmup_steps)


def create_optimizer(
    train_config: ml_collections.ConfigDict, learning_rate: PiecewiseConstant, step: tf.Variable
) -> keras.optimizers.Optimizer:
    """The optimizer of `train_config.optimizer`, its lr read from `learning_rate(step)`.

    Under the 'mixed_float16' policy it is wrapped in a LossScaleOptimizer.

    Args:
      train_config: `config.train`.
      learning_rate: the schedule.
      step: int64 variable counting global steps (updates done so far).

    Raises:
      ValueError: unknown optimizer or dtype policy.
    """
    name = train_config.optimizer
    common = {"learning_rate": lambda: learning_rate(step), "weight_decay": None}
    if train_config.weight_decay > 0:
        common["weight_decay"] = train_config.weight_decay
    if name == "sgd":
        optimizer = keras.optimizers.SGD(momentum=train_config.momentum, **common)
    elif name == "rmsprop":
        optimizer = keras.optimizers.RMSprop(**common)
    elif name == "adam":
        optimizer = keras.optimizers.Adam(**common)
    else:
        raise ConfigError(f"config.train.optimizer={name!r}: use one of {OPTIMIZERS}")
    if train_config.dtype_policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
