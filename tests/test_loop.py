import functools
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import base
from models import builder
from training import checkpoints, loop, summaries

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16


def _config(num_steps: int, **train_changes):
    config = base.get_config()
    config.data.image_size = SIZE
    config.model.name = "tiny"
    config.model.weights = ""
    config.model.tiny_widths = (8, 16)
    config.model.dropout = 0.0
    train = config.train
    train.batch_size = 8
    train.reference_batch_size = 8  # learning_rate is used as given
    train.num_steps = num_steps
    train.num_epochs = 0.0
    train.learning_rate = 0.1
    train.weight_decay = 0.0
    train.log_every_steps = 1
    train.checkpoint_every_steps = 3
    for key, value in train_changes.items():
        train[key] = value
    return config


def _examples(count: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Images whose label is whether their red channel is bright (learnable in a few steps)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, count).astype(np.int32)
    images = rng.uniform(0, 255, (count, SIZE, SIZE, 3)).astype(np.float32)
    images[..., 0] = np.where(labels[:, None, None] == 1, 230.0, 25.0)
    return images, labels


def _dataset_fn(images: np.ndarray, labels: np.ndarray):
    """Per-replica batches in a fixed order, skipping to the start step exactly."""

    def dataset_fn(context: tf.distribute.InputContext, start_step: int) -> tf.data.Dataset:
        batch = context.get_per_replica_batch_size(8)
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch)
        return dataset.skip(start_step * context.num_replicas_in_sync)

    return dataset_fn


def _train(config, workdir, dataset_fn=None) -> loop.TrainResult:
    if dataset_fn is None:
        dataset_fn = _dataset_fn(*_examples())
    return loop.train(config, str(workdir), tf.distribute.get_strategy(), dataset_fn, 2, 64)


def test_training_lowers_loss_writes_checkpoints_summaries_and_config(tmp_path):
    config = _config(12, lr_boundaries=(8,))
    result = _train(config, tmp_path)
    assert (result.initial_step, result.step, result.preempted) == (0, 12, False)

    scalars = summaries.read_scalars(str(tmp_path))
    assert set(scalars) >= {"loss", "accuracy", "learning_rate", "examples_per_second"}
    loss = scalars["loss"]
    assert sorted(loss) == list(range(1, 13))
    assert np.mean([loss[s] for s in (10, 11, 12)]) < 0.5 * np.mean([loss[s] for s in (1, 2, 3)])
    # The learning rate of update s (logged at step s) drops after exactly 8 updates.
    lr = scalars["learning_rate"]
    np.testing.assert_allclose([lr[s] for s in range(1, 9)], 0.1, rtol=1e-6)
    np.testing.assert_allclose([lr[s] for s in range(9, 13)], 0.01, rtol=1e-6)

    latest = checkpoints.latest_checkpoint(str(tmp_path))
    assert latest.endswith("ckpt-12") and checkpoints.checkpoint_step(latest) == 12
    saved = tf.train.get_checkpoint_state(checkpoints.checkpoints_dir(str(tmp_path)))
    assert [checkpoints.checkpoint_step(p) for p in saved.all_model_checkpoint_paths] == [6, 9, 12]
    restored = checkpoints.load_config(str(tmp_path))
    assert restored.train.num_steps == 12 and restored.model.name == "tiny"


def test_resume_restores_step_optimizer_and_data_position(tmp_path):
    # Batches differ every step and SGD has momentum: a resume that lost the optimizer state
    # or started the data at another step would end with other weights than the straight run.
    straight = _train(_config(6), tmp_path / "straight")
    _train(_config(3), tmp_path / "resumed")
    resumed = _train(_config(6), tmp_path / "resumed")
    assert (straight.initial_step, resumed.initial_step, resumed.step) == (0, 3, 6)
    models = [
        checkpoints.restore_model(_config(6), str(tmp_path / name), 2)
        for name in ("straight", "resumed")
    ]
    for a, b in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    # A finished run re-run does nothing.
    again = _train(_config(6), tmp_path / "resumed")
    assert (again.initial_step, again.step) == (6, 6)


