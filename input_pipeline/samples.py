"""One sample of a stream on the host: choose frame indices, gather those frames, decode the window.

The per-record steps of the input pipeline, in the order the datasets apply them:

  train: `gather_train` (parse, M examples of K random starts (one per segment), gather
         M x K x L encoded strings per frame list) -> [unbatch, shuffle] -> `decode_train`
         (draw the crop window and flip, decode only the window of each frame, stack)
         -> (Windows with frames uint8 [K x T, h, w, c] and one view, label int32)
  eval:  `gather_eval` (parse, the video's K uniform samples that lie in this record, gather
         their strings) -> [unbatch] -> `decode_eval` (decode each frame once, stack, the V
         crop views as boxes and flips)
         -> Windows with frames uint8 [T, H, W, c] and V views

Only the gathered strings are ever decoded: decoding a sample of a 1,000-frame video costs
what it costs for a 30-frame one. Nothing here works in float: frames stay uint8 in stored
units (RGB 0..255 in RGB order; flow quantized 0..255); the crop views are cut, mirrored
(flow: x negated), resized and cast on the device by `input_pipeline.resample.model_input`,
and the model normalizes (models/normalization.py).

T frames of c channels: RGB T = 1, c = 3; flow T = 2L planes x_0, y_0, x_1, y_1, ..., c = 1,
so the T x c channels of a sample are already in the model's channel order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

from input_pipeline import crops, sampling
from input_pipeline.resample import Windows
from tfrecords import schema, streams

# Keys of an evaluation element (`decode_eval`) and of its batches (`datasets.eval_views`);
# evaluation/ reads the batches by these names.
WINDOWS = "windows"
LABEL = "label"
VIDEO_ID = "video_id"
VIEW = "view"

# serialized record, modality -> `schema.parse_record`'s dict (the format's only difference).
Parser = Callable[[tf.Tensor, str], dict]


@dataclasses.dataclass(frozen=True)
class SampleSpec:
    """How samples of one stream are read, cut and sized (see `datasets.sample_spec`).

    Attributes:
      stream: the stream (tfrecords/streams.py): its records, frame keys and channels.
      num_flow_frames: L, flow frames per temporal sample (a spatial sample is one frame).
      image_size: S, side of the model input.
      samples_per_video: M, training samples drawn from each record read (reading and
        parsing a record is amortized over M samples).
      crop_scales: training crop sides as fractions of the frame's short side.
      max_scale_jitter: largest difference between height and width scale indices.
      random_flip: mirror half of the training samples.
      dct_method: JPEG IDCT, 'INTEGER_FAST' or 'INTEGER_ACCURATE'.
      eval_crop_scale: evaluation crop side as a fraction of the short side.
      eval_num_samples: K, samples uniformly spaced over a video at evaluation.
      eval_num_crops: crop views per sample at evaluation (1, 5 or 10).
      num_segments: K, snippets per training example, one from each of K equal segments of
        the video (TSN); 1 is one snippet drawn from the whole video.
    """

    stream: streams.Stream
    num_flow_frames: int
    image_size: int
    samples_per_video: int
    crop_scales: tuple[float, ...]
    max_scale_jitter: int
    random_flip: bool
    dct_method: str
    eval_crop_scale: float
    eval_num_samples: int
    eval_num_crops: int
    num_segments: int = 1

    @property
    def modality(self) -> str:
        """The records the stream reads: schema.FLOW_MODALITY or schema.RGB_MODALITY."""
        return self.stream.modality

    @property
    def frame_keys(self) -> tuple[str, ...]:
        """`schema.parse_record` keys of the frame lists read at each time step."""
        return self.stream.frame_keys

    @property
    def frame_channels(self) -> int:
        """c, channels of one decoded frame: 1 (grayscale flow) or 3 (RGB)."""
        return self.stream.frame_channels

    @property
    def length(self) -> int:
        """Time steps per sample: L for flow, 1 for RGB."""
        return self.stream.sample_length(self.num_flow_frames)

    @property
    def num_frames(self) -> int:
        """T, decoded frames per sample: 2L flow planes or 1 RGB frame."""
        return self.stream.frames_per_sample(self.num_flow_frames)

    @property
    def num_channels(self) -> int:
        """C = T x c, channels of a model input: 2L for flow, 3 for RGB."""
        return self.stream.channels(self.num_flow_frames)

    @property
    def train_length(self) -> int:
        """Time steps gathered per training example: K snippets of `length`, snippet-major."""
        return self.num_segments * self.length

    @property
    def train_frames(self) -> int:
        """K x T, decoded frames per training example (`resample.fold_segments` splits them)."""
        return self.num_segments * self.num_frames


class TrainSample(NamedTuple):
    """Training examples before decoding (leading [M] until unbatched).

    Attributes:
      frames: one string [M, K x length] (or [K x length]) of encoded JPEGs per
        `SampleSpec.frame_keys`, the K snippets one after the other.
      label: int32 [M] (or scalar).
      seed: int64 [M, 2] (or [2]), seed of each sample's crop and flip.
    """

    frames: tuple[tf.Tensor, ...]
    label: tf.Tensor
    seed: tf.Tensor


class EvalSample(NamedTuple):
    """Evaluation samples of one record before decoding (leading [k] until unbatched).

    Attributes:
      frames: one string [k, length] (or [length]) per `SampleSpec.frame_keys`.
      label: int32 [k] (or scalar).
      video_id: string [k] (or scalar).
      sample: int32 [k] (or scalar), index of the sample among the video's K.
    """

    frames: tuple[tf.Tensor, ...]
    label: tf.Tensor
    video_id: tf.Tensor
    sample: tf.Tensor


def gather_train(
    serialized: tf.Tensor, seed: tf.Tensor, spec: SampleSpec, parse: Parser = schema.parse_record
) -> TrainSample:
    """Parses a record, draws M examples' starts and gathers their encoded frames.

    Starts are uniform over the record's frames: a whole video (flow, or RGB in one chunk), or
    one strided chunk of it (RGB in K' chunks: frames j, j + K', ..., which span the whole
    video, so every run of K' consecutive frames is equally likely; see
    `schema.chunk_frame_indices`). With `spec.num_segments` = K > 1 an example takes one
    start inside each of K equal segments of those frames (`sampling.segment_starts`; a
    chunk's segments are the video's, to within K' frames); K = 1 draws one start over all
    of them (`sampling.random_starts`).

    Args:
      serialized: string scalar, one record of `spec.modality`.
      seed: int64 [2], the record's random seed (starts, crops and flips derive from it).
      spec: the stream's SampleSpec.
      parse: the records' parser: `schema.parse_record` (SequenceExample shards) or
        `tfrecords.tfds_schema.example_parser` (TFDS examples); both give the same dict.

    Returns:
      TrainSample with leading dimension M = samples_per_video on every field, K x `length`
      encoded strings per example and frame list.
    """
    parsed = parse(serialized, spec.modality)
    start_seed, crop_seed = tf.unstack(tf.random.split(seed, 2))
    count = tf.shape(parsed[spec.frame_keys[0]], out_type=tf.int32)[0]
    m = spec.samples_per_video
    if spec.num_segments == 1:
        starts = sampling.random_starts(count, spec.length, m, start_seed)[:, tf.newaxis]
    else:
        starts = sampling.segment_starts(count, spec.length, spec.num_segments, m, start_seed)
    indices = sampling.frame_indices(starts, spec.length, count)  # [M, K, length]
    indices = tf.reshape(indices, [m, spec.train_length])
    frames = tuple(tf.gather(parsed[key], indices) for key in spec.frame_keys)
    return TrainSample(frames, tf.fill([m], parsed[schema.LABEL]), tf.random.split(crop_seed, m))


def gather_eval(
    serialized: tf.Tensor, spec: SampleSpec, parse: Parser = schema.parse_record
) -> EvalSample:
    """Parses a record and gathers the encoded frames of the video's eval samples it holds.

    The K = eval_num_samples samples of a video are uniformly spaced over the whole video
    (`sampling.uniform_starts` of its frame count). A whole-video record holds all K; a
    strided chunk j of K' chunks holds the samples whose frame index is j mod K', at position
    index // K', so the K' chunks of a video yield each sample exactly once.

    Args:
      serialized: string scalar, one record of `spec.modality`.
      spec: the stream's SampleSpec.
      parse: the records' parser, as for `gather_train`.

    Returns:
      EvalSample with leading dimension k <= K (K for whole-video records).
    """
    parsed = parse(serialized, spec.modality)
    num_chunks, chunk = parsed[schema.NUM_CHUNKS], parsed[schema.CHUNK]
    check = tf.debugging.assert_equal(
        tf.logical_or(num_chunks == 1, spec.length == 1),
        True,
        message="a chunked record cannot hold consecutive frames; rewrite the data directory",
    )
    with tf.control_dependencies([check]):
        count = tf.identity(parsed[schema.VIDEO_FRAMES])
    starts = sampling.uniform_starts(count, spec.length, spec.eval_num_samples)
    indices = sampling.frame_indices(starts, spec.length, count)  # [K, length], video frames
    here = tf.equal(indices[:, 0] % num_chunks, chunk)
    positions = tf.boolean_mask(indices // num_chunks, here)
    frames = tuple(tf.gather(parsed[key], positions) for key in spec.frame_keys)
    k = tf.shape(positions)[0]
    return EvalSample(
        frames,
        tf.fill([k], parsed[schema.LABEL]),
        tf.fill([k], parsed[schema.VIDEO_ID]),
        tf.boolean_mask(tf.range(spec.eval_num_samples, dtype=tf.int32), here),
    )


def _stack(decoded: list[list[tf.Tensor]]) -> tf.Tensor:
    """[time][frame key] of [h, w, c] -> [T, h, w, c], time-major (flow: x_0, y_0, x_1, ...)."""
    return tf.stack([frame for step in decoded for frame in step])


def decode_train(sample: TrainSample, spec: SampleSpec) -> tuple[Windows, tf.Tensor]:
    """Random crop window and flip of one example, decoding only the window of each frame.

    The window is drawn once from the first frame's size and used for every frame, so all
    channels of a stack, and all K snippets of an example (TSN), are cut from the same place;
    the flip is drawn here and applied on the device with the resize (`resample.model_input`).

    Args:
      sample: one unbatched TrainSample from `gather_train`.
      spec: the stream's SampleSpec.

    Returns:
      (Windows with frames uint8 [K x T, h, w, c] (the window, snippet-major), boxes int32
      [1, 4] = (0, 0, h, w), flips bool [1]; label int32 scalar).
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
        for t in range(spec.train_length)
    ]
    box = tf.stack([0, 0, params.height, params.width])[tf.newaxis]
    return Windows(_stack(decoded), box, params.flip[tf.newaxis]), sample.label


