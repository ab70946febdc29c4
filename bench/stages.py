"""Stages of the train path timed on their own: the JPEG decode limit and the device half.

`bench.pipeline_throughput` times them beside the whole pipeline, each as an iterator of
(something, labels) batches for `bench.measure.measure_iterator`, so every figure is taken
the same way (same warmup, same clock, CPU and wall from one round):
  - the decode limit: the pipeline's JPEG bytes decoded and nothing else, in a tf.data map
    on the pipeline's threads; `decode_crop_windows` decodes as the pipeline does
    (`samples.decode_train`: the crop window and flip drawn once per sample from the first
    frame's shape, every frame's window decoded, stacked), `decode_full_frames` decodes the
    same frames whole;
  - the device half: `resample.model_input` compiled with XLA as the step compiles it, on
    batches the pipeline made.

Imports TensorFlow: import it after `bench.measure.pin_process`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import ml_collections
import numpy as np
import tensorflow as tf

from input_pipeline import datasets, resample, samples
from input_pipeline.resample import Windows
from input_pipeline.samples import SampleSpec, TrainSample
from tfrecords import manifest as manifest_lib


def _encoded_samples(pool: list[bytes], spec: SampleSpec) -> tf.data.Dataset:
    """((frames, label), seed) of `samples.TrainSample`s made of `pool`'s JPEGs, forever.

    Sample i takes its T frames from the pool in turn from JPEG i on, so consecutive samples
    decode different bytes; seeds are drawn as the pipeline draws them.
    """
    keys, length = len(spec.frame_keys), spec.length
    index = (np.arange(len(pool))[:, None] + np.arange(keys * length)) % len(pool)
    encoded = tf.gather(tf.constant(pool), index.reshape(-1, keys, length))
    frames = tuple(encoded[:, k] for k in range(keys))
    strings = tf.data.Dataset.from_tensor_slices((frames, tf.zeros([len(pool)], tf.int32)))
    return tf.data.Dataset.zip(strings.repeat(), tf.data.Dataset.random(seed=0).batch(2))


def decode_full_frames(sample: TrainSample, spec: SampleSpec) -> tf.Tensor:
    """Every frame of `sample` decoded whole, stacked as `decode_train` stacks its windows."""
    decoded = [
        tf.io.decode_jpeg(frames[t], channels=spec.frame_channels, dct_method=spec.dct_method)
        for t in range(spec.length)
        for frames in sample.frames
    ]
    return tf.stack(decoded)


def decode_crop_windows(sample: TrainSample, spec: SampleSpec) -> tf.Tensor:
    """The pipeline's own decode (`samples.decode_train`): one window per sample, 2L crops."""
    windows, _ = samples.decode_train(sample, spec)
    return windows.frames


def decode_limit(
    pool: list[bytes],
    spec: SampleSpec,
    decode: Callable[[TrainSample, SampleSpec], tf.Tensor],
    batch_size: int,
    options: tf.data.Options,
) -> Callable[[], Iterator]:
    """Batches of decoded samples and nothing else, made by `decode` (one of the above).

    The JPEG bytes are decoded in a tf.data map as the pipeline's map decodes them (same
    threads, same `options`); each sample is reduced to a checksum so neither the batching
    nor a copy of the pixels is counted.
    """

    def checksum(strings: tuple, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        frames, label = strings
        decoded = decode(TrainSample(frames, label, seed), spec)
        # One pixel per frame: a slice of the stack along its own axis would let grappler
        # keep only that frame's decode (RemoveStackSliceSameAxis).
        return tf.reduce_sum(tf.cast(decoded[:, 0, 0, 0], tf.int32)), label

    limit = _encoded_samples(pool, spec).map(checksum, num_parallel_calls=tf.data.AUTOTUNE)
    limit = limit.batch(batch_size).with_options(options)
    return lambda: iter(limit)


def device_half(windows: Windows, labels: tf.Tensor, spec: SampleSpec) -> Callable[[], Iterator]:
    """`resample.model_input` compiled as the step compiles it (XLA), on one batch.

    The iterator calls it on `windows` over and over and yields (views, labels), so
    `measure.measure_iterator` counts samples (labels [b] or [b, V]: b samples a call).
    """
    model_input = tf.function(
        functools.partial(resample.model_input, size=spec.image_size, flow=spec.stream.flow),
        jit_compile=True,
    )

    def batches() -> Iterator:
        while True:
            yield model_input(windows), labels

    return batches


def eval_batch(config: ml_collections.ConfigDict, data_dir: str) -> tuple[Windows, tf.Tensor]:
    """The first eval batch of the train records: (Windows, labels [b, V]) as eval ships them.

    `datasets.eval_views` at `config.eval.batch_size`: whole frames padded to the manifest's
    largest frame and the V views of each sample.
    """
    spec = datasets.sample_spec(config)
    manifest = manifest_lib.read_manifest(data_dir)
    records = tf.data.TFRecordDataset(
        manifest.shard_paths(data_dir, datasets.TRAIN_SUBSET, spec.modality)
    )
    frame_hw = tuple(manifest.max_frame_hw[spec.modality])
    batches = datasets.eval_views(records, spec, datasets.eval_batch_samples(config), frame_hw)
    batch = next(iter(batches))
    return batch[samples.WINDOWS], batch[samples.LABEL]