def test_nan_loss_stops_at_its_step_without_saving_it(tmp_path):
    images, labels = _examples(8 * 6)
    images[8 * 4 :] = np.nan  # batches 5 and 6 (steps 5, 6) are poisoned
    config = _config(10, checkpoint_every_steps=2)
    with pytest.raises(loop.NonFiniteLossError, match="at step 5") as error:
        _train(config, tmp_path, _dataset_fn(images, labels))
    assert error.value.step == 5
    assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(str(tmp_path))) == 4


def test_head_only_phase_freezes_the_backbone(tmp_path):
    config = _config(6, head_only_steps=3, head_learning_rate=0.1, lr_boundaries=())
    _train(config, tmp_path)
    tf.keras.utils.set_random_seed(config.seed)  # the initial weights the loop built
    initial = builder.build_model(config, 2)
    initial_kernel = builder.get_backbone(initial).get_layer("block0_conv").kernel.numpy()
    kernels = {}
    for step in (3, 6):
        path = os.path.join(checkpoints.checkpoints_dir(str(tmp_path)), f"ckpt-{step}")
        model = checkpoints.restore_model(config, str(tmp_path), 2, checkpoint=path)
        kernels[step] = builder.get_backbone(model).get_layer("block0_conv").kernel.numpy()
    np.testing.assert_array_equal(kernels[3], initial_kernel)
    assert not np.allclose(kernels[6], initial_kernel)


