"""The training loop: a custom loop under a `tf.distribute` strategy, resumable from its workdir.

One call of the compiled train function runs up to `config.train.steps_per_loop` steps on
the device, each `strategy.run(replica_step)` on the next distributed batch; the host only
checks the per-step losses (a NaN stops training naming its step), logs, writes summaries
and saves checkpoints. Nothing Python-side touches the data.

Re-running the same command resumes: the latest checkpoint of `W/checkpoints` restores the
step, the model and the optimizer, and the input restarts from that step: `dataset_fn` gets
the step and decides how (a cheap in-memory dataset skips to it exactly; the TFRecord pipeline
draws a fresh sample stream seeded by the step, see `training.experiment`). The tf.data
iterator itself is not checkpointed: its shuffle and prefetch buffers hold decoded batches
(a temporal batch of 256 is ~1 GB) and the parallel interleave and tf.data service support no
symbolic (position-only) checkpoint. SIGTERM (preemption) saves a checkpoint and returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import keras
import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from models import builder, consensus
from tfrecords.errors import ConfigError, UserError
from training import checkpoints, schedules, summaries
from training import strategy as strategy_lib

DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")

# (input context, global step to start from) -> this input pipeline's per-replica batches
# (inputs, labels int32 [b]), repeating forever; `PreprocessFn` turns inputs into the model's
# images [b, S, S, C] inside the step, on the device.
DatasetFn = Callable[[tf.distribute.InputContext, int], tf.data.Dataset]
PreprocessFn = Callable[[Any], tf.Tensor]


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite at `step` (1-based global step)."""

    def __init__(self, step: int, loss: float):
        super().__init__(
            f"loss {loss} at step {step}: training stopped, nothing saved after the last "
            "checkpoint. Lower config.train.learning_rate or check the data, then re-run "
            "(it resumes from the last checkpoint)."
        )
        self.step = step


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """How a call of `train` ended.

    Attributes:
      initial_step: global step restored at the start (0 for a fresh workdir).
      step: global step reached.
      total_steps: the run's length in steps.
      preempted: SIGTERM stopped the run early (after saving a checkpoint).
      scalars: the last logged window's scalars (empty if no step ran).
    """

    initial_step: int
    step: int
    total_steps: int
    preempted: bool
    scalars: dict[str, float]


def check_train_config(train_config: ml_collections.ConfigDict, num_replicas: int) -> None:
    """Checks the integer settings of `config.train`.

    Raises:
      ValueError: naming the first key whose value cannot be used.
    """
    for key in ("batch_size", "log_every_steps", "checkpoint_every_steps", "steps_per_loop"):
        value = train_config[key]
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"config.train.{key}={value!r}: use a positive integer")
    if train_config.batch_size % num_replicas:
        raise ConfigError(
            f"config.train.batch_size={train_config.batch_size}: the global batch must be a "
            f"multiple of the {num_replicas} replicas"
        )
    if train_config.dtype_policy not in DTYPE_POLICIES:
        raise ConfigError(
            f"config.train.dtype_policy={train_config.dtype_policy!r}: use one of {DTYPE_POLICIES}"
        )


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def _stop_requests(enabled: bool) -> Iterator[threading.Event]:
    """An event set by SIGTERM while the loop runs (main thread, single worker only).

    Multi-worker runs keep the default handler: workers must stop in lockstep, which a
    per-process signal cannot promise; they resume from the last periodic checkpoint.
    """
    event = threading.Event()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGTERM, previous)


