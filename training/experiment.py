"""train.py's library call: a data directory and a strategy in, a trained workdir out."""

from __future__ import annotations

import functools

import ml_collections
import numpy as np
import tensorflow as tf

from input_pipeline import datasets, resample, samples
from models import builder
from tfrecords import manifest as manifest_lib
from training import loop


def data_seed(seed: int, start_step: int) -> int:
    """The input pipeline's seed for a run starting at `start_step`.

    A fresh run uses `config.seed` itself; a resumed one mixes in the step, so it draws new
    samples instead of replaying the interrupted run's first ones (the pipeline's randomness
    is stateless, a function of its seed).
    """
    if start_step == 0:
        return seed
    return int(np.random.SeedSequence([seed, start_step]).generate_state(1)[0])


def _dataset_fn(
    config: ml_collections.ConfigDict,
    data_dir: str,
    context: tf.distribute.InputContext,
    start_step: int,
) -> tf.data.Dataset:
    data_config = config.copy_and_resolve_references()
    data_config.seed = data_seed(config.seed, start_step)
    return datasets.train_dataset(data_config, data_dir, config.train.batch_size, context)


def model_input(windows: resample.Windows, spec: samples.SampleSpec) -> tf.Tensor:
    """A training batch's images, in the step: K snippets folded into the batch, resized.

    Returns:
      float32 [b x K, S, S, C] (`resample.fold_segments`, then `resample.model_input`).
    """
    folded = resample.fold_segments(windows, spec.num_segments)
    return resample.model_input(folded, spec.image_size, spec.stream.flow)


def check_config(config: ml_collections.ConfigDict) -> samples.SampleSpec:
    """The stream's sample spec, after checking every config value training will use.

    Raises:
      tfrecords.errors.ConfigError: a config value the pipeline or the loop cannot use.
    """
    spec = datasets.sample_spec(config)
    builder.check_image_size(config)
    loop.check_train_config(config.train, num_replicas=1)  # `loop.train` checks the replicas
    return spec


def train_on_data_dir(
    config: ml_collections.ConfigDict,
    workdir: str,
    data_dir: str,
    strategy: tf.distribute.Strategy,
) -> loop.TrainResult:
    """Trains on the train subset of a Beam job's output directory (see `loop.train`).

    The number of classes and of training videos (for epoch durations) come from
    `data_dir/manifest.json`; each input pipeline reads its share of the stream's train
    shards through the strategy's input context and ships uint8 windows, which the step
    cuts, flips and resizes on the device (`model_input`).

    Raises:
      tfrecords.manifest.ManifestError: no usable manifest, no train shards, or a train
        shard found corrupt while training (naming it).
      tfrecords.errors.ConfigError: a config value the pipeline or the loop cannot use.
      ValueError, loop.NonFiniteLossError, training.checkpoints.CheckpointError: see
        `loop.train`.
    """
    spec = check_config(config)  # the config first: a bad value stops before any I/O
    manifest = manifest_lib.read_manifest(data_dir)
    manifest.shard_paths(data_dir, datasets.TRAIN_SUBSET, spec.modality)  # raises if none
    try:
        return loop.train(
            config,
            workdir,
            strategy,
            functools.partial(_dataset_fn, config, data_dir),
            manifest.num_classes,
            manifest.written[datasets.TRAIN_SUBSET],
            functools.partial(model_input, spec=spec),
        )
    except tf.errors.DataLossError:
        # tf.data does not name the damaged file; find it (raises ManifestError if a shard is).
        manifest_lib.check_records(data_dir, manifest, datasets.TRAIN_SUBSET)
        raise
