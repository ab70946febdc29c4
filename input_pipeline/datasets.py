"""Train and eval datasets of either stream, read from a data directory's manifest and shards.

A stream reads only its modality's shards (spatial: RGB, temporal: flow). The host works in
uint8 and ships uint8 `resample.Windows`; the float work (crop views, mirror flip with x
negated for flow, bilinear resize to S x S, cast) runs in the train/eval step on the device:
`resample.model_input(windows, S, flow)`.

Train (repeats forever)::

    shard paths (this input pipeline's share) -> shuffle -> repeat
    -> interleave TFRecordDataset (parallel)            records, zipped with per-sample seeds
    -> map gather_train (parse, M x K random starts: K = config.data.num_segments snippets
       per example, one per segment, gather)   only the sampled encoded frames
    -> unbatch (M examples per record) -> shuffle (config.data.shuffle_buffer examples)
    -> map decode_train (draw window + flip, decode only the window of each frame)
    -> [tf.data service: everything above runs on its workers, windows cross unpadded]
    -> padded_batch to [b, K x T, side, side, c] (side: `train_window_side`; per-replica
       batch, drop remainder) -> prefetch
    => (Windows(frames uint8 [b, K x T, side, side, c], boxes int32 [b, 1, 4], flips bool
        [b, 1]), labels int32 [b]); `resample.fold_segments` makes it b x K snippets

Eval (one pass, deterministic order, every video exactly K x V views)::

    shards in manifest order -> map gather_eval (the K uniform samples in each record)
    -> unbatch -> map decode_eval (whole frames decoded once, V views as boxes + flips)
    -> padded_batch to the manifest's largest frame -> prefetch
    => {'windows': Windows(frames uint8 [b, T, H, W, c], boxes [b, V, 4], flips [b, V]),
        'label' int32 [b, V], 'video_id' string [b, V], 'view' int32 [b, V]}

Whole-video records give a video's views contiguously; strided RGB chunks (a training
subset evaluated for learned fusion) give them spread over the pass, each exactly once.

All steps are tf ops (no py_function, no Python generator); randomness is stateless, seeded
from `config.seed` and the input pipeline id, so `config.data.deterministic=True` repeats
runs exactly.
"""

from __future__ import annotations

import functools

import ml_collections
import numpy as np
import tensorflow as tf

from input_pipeline import crops, samples, service
from input_pipeline.resample import Windows
from tfrecords import manifest as manifest_lib
from tfrecords import schema, streams, tfds_schema
from tfrecords.errors import ConfigError, UserError

DCT_METHODS = ("INTEGER_FAST", "INTEGER_ACCURATE")
TRAIN_SUBSET = "train"


def _positive(name: str, value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r}: use a positive integer")
    return value


def _fraction(name: str, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{name}={value!r}: use a fraction of the short side in (0, 1]")
    return float(value)


def sample_spec(config: ml_collections.ConfigDict) -> samples.SampleSpec:
    """Checks `config.stream` and `config.data` and returns the stream's SampleSpec.

    Raises:
      ConfigError: naming the first config key whose value cannot be used.
    """
    stream = streams.get(config.stream)
    data = config.data
    scales = tuple(_fraction("config.data.crop_scales", s) for s in data.crop_scales)
    if not scales:
        raise ConfigError("config.data.crop_scales is empty: give at least one crop scale")
    jitter = data.max_scale_jitter
    if not isinstance(jitter, int) or jitter < 0:
        raise ConfigError(f"config.data.max_scale_jitter={jitter!r}: use an integer >= 0")
    if data.jpeg_dct_method not in DCT_METHODS:
        raise ConfigError(
            f"config.data.jpeg_dct_method={data.jpeg_dct_method!r}: use {DCT_METHODS}"
        )
    if data.eval_num_crops not in (1, crops.NUM_POSITIONS, 2 * crops.NUM_POSITIONS):
        raise ConfigError(f"config.data.eval_num_crops={data.eval_num_crops!r}: use 1, 5 or 10")
    _positive("config.data.shuffle_buffer", data.shuffle_buffer)
    _positive("config.data.num_parallel_reads", data.num_parallel_reads)
    service.check_config(data)
    return samples.SampleSpec(
        stream=stream,
        num_flow_frames=_positive("config.data.num_flow_frames", data.num_flow_frames),
        image_size=_positive("config.data.image_size", data.image_size),
        samples_per_video=_positive(
            "config.data.train_samples_per_video", data.train_samples_per_video
        ),
        crop_scales=scales,
        max_scale_jitter=jitter,
        random_flip=bool(data.random_flip),
        dct_method=data.jpeg_dct_method,
        eval_crop_scale=_fraction("config.data.eval_crop_scale", data.eval_crop_scale),
        eval_num_samples=_positive("config.data.eval_num_samples", data.eval_num_samples),
        eval_num_crops=data.eval_num_crops,
        num_segments=_positive("config.data.num_segments", data.num_segments),
    )


def record_parser(manifest: manifest_lib.Manifest, modality: str) -> samples.Parser:
    """The parser of the manifest's records of `modality`: SequenceExample or TFDS Example.

    Both return `schema.parse_record`'s dict, so everything after the parse step (sampling,
    seeds, windows) is the same for both formats.
    """
    if manifest.record_format == manifest_lib.TFDS_FORMAT:
        return tfds_schema.example_parser(modality, manifest.class_names)
    return schema.parse_record


def _options(deterministic: bool) -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = deterministic
    return options


def _pipeline_seed(seed: int, pipeline_id: int) -> int:
    """Independent seeds per input pipeline, from the experiment seed."""
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"config.seed={seed!r}: use an integer >= 0")
    return int(np.random.SeedSequence([seed, pipeline_id]).generate_state(1)[0])