def make_train_fn(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
    step: tf.Variable,
    global_batch_size: int,
    preprocess_fn: PreprocessFn,
    num_segments: int = 1,
) -> Callable[[Iterator, tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """The training function: `num_steps` steps on the model's current trainable variables.

    `preprocess_fn` gives b x K images for a batch of b examples of K = `num_segments`
    snippets (example-major); the loss is on each example's consensus, the softmax of its
    K snippets' mean logits (`models.consensus.average_consensus`; K = 1: the model's own
    output). Trainability (phases, partial batch norm) is read when the step is traced:
    set it before calling this.

    Each replica's step is compiled with XLA (`jit_compile=True`): on the default strategy
    the whole step (preprocess_fn, forward, backward, optimizer update); under a distributing
    strategy (mirrored, multi-worker, TPU) the preprocessing, forward and backward passes,
    while the update, where the strategy all-reduces the gradients across replicas, runs
    outside the cluster: XLA refuses a function that reaches every replica's copy of a
    variable. So `preprocess_fn` (`input_pipeline.resample.model_input`: uint8 gathers,
    which have no GPU kernel outside XLA) always runs compiled, on the replica's device.

    Returns:
      train_steps(iterator, num_steps) -> (losses float32 [num_steps], correct predictions,
      learning rate of the last step), a `tf.function`.
    """
    variables = model.trainable_variables
    logits_model = builder.logits_model(model)

    def gradients_fn(inputs: Any, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, list]:
        images = preprocess_fn(inputs)
        with tf.GradientTape() as tape:
            logits = logits_model(images, training=True)
            probabilities = consensus.average_consensus(logits, num_segments)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, variables)
        predictions = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(predictions == tf.cast(labels, tf.int32), tf.float32))
        return loss, correct, gradients

    whole_step = strategy_lib.is_default(strategy)
    compiled_gradients = gradients_fn if whole_step else tf.function(gradients_fn, jit_compile=True)

    def replica_step(inputs: Any, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss, correct, gradients = compiled_gradients(inputs, labels)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss, correct

    if whole_step:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def train_steps(iterator: Iterator, num_steps: tf.Tensor):
        losses = tf.TensorArray(tf.float32, size=num_steps)
        correct = tf.constant(0.0)
        learning_rate = tf.constant(0.0)
        for i in tf.range(num_steps):
            learning_rate = tf.cast(optimizer.learning_rate, tf.float32)
            inputs, labels = next(iterator)
            replica_loss, replica_correct = strategy.run(replica_step, args=(inputs, labels))
            loss = strategy.reduce(tf.distribute.ReduceOp.SUM, replica_loss, axis=None)
            correct += strategy.reduce(tf.distribute.ReduceOp.SUM, replica_correct, axis=None)
            step.assign_add(1)
            losses = losses.write(i, loss)
        return losses.stack(), correct, learning_rate

    return train_steps


def _next_stop(step: int, total: int, head_only_steps: int, periods: tuple[int, ...]) -> int:
    """The next step at which the host must act (log, save, switch phase or finish)."""
    stops = [total, *((step // period + 1) * period for period in periods)]
    if step < head_only_steps:
        stops.append(head_only_steps)
    return min(stops)


def _set_phase(model: keras.Model, train_config: ml_collections.ConfigDict, head: bool) -> None:
    if head:
        builder.set_backbone_trainable(model, False)
        logging.info("phase 1: training the head only (backbone frozen)")
    else:
        builder.set_backbone_trainable(model, True, train_config.finetune_after_layer)
        after = train_config.finetune_after_layer
        logging.info("training the head and the backbone%s", f" after {after}" if after else "")
        if train_config.partial_bn:
            builder.freeze_batch_norm_but_first(model)
            logging.info("partial batch norm: only the first batch-norm layer adapts")


@dataclasses.dataclass(frozen=True)
class _Run:
    """What the host loop drives; built once per `train` call."""

    train_config: ml_collections.ConfigDict
    num_segments: int
    strategy: tf.distribute.Strategy
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    step: tf.Variable
    iterator: Iterator
    preprocess_fn: PreprocessFn
    checkpointer: checkpoints.Checkpointer
    writer: summaries.Summaries
    total: int
    head: int


def _host_loop(run: _Run, start: int, stop: threading.Event) -> tuple[int, bool, dict]:
    """Trains from `start` to `run.total` or a stop request; returns (step, preempted, scalars).

    Raises:
      NonFiniteLossError: naming the first step whose loss was NaN or infinite.
    """
    config = run.train_config
    periods = (config.log_every_steps, config.checkpoint_every_steps)
    current, phase, train_fn = start, None, None
    window, scalars = summaries.Window(), {}
    while current < run.total:
        if phase != (current < run.head):
            phase = current < run.head
            _set_phase(run.model, config, phase)
            train_fn = make_train_fn(
                run.model,
                run.optimizer,
                run.strategy,
                run.step,
                config.batch_size,
                run.preprocess_fn,
                run.num_segments,
            )
        stop_at = _next_stop(current, run.total, run.head, periods)
        count = min(config.steps_per_loop, stop_at - current)
        losses, correct, learning_rate = train_fn(run.iterator, tf.constant(count))
        losses = losses.numpy()
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            raise NonFiniteLossError(current + int(bad[0]) + 1, float(losses[bad[0]]))
        current += count
        window.add(losses.tolist(), float(correct), count * config.batch_size)
        if current % config.log_every_steps == 0 or current == run.total:
            scalars = window.scalars(float(learning_rate))
            run.writer.write(current, run.total, scalars)
            window = summaries.Window()
        saved = current % config.checkpoint_every_steps == 0 or current == run.total
        if saved:
            logging.info("saved %s", run.checkpointer.save(current))
        if stop.is_set():
            if not saved:
                logging.info("SIGTERM: saved %s", run.checkpointer.save(current))
            logging.info("stopped at step %d; re-run the same command to resume", current)
            return current, True, scalars
    return current, False, scalars


def train(
    config: ml_collections.ConfigDict,
    workdir: str,
    strategy: tf.distribute.Strategy,
    dataset_fn: DatasetFn,
    num_classes: int,
    examples_per_epoch: int,
    preprocess_fn: PreprocessFn | None = None,
) -> TrainResult:
    """Trains `config`'s model in `workdir`, resuming from its latest checkpoint.

    Args:
      config: an experiment config (configs/*.py).
      workdir: output directory (local or gs://): config.json, checkpoints/, train/.
      strategy: from `training.strategy.create_strategy`.
      dataset_fn: called through `strategy.distribute_datasets_from_function` with the input
        context and the global step training starts from (0, or the restored step).
      num_classes: classes of the data (model output size).
      examples_per_epoch: training videos, to convert epochs to steps.
      preprocess_fn: per-replica inputs -> the model's images, run inside the compiled step
        (e.g. `input_pipeline.resample.model_input`); None: the inputs are the images.

    Returns:
      Where training ended (see `TrainResult`).

    Raises:
      ValueError: a config value cannot be used.
      NonFiniteLossError: the loss became NaN or infinite.
      checkpoints.CheckpointError: the workdir's checkpoint does not fit this run.
    """
    train_config = config.train
    check_train_config(train_config, strategy.num_replicas_in_sync)
    total = schedules.duration_steps(train_config, "num", examples_per_epoch, required=True)
    head = schedules.duration_steps(train_config, "head_only", examples_per_epoch, False)
    if head >= total:
        raise ConfigError(
            f"config.train: the head-only phase ({head} steps) must end before the run "
            f"({total} steps)"
        )
    schedule = schedules.learning_rate_schedule(train_config, head)
    logging.info(
        "learning rate %g at reference batch %d -> %g at batch %d (linear rule); warmup %d steps",
        train_config.learning_rate,
        train_config.reference_batch_size,
        schedules.scaled_learning_rate(train_config, "learning_rate"),
        train_config.batch_size,
        schedule.warmup_steps,
    )
    chief = strategy_lib.is_chief(strategy)
    keras.utils.set_random_seed(config.seed)
    # Layers take the policy when built; the optimizer's loss scaling follows the config.
    with _dtype_policy(train_config.dtype_policy), strategy.scope():
        model = builder.build_model(config, num_classes)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        optimizer = schedules.create_optimizer(train_config, schedule, step)
        # Slots for every variable up front: the checkpoint keeps one layout in all phases.
        optimizer.build(model.trainable_variables)
    checkpointer = checkpoints.Checkpointer(
        workdir,
        strategy,
        tf.train.Checkpoint(step=step, model=model, optimizer=optimizer),
        train_config.max_checkpoints_to_keep,
    )
    restored = checkpointer.restore_latest()
    if chief:  # after the restore: a refused resume keeps the config that fits the checkpoint
        checkpoints.save_config(config, workdir)
    initial = int(step.numpy())
    logging.info(
        "%s at step %d of %d (head-only phase: %d steps; lr boundaries %s, values %s)",
        f"resumed from {restored}" if restored else "fresh start",
        initial,
        total,
        head,
        schedule.boundaries,
        schedule.values,
    )
    iterator = iter(
        strategy.distribute_datasets_from_function(lambda context: dataset_fn(context, initial))
    )
    writer = summaries.Summaries(workdir, enabled=chief)
    run = _Run(
        train_config,
        config.data.num_segments,
        strategy,
        model,
        optimizer,
        step,
        iterator,
        preprocess_fn or tf.identity,
        checkpointer,
        writer,
        total,
        head,
    )
    try:
        with _stop_requests(not strategy_lib.is_multi_worker(strategy)) as stop:
            current, preempted, scalars = _host_loop(run, initial, stop)
    finally:
        writer.close()
    return TrainResult(initial, current, total, preempted, scalars)