def decode_eval(sample: EvalSample, spec: SampleSpec) -> dict[str, tf.Tensor | Windows]:
    """The V = eval_num_crops crop views of one sample, each frame decoded once.

    Args:
      sample: one unbatched EvalSample (frames [length] per frame list).
      spec: the stream's SampleSpec.

    Returns:
      {WINDOWS: Windows with frames uint8 [T, H, W, c] (whole frames), boxes int32 [V, 4],
      flips bool [V]; LABEL: int32 [V], VIDEO_ID: string [V], VIEW: int32 [V] =
      sample * V + crop index}.
    """
    decoded = [
        [
            tf.io.decode_jpeg(frames[t], channels=spec.frame_channels, dct_method=spec.dct_method)
            for frames in sample.frames
        ]
        for t in range(spec.length)
    ]
    stack = _stack(decoded)
    num_views = spec.eval_num_crops
    params = crops.eval_crop_params(tf.shape(stack)[1:3], spec.eval_crop_scale, num_views)
    return {
        WINDOWS: Windows(stack, params.boxes(), params.flip),
        LABEL: tf.fill([num_views], sample.label),
        VIDEO_ID: tf.fill([num_views], sample.video_id),
        VIEW: sample.sample * num_views + tf.range(num_views, dtype=tf.int32),
    }