def _train_shards(
    data_dir: str,
    manifest: manifest_lib.Manifest,
    modality: str,
    input_context: tf.distribute.InputContext | None,
) -> tuple[list[str], int]:
    """This input pipeline's shard paths and its id."""
    paths = manifest.shard_paths(data_dir, TRAIN_SUBSET, modality)
    if input_context is None:
        return paths, 0
    count, index = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(paths) < count:
        raise UserError(
            f"{data_dir}/{manifest_lib.MANIFEST_FILE}: {len(paths)} train shards cannot feed "
            f"{count} input pipelines; rewrite the data directory with at least {count} shards"
        )
    return paths[index::count], index


# A buffer plane whose size is a multiple of this many bytes makes the 2L planes of a flow
# window alias in the CPU cache when the device step reads them pixel by pixel: measured
# under XLA on this project's CPU, 4.2 ms per 224x224x20 view from a 256x256 buffer, 2.5 ms
# from 264x264.
_ALIASING_BYTES = 4096
_ALIGNMENT = 8


def train_window_side(config: ml_collections.ConfigDict, manifest: manifest_lib.Manifest) -> int:
    """Side of the square buffer training windows are padded into, for the manifest's data.

    `window_buffer_side` of the stream's largest frame.
    """
    spec = sample_spec(config)
    return window_buffer_side(manifest.max_frame_hw[spec.modality], spec.crop_scales)


def window_buffer_side(max_frame_hw: tuple[int, int], crop_scales: tuple[float, ...]) -> int:
    """Side of the square training buffer for frames up to `max_frame_hw` (height, width).

    The largest crop side `random_crop_params` can draw on such frames, plus `_ALIGNMENT`
    pixels when its planes would be a multiple of `_ALIASING_BYTES`.
    """
    side = crops.max_window_side(max_frame_hw, crop_scales)
    if side * side % _ALIASING_BYTES == 0:
        side += _ALIGNMENT
    return side