def test_several_steps_per_call_still_log_and_save_on_their_steps(tmp_path):
    config = _config(12, steps_per_loop=5, log_every_steps=4, checkpoint_every_steps=6)
    assert _train(config, tmp_path).step == 12
    assert sorted(summaries.read_scalars(str(tmp_path))["loss"]) == [4, 8, 12]
    saved = tf.train.get_checkpoint_state(checkpoints.checkpoints_dir(str(tmp_path)))
    assert [checkpoints.checkpoint_step(p) for p in saved.all_model_checkpoint_paths] == [6, 12]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_and_restores_the_global_policy(tmp_path, policy):
    before = tf.keras.config.dtype_policy().name
    result = _train(_config(2, dtype_policy=policy), tmp_path)
    assert np.isfinite(result.scalars["loss"])
    assert tf.keras.config.dtype_policy().name == before
    # Variables stay float32: an evaluation model in float32 restores them.
    checkpoints.restore_model(_config(2), str(tmp_path), 2)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"batch_size": 0}, "config.train.batch_size=0"),
        ({"log_every_steps": -1}, "config.train.log_every_steps=-1"),
        ({"dtype_policy": "float16"}, "config.train.dtype_policy='float16'"),
        ({"head_only_steps": 6}, "head-only phase"),
    ],
)
def test_bad_train_config_names_the_key(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        _train(_config(6, **changes), tmp_path)


def test_restore_model_without_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="Train first"):
        checkpoints.restore_model(_config(6), str(tmp_path), 2)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tests.test_loop import _config, _dataset_fn, _examples
    from training import loop, summaries

    images, labels = _examples(4)
    # 4 examples repeated: a global batch of 8 is [a b c d a b c d] and each of the 2 replicas
    # gets [a b c d], so per-replica batch-norm statistics equal the global ones and the
    # losses must agree up to float summation order.
    losses = {}
    for name, strategy in [
        ("default", tf.distribute.get_strategy()),
        ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
    ]:
        workdir = sys.argv[1] + "/" + name
        loop.train(_config(3), workdir, strategy, _dataset_fn(images, labels), 2, 4)
        loss = summaries.read_scalars(workdir)["loss"]
        losses[name] = [loss[step] for step in (1, 2, 3)]
        losses[name + "_replicas"] = strategy.num_replicas_in_sync

    # The production step under the mirrored strategy, with the device half of the input
    # (uint8 windows cut and resized by model_input): run one step, then walk its graph.
    import functools
    import keras
    from input_pipeline import resample
    from models import builder
    from tests.conftest import uint8_gathers

    with strategy.scope():
        model = builder.build_model(_config(1), 2)
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64)
    frames = tf.cast(tf.reshape(tf.range(8 * 20 * 20 * 3) % 251, [8, 1, 20, 20, 3]), tf.uint8)
    boxes = tf.fill([8, 1, 4], 2) + [0, 0, 14, 14]
    windows = resample.Windows(frames, boxes, tf.zeros([8, 1], bool))
    batches = tf.data.Dataset.from_tensors((windows, tf.zeros([8], tf.int32))).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(batches))
    preprocess = functools.partial(resample.model_input, size=16, flow=False)
    train_fn = loop.make_train_fn(model, optimizer, strategy, step, 8, preprocess)
    losses["windows_loss"] = float(train_fn(iterator, tf.constant(1))[0][0])
    outside, inside = uint8_gathers(train_fn.get_concrete_function(iterator, tf.constant(1)))
    losses["gathers"] = [len(outside), len(inside)]
    print(json.dumps(losses))
    """
)


def test_mirrored_on_two_cpu_devices_matches_single_device(tmp_path):
    # Logical devices must be configured before TensorFlow initializes: a fresh process.
    env = {**os.environ, "PYTHONPATH": REPO}
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    losses = json.loads(completed.stdout.strip().splitlines()[-1])
    assert losses["mirrored_replicas"] == 2
    # Step 1: same initial weights, same examples. Steps 2-3: the all-reduced update matched.
    np.testing.assert_allclose(losses["mirrored"], losses["default"], rtol=1e-4)
    # Each replica's step compiled with XLA: the resample's gathers inside a cluster (2 per
    # traced replica function), none outside; and the step runs.
    outside, inside = losses["gathers"]
    assert outside == 0 and inside >= 2 and np.isfinite(losses["windows_loss"])


def _one_step(model, batch, preprocess, num_segments: int = 1) -> float:
    """One compiled train step (SGD 0.1) on `batch`; returns its loss."""
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    strategy = tf.distribute.get_strategy()
    train_fn = loop.make_train_fn(model, optimizer, strategy, step, 8, preprocess, num_segments)
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    return float(train_fn(iterator, tf.constant(1))[0][0])


@pytest.mark.parametrize("partial_bn", [True, False])
def test_partial_bn_moves_only_the_first_batch_norm_layers_statistics(partial_bn):
    config = _config(1)
    config.model.tiny_widths = (8, 16, 16)
    model = builder.build_model(config, 2)
    builder.set_backbone_trainable(model, True)
    if partial_bn:
        builder.freeze_batch_norm_but_first(model)
    layers = [
        layer
        for layer in builder.get_backbone(model).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(layers) == 3

    def state():
        return [(layer.moving_mean.numpy(), layer.gamma.numpy()) for layer in layers]

    before = state()
    images, labels = _examples(8)
    _one_step(model, (images, labels), tf.identity)
    moved = [not np.allclose(a[0], b[0]) for a, b in zip(before, state(), strict=True)]
    trained = [not np.allclose(a[1], b[1]) for a, b in zip(before, state(), strict=True)]
    assert moved == [True, not partial_bn, not partial_bn]
    assert trained == [True, not partial_bn, not partial_bn]  # TSN freezes gamma, beta too


def test_segments_train_on_the_consensus_of_each_examples_snippets():
    # 8 examples of K = 2 RGB snippets shipped as windows [8, 2, 20, 20, 3]: the step's loss
    # is the cross-entropy of softmax(mean of the two snippets' logits), snippets in order.
    from input_pipeline import resample, samples
    from tfrecords import streams
    from training import experiment

    model = builder.build_model(_config(1), 2)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (8, 2, 20, 20, 3), dtype=np.uint8)
    frames[:4, 1] = 255 - frames[:4, 1]  # the snippets of an example differ
    labels = np.array([0, 1] * 4, np.int32)
    windows = resample.Windows(
        tf.constant(frames), tf.constant([[[2, 1, 16, 17]]] * 8), tf.zeros([8, 1], bool)
    )
    spec = samples.SampleSpec(
        streams.SPATIAL, 10, SIZE, 1, (1.0,), 0, False, "INTEGER_FAST", 1.0, 1, 1, num_segments=2
    )
    images = experiment.model_input(windows, spec)
    assert images.shape == (16, SIZE, SIZE, 3)
    logits = builder.logits_model(model)(images, training=True).numpy().reshape(8, 2, 2)
    mean = logits.mean(axis=1)
    log_softmax = mean - np.log(np.exp(mean).sum(-1, keepdims=True))
    expected = -log_softmax[np.arange(8), labels].mean()
    preprocess = functools.partial(experiment.model_input, spec=spec)
    loss = _one_step(model, (windows, tf.constant(labels)), preprocess, num_segments=2)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
