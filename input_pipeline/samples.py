"""One sample of a stream: choose frame indices, gather those encoded frames, decode, crop, flip.

The per-record steps of the input pipeline, in the order the datasets apply them:

  train: `gather_train` (parse, M random starts, gather M x L encoded strings per frame
         list) -> [unbatch, shuffle] -> `decode_train` (random crop/flip, decode only the
         crop window, flip, resize) -> (image float32 [S, S, C], label int32)
  eval:  `gather_eval` (parse, K uniform starts, gather K x L strings) -> [unbatch]
         -> `decode_eval` (decode each frame once, cut the V crop views, flip, resize)
         -> V views

Only the gathered strings are ever decoded: decoding a sample of a 1,000-frame video costs
what it costs for a 30-frame one (reading and parsing the record still grow with its size).
Images stay in stored units (RGB 0..255 in RGB order; flow quantized 0..255 with x flipped as
255 - x); the model normalizes (configs/base.py).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import tensorflow as tf

from input_pipeline import crops, flow, sampling
from tfrecords import schema


@dataclasses.dataclass(frozen=True)
class SampleSpec:
    """How samples of one stream are read, cut and sized (see `datasets.sample_spec`).

    Attributes:
      temporal: True for flow stacks (temporal stream), False for one RGB frame (spatial).
      length: frames per sample: 1 for RGB, L for flow.
      image_size: S, side of the model input.
      samples_per_video: M, training samples drawn from each record read (a record holds a
        whole video, so reading and parsing it is amortized over M samples).
      crop_scales: training crop sides as fractions of the frame's short side.
      max_scale_jitter: largest difference between height and width scale indices.
      random_flip: mirror half of the training samples.
      dct_method: JPEG IDCT, 'INTEGER_FAST' or 'INTEGER_ACCURATE'.
      eval_crop_scale: evaluation crop side as a fraction of the short side.
      eval_num_samples: K, samples uniformly spaced over a video at evaluation.
      eval_num_crops: crop views per sample at evaluation (1, 5 or 10).
    """

    temporal: bool
    length: int
    image_size: int
    samples_per_video: int
    crop_scales: tuple[float, ...]
    max_scale_jitter: int
    random_flip: bool
    dct_method: str
    eval_crop_scale: float
    eval_num_samples: int
    eval_num_crops: int

    @property
    def frame_keys(self) -> tuple[str, ...]:
        """`schema.parse_video` keys of the frame lists read at each time step."""
        return (schema.FLOW_X, schema.FLOW_Y) if self.temporal else (schema.RGB,)

    @property
    def count_key(self) -> str:
        """`schema.parse_video` key of the frame count indices are drawn from."""
        return schema.NUM_FLOW if self.temporal else schema.NUM_RGB

    @property
    def frame_channels(self) -> int:
        """Channels of one decoded frame: 1 (grayscale flow) or 3 (RGB)."""
        return 1 if self.temporal else 3

    @property
    def num_channels(self) -> int:
        """C, channels of a sample: 2L for flow, 3 for RGB."""
        return self.frame_channels * len(self.frame_keys) * self.length


class TrainSample(NamedTuple):
    """Training samples before decoding (leading [M] until unbatched).

    Attributes:
      frames: one string [M, length] (or [length]) of encoded JPEGs per
        `SampleSpec.frame_keys`.
      label: int32 [M] (or scalar).
      seed: int64 [M, 2] (or [2]), seed of each sample's crop and flip.
    """

    frames: tuple[tf.Tensor, ...]
    label: tf.Tensor
    seed: tf.Tensor


class EvalSample(NamedTuple):
    """Evaluation samples of one video before decoding (leading [K] until unbatched).

    Attributes:
      frames: one string [K, length] (or [length]) per `SampleSpec.frame_keys`.
      label: int32 [K] (or scalar).
      video_id: string [K] (or scalar).
      sample: int32 [K] (or scalar), index k of the sample within its video.
    """

    frames: tuple[tf.Tensor, ...]
    label: tf.Tensor
    video_id: tf.Tensor
    sample: tf.Tensor


def _parse(serialized: tf.Tensor, spec: SampleSpec) -> dict:
    return schema.parse_video(serialized, rgb=not spec.temporal, flow=spec.temporal)


def gather_train(serialized: tf.Tensor, seed: tf.Tensor, spec: SampleSpec) -> TrainSample:
    """Parses a record, draws M starts and gathers the encoded frames of M samples.

    Args:
      serialized: string scalar, one record.
      seed: int64 [2], the record's random seed (starts, crops and flips derive from it).
      spec: the stream's SampleSpec.

    Returns:
      TrainSample with leading dimension M = samples_per_video on every field, `length`
      encoded strings per sample and frame list.
    """
    parsed = _parse(serialized, spec)
    start_seed, crop_seed = tf.unstack(tf.random.split(seed, 2))
    count = parsed[spec.count_key]
    m = spec.samples_per_video
    starts = sampling.random_starts(count, spec.length, m, start_seed)
    indices = sampling.frame_indices(starts, spec.length, count)
    frames = tuple(tf.gather(parsed[key], indices) for key in spec.frame_keys)
    return TrainSample(frames, tf.fill([m], parsed[schema.LABEL]), tf.random.split(crop_seed, m))


def gather_eval(serialized: tf.Tensor, spec: SampleSpec) -> EvalSample:
    """Parses a record and gathers the encoded frames of its K uniformly spaced samples.

    Args:
      serialized: string scalar, one record.
      spec: the stream's SampleSpec.

    Returns:
      EvalSample with leading dimension K on every field.
    """
    parsed = _parse(serialized, spec)
    count = parsed[spec.count_key]
    starts = sampling.uniform_starts(count, spec.length, spec.eval_num_samples)
    indices = sampling.frame_indices(starts, spec.length, count)
    frames = tuple(tf.gather(parsed[key], indices) for key in spec.frame_keys)
    k = spec.eval_num_samples
    return EvalSample(
        frames,
        tf.fill([k], parsed[schema.LABEL]),
        tf.fill([k], parsed[schema.VIDEO_ID]),
        tf.range(k, dtype=tf.int32),
    )


def _stack(decoded: list[list[tf.Tensor]], spec: SampleSpec) -> tf.Tensor:
    """[time][frame key] -> [h, w, C]: RGB as is, flow x/y interleaved over time."""
    if spec.temporal:
        return flow.interleave([step[0] for step in decoded], [step[1] for step in decoded])
    return decoded[0][0]


def _flip(stack: tf.Tensor, flip: tf.Tensor, spec: SampleSpec) -> tf.Tensor:
    if spec.temporal:
        return flow.flip_flow(stack, flip)
    return crops.flip_left_right(stack, flip)


def decode_train(sample: TrainSample, spec: SampleSpec) -> tuple[tf.Tensor, tf.Tensor]:
    """Random crop and flip of one sample, decoding only the crop window of each frame.

    The crop is drawn once from the first frame's size and used for every frame / channel.

    Args:
      sample: one unbatched TrainSample from `gather_train`.
      spec: the stream's SampleSpec.

    Returns:
      (image float32 [S, S, C] in stored units, label int32 scalar).
    """
    frame_hw = tf.io.extract_jpeg_shape(sample.frames[0][0])[:2]
    params = crops.random_crop_params(
        frame_hw, spec.crop_scales, spec.max_scale_jitter, spec.random_flip, sample.seed
    )
    decoded = [
        [
            crops.decode_crop(frames[t], params, spec.frame_channels, spec.dct_method)
            for frames in sample.frames
        ]
        for t in range(spec.length)
    ]
    stack = _flip(_stack(decoded, spec), params.flip, spec)
    image = crops.resize(stack, spec.image_size)
    image.set_shape([spec.image_size, spec.image_size, spec.num_channels])
    return image, sample.label


def decode_eval(sample: EvalSample, spec: SampleSpec) -> dict[str, tf.Tensor]:
    """The V = eval_num_crops crop views of one sample (each frame decoded once).

    Args:
      sample: one unbatched EvalSample (frames [length] per frame list).
      spec: the stream's SampleSpec.

    Returns:
      {'image': float32 [V, S, S, C], 'label': int32 [V], 'video_id': string [V],
      'view': int32 [V] = sample * V + crop index}.
    """
    decoded = [
        [
            tf.io.decode_jpeg(frames[t], channels=spec.frame_channels, dct_method=spec.dct_method)
            for frames in sample.frames
        ]
        for t in range(spec.length)
    ]
    stack = _stack(decoded, spec)
    num_views = spec.eval_num_crops
    params = crops.eval_crop_params(tf.shape(stack)[:2], spec.eval_crop_scale, num_views)
    views = []
    for v in range(num_views):
        view = params.view(v)
        views.append(_flip(crops.crop(stack, view), view.flip, spec))
    images = crops.resize(tf.stack(views), spec.image_size)
    images.set_shape([num_views, spec.image_size, spec.image_size, spec.num_channels])
    return {
        "image": images,
        "label": tf.fill([num_views], sample.label),
        "video_id": tf.fill([num_views], sample.video_id),
        "view": sample.sample * num_views + tf.range(num_views, dtype=tf.int32),
    }