def train_dataset(
    config: ml_collections.ConfigDict,
    data_dir: str,
    global_batch_size: int,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Random training examples of `config.stream`, batched uint8 windows, repeating forever.

    Each record read yields `config.data.train_samples_per_video` examples (independent
    starts, crops and flips) of K = `config.data.num_segments` snippets each (one crop and
    flip for all K); one pass over the shards is that many examples per record (RGB:
    `manifest.rgb_chunks['train']` records per video, flow: one).

    Args:
      config: experiment config (stream, seed, data).
      data_dir: directory with manifest.json and the shards (local or gs://), or a built
        TFDS config folder of the stream's modality (`tfrecords.tfds_schema`).
      global_batch_size: batch size over all replicas.
      input_context: from `tf.distribute`; shards files by input pipeline and sizes the
        per-replica batch. None reads every shard into batches of `global_batch_size`.

    Returns:
      Dataset of (Windows(frames uint8 [b, K x T, side, side, c], boxes int32 [b, 1, 4] =
      (0, 0, h, w) of each window, flips bool [b, 1]), labels int32 [b]); the K snippets
      one after the other, T x c = 3 (RGB) or 2L (flow planes x_0, y_0, x_1, ...).
      `resample.fold_segments` then `resample.model_input` turn it into the model's
      float32 [b x K, S, S, T x c].

    Raises:
      ValueError: a config value, the batch size, or too few shards for the input pipelines.
      ManifestError: the data directory has no usable manifest or train shards.
    """
    spec = sample_spec(config)
    _positive("global_batch_size", global_batch_size)
    batch_size = global_batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    manifest = manifest_lib.read_manifest(data_dir)
    paths, pipeline_id = _train_shards(data_dir, manifest, spec.modality, input_context)
    side = train_window_side(config, manifest)
    seed = _pipeline_seed(config.seed, pipeline_id)
    data = config.data

    files = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=seed).repeat()
    records = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(data.num_parallel_reads, len(paths)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    gathered = tf.data.Dataset.zip(records, seeds).map(
        functools.partial(
            samples.gather_train, spec=spec, parse=record_parser(manifest, spec.modality)
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    gathered = gathered.unbatch().shuffle(data.shuffle_buffer, seed=seed)
    windows = gathered.map(
        functools.partial(samples.decode_train, spec=spec), num_parallel_calls=tf.data.AUTOTUNE
    )
    # Through the tf.data service, windows travel unpadded (a third of a padded buffer is
    # zeros) and the trainer pads them into batches: bench/README.md has the figures.
    windows = service.distribute(windows.with_options(_options(data.deterministic)), data)
    shapes = (Windows([spec.train_frames, side, side, spec.frame_channels], [1, 4], [1]), [])
    batches = windows.padded_batch(batch_size, shapes, drop_remainder=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def eval_batch_samples(config: ml_collections.ConfigDict) -> int:
    """Samples per eval batch: `config.eval.batch_size` views in whole samples of V views."""
    views = _positive("config.eval.batch_size", config.eval.batch_size)
    return samples_per_batch(views, config.data.eval_num_crops)


def samples_per_batch(views: int, num_crops: int) -> int:
    """`views` per batch in whole samples of `num_crops` views, at least one sample."""
    return max(1, views // num_crops)


def eval_views(
    records: tf.data.Dataset,
    spec: samples.SampleSpec,
    batch_samples: int,
    frame_hw: tuple[int, int],
    parse: samples.Parser = schema.parse_record,
) -> tf.data.Dataset:
    """The K x V evaluation views of each record of `records`, in `batch_samples` batches.

    Args:
      records: serialized records of `spec.modality`, read by `parse` (`record_parser`).
      spec: the stream's SampleSpec.
      batch_samples: samples per batch (the last may hold fewer).
      frame_hw: (H, W) the frames are zero-padded to (the largest frame of the records).
      parse: the records' parser.

    Returns:
      The batches `eval_dataset` documents, in record order.
    """
    per_sample = records.map(
        functools.partial(samples.gather_eval, spec=spec, parse=parse),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).unbatch()
    views = per_sample.map(
        functools.partial(samples.decode_eval, spec=spec), num_parallel_calls=tf.data.AUTOTUNE
    )
    v = spec.eval_num_crops
    shapes = {
        samples.WINDOWS: Windows([spec.num_frames, *frame_hw, spec.frame_channels], [v, 4], [v]),
        samples.LABEL: [v],
        samples.VIDEO_ID: [v],
        samples.VIEW: [v],
    }
    return views.padded_batch(batch_samples, shapes)


def eval_dataset(config: ml_collections.ConfigDict, data_dir: str, subset: str) -> tf.data.Dataset:
    """Every view of every video of `subset`, once, in a fixed order.

    Each video yields exactly K x V views (K = eval_num_samples uniformly spaced samples,
    V = eval_num_crops crops), `view` = k * V + crop index; short videos loop. A batch holds
    `eval_batch_samples(config)` samples (the last may hold fewer).

    Args:
      config: experiment config (stream, data, eval.batch_size).
      data_dir: directory with manifest.json and the shards, or a TFDS config folder.
      subset: manifest subset, e.g. 'test'.

    Returns:
      Dataset of {'windows': Windows(frames uint8 [b, T, H, W, c], boxes int32 [b, V, 4],
      flips bool [b, V]), 'label': int32 [b, V], 'video_id': string [b, V], 'view': int32
      [b, V]}; H, W the manifest's largest frame (smaller frames are zero-padded, their
      boxes inside the frame). `resample.model_input` gives float32 [b x V, S, S, T x c].

    Raises:
      ValueError: a config value.
      ManifestError: the data directory has no usable manifest or no `subset` shards.
    """
    spec = sample_spec(config)
    batch_samples = eval_batch_samples(config)
    manifest = manifest_lib.read_manifest(data_dir)
    paths = manifest.shard_paths(data_dir, subset, spec.modality)
    records = tf.data.TFRecordDataset(
        paths, num_parallel_reads=min(config.data.num_parallel_reads, len(paths))
    )
    frame_hw = tuple(manifest.max_frame_hw[spec.modality])
    parse = record_parser(manifest, spec.modality)
    batches = eval_views(records, spec, batch_samples, frame_hw, parse)
    return batches.prefetch(tf.data.AUTOTUNE).with_options(_options(True))
