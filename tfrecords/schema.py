"""The record layout: per video, RGB and flow in separate `tf.train.SequenceExample`s.

A stream reads only its modality (schema version 2). Key names follow MediaPipe's
MediaSequence where it has one, so DMVR and the TF Model Garden video readers read the RGB
records unchanged; flow uses the same keys under the `FORWARD_FLOW` prefixes.

RGB records: a video's N frames as `num_chunks` (K) *strided chunks*: chunk j holds frames
j, j+K, j+2K, ... (`chunk_frame_indices`). Every video has exactly K records, so reading
records uniformly picks videos uniformly, and every chunk spans the whole video, so a frame
drawn from a chunk is spread over the video's length; a read costs 1/K of the video's bytes.
K = 1 is a whole video (the evaluation subsets).

Flow records: always the whole video (a stack needs L consecutive frames), K = 1.

Context (one value per record)::

    clip/media_id                    bytes   canonical video id, e.g. b"v_ApplyEyeMakeup_g08_c01"
    clip/label/index                 int64   0-based class index (classInd.txt number - 1)
    clip/label/string                bytes   class name as in classInd.txt
    clip/chunk/index                 int64   j, 0 <= j < K
    clip/chunk/count                 int64   K (flow records: 1)
    clip/num_frames                  int64   frames of the modality in the whole video: N for
                                             RGB, N - 1 for flow (a chunk holds fewer)
    ucf101/group                     int64   group number (clips of a group share actor/scene)
    ucf101/clip                      int64   clip number within the group
    ucf101/source                    bytes   b"frames" (archives) or b"videos/<flow algorithm>"
    ucf101/schema_version            int64   SCHEMA_VERSION
    image/frame_rate                 float   frames per second (UCF-101: FRAME_RATE)
  RGB records only:
    image/format                     bytes   b"JPEG"
    image/channels                   int64   3
    image/height, image/width        int64   RGB frame size (archives of a 320x240 video and the
                                             videos source: 256, 340; 16:9: 256, 454)
  flow records only:
    FORWARD_FLOW/image/height, .../width   int64   flow frame size
    FORWARD_FLOW/quantization_bound  float   B = 20: flow was clipped to [-B, B] pixels

Feature lists (one entry per frame of the record, in time order)::

  RGB records:
    image/encoded                    bytes   RGB JPEG, as stored in the source archive
    image/timestamp                  int64   the frame's time in microseconds (MediaSequence)
  flow records:
    FORWARD_FLOW_X/image/encoded     bytes   [N-1] grayscale JPEG of quantized x flow (`u`)
    FORWARD_FLOW_Y/image/encoded     bytes   [N-1] grayscale JPEG of quantized y flow (`v`)

Flow frame i is the motion from RGB frame i to frame i+1. Quantization is the public archives'
`q = round(255 * (clip(f, -B, B) + B) / (2B))`, so zero motion is ~128 (`quantize_flow` /
`dequantize_flow` below are the only implementations).

Parsing (`parse_record`) never decodes: it returns the encoded strings, the reader picks frame
indices from the counts, gathers those strings and decodes only them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfrecords.errors import UserError

SCHEMA_VERSION = 2
FLOW_BOUND = 20.0
# UCF-101's 25 fps: the rate a record declares when its source records none (the frame
# archives), and the rate of the synthetic UCF-101-format videos.
FRAME_RATE = 25.0
IMAGE_FORMAT_JPEG = b"JPEG"

# Modalities: each has its own records and shards; a stream reads one.
RGB_MODALITY = "rgb"
FLOW_MODALITY = "flow"
MODALITIES = (RGB_MODALITY, FLOW_MODALITY)

# Context keys.
MEDIA_ID = "clip/media_id"
LABEL_INDEX = "clip/label/index"
LABEL_STRING = "clip/label/string"
CHUNK_INDEX = "clip/chunk/index"
CHUNK_COUNT = "clip/chunk/count"
NUM_FRAMES_KEY = "clip/num_frames"
GROUP = "ucf101/group"
CLIP = "ucf101/clip"
SOURCE = "ucf101/source"
SCHEMA_VERSION_KEY = "ucf101/schema_version"
IMAGE_FORMAT = "image/format"
IMAGE_CHANNELS = "image/channels"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_FRAME_RATE = "image/frame_rate"
FLOW_HEIGHT = "FORWARD_FLOW/image/height"
FLOW_WIDTH = "FORWARD_FLOW/image/width"
FLOW_QUANTIZATION_BOUND = "FORWARD_FLOW/quantization_bound"

# Feature-list keys.
IMAGE_ENCODED = "image/encoded"
IMAGE_TIMESTAMP = "image/timestamp"
FLOW_X_ENCODED = "FORWARD_FLOW_X/image/encoded"
FLOW_Y_ENCODED = "FORWARD_FLOW_Y/image/encoded"

# Keys of the dict `parse_record` returns.
VIDEO_ID = "video_id"
LABEL = "label"
CLASS_NAME = "class_name"
CHUNK = "chunk"
NUM_CHUNKS = "num_chunks"
VIDEO_FRAMES = "video_frames"
RGB = "rgb"
FLOW_X = "flow_x"
FLOW_Y = "flow_y"

# The frame lists of each modality, as `parse_record` keys, in channel order.
FRAME_KEYS = {RGB_MODALITY: (RGB,), FLOW_MODALITY: (FLOW_X, FLOW_Y)}
_ENCODED_KEYS = {RGB: IMAGE_ENCODED, FLOW_X: FLOW_X_ENCODED, FLOW_Y: FLOW_Y_ENCODED}


@dataclasses.dataclass(frozen=True)
class Video:
    """Everything a video's records hold, on the writer side.

    Attributes:
      video_id: canonical id `v_<Class>_gGG_cCC`.
      class_name: class name as in classInd.txt.
      label: 0-based class index.
      group: group number.
      clip: clip number within the group.
      rgb: N encoded RGB JPEGs, in time order.
      flow_x: N-1 encoded grayscale JPEGs of quantized x flow.
      flow_y: N-1 encoded grayscale JPEGs of quantized y flow.
      height: RGB frame height in pixels.
      width: RGB frame width in pixels.
      flow_height: flow frame height in pixels.
      flow_width: flow frame width in pixels.
      source: 'frames' or 'videos/<flow algorithm>'.
      frame_rate: frames per second.
    """

    video_id: str
    class_name: str
    label: int
    group: int
    clip: int
    rgb: Sequence[bytes]
    flow_x: Sequence[bytes]
    flow_y: Sequence[bytes]
    height: int
    width: int
    flow_height: int
    flow_width: int
    source: str
    frame_rate: float = FRAME_RATE

    def frame_hw(self, modality: str) -> tuple[int, int]:
        """(height, width) of the modality's frames."""
        if modality == RGB_MODALITY:
            return self.height, self.width
        return self.flow_height, self.flow_width


def check_frame_counts(num_rgb: int, num_flow_x: int, num_flow_y: int) -> None:
    """Checks the N RGB / N-1 flow rule.

    Raises:
      ValueError: fewer than 2 RGB frames (no flow possible), x and y counts differ, or the
        flow count is not the RGB count minus one.
    """
    if num_rgb < 2:
        raise ValueError(f"{num_rgb} RGB frames: a clip needs at least 2 (one flow frame)")
    if num_flow_x != num_flow_y:
        raise ValueError(f"flow x has {num_flow_x} frames but flow y has {num_flow_y}")
    if num_flow_x != num_rgb - 1:
        raise ValueError(
            f"{num_rgb} RGB frames need {num_rgb - 1} flow frames (frame i lies between RGB "
            f"frames i and i+1), found {num_flow_x}"
        )


def check_num_chunks(num_chunks: int) -> int:
    """Returns `num_chunks` after checking it is a positive integer.

    Raises:
      UserError: naming the value.
    """
    if not isinstance(num_chunks, int) or isinstance(num_chunks, bool) or num_chunks < 1:
        raise UserError(f"rgb_chunks={num_chunks!r}: use a positive number of RGB chunks per video")
    return num_chunks


def chunk_frame_indices(num_frames: int, num_chunks: int, chunk: int) -> list[int]:
    """Frame indices chunk `chunk` of a video holds: chunk, chunk + K, chunk + 2K, ... < N.

    A video shorter than K frames still gets K records (reading records uniformly must pick
    videos uniformly): chunk j >= N holds the single frame j mod N.

    Args:
      num_frames: N >= 1, frames in the video.
      num_chunks: K >= 1.
      chunk: j, 0 <= j < K.

    Returns:
      Increasing frame indices, at least one.
    """
    if chunk >= num_frames:
        return [chunk % num_frames]
    return list(range(chunk, num_frames, num_chunks))


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _float(value: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def _bytes_list(values: Sequence[bytes]) -> tf.train.FeatureList:
    return tf.train.FeatureList(feature=[_bytes([v]) for v in values])


def _int_list(values: Sequence[int]) -> tf.train.FeatureList:
    return tf.train.FeatureList(feature=[_int(v) for v in values])


def _video_context(video: Video, chunk: int, num_chunks: int, num_frames: int) -> dict:
    return {
        MEDIA_ID: _bytes([video.video_id.encode()]),
        LABEL_INDEX: _int(video.label),
        LABEL_STRING: _bytes([video.class_name.encode()]),
        CHUNK_INDEX: _int(chunk),
        CHUNK_COUNT: _int(num_chunks),
        NUM_FRAMES_KEY: _int(num_frames),
        GROUP: _int(video.group),
        CLIP: _int(video.clip),
        SOURCE: _bytes([video.source.encode()]),
        SCHEMA_VERSION_KEY: _int(SCHEMA_VERSION),
        IMAGE_FRAME_RATE: _float(video.frame_rate),
    }


def _serialize(context: dict, lists: dict) -> bytes:
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=lists),
    )
    return example.SerializeToString(deterministic=True)  # map keys sorted: stable bytes


def encode_rgb_chunks(video: Video, num_chunks: int) -> list[bytes]:
    """Serializes a Video's RGB frames as `num_chunks` strided chunk records (K = 1: whole).

    Raises:
      ValueError: frame counts break the N / N-1 rule, or num_chunks is not positive.
    """
    check_frame_counts(len(video.rgb), len(video.flow_x), len(video.flow_y))
    check_num_chunks(num_chunks)
    num_frames = len(video.rgb)
    records = []
    for chunk in range(num_chunks):
        indices = chunk_frame_indices(num_frames, num_chunks, chunk)
        context = _video_context(video, chunk, num_chunks, num_frames)
        context.update(
            {
                IMAGE_FORMAT: _bytes([IMAGE_FORMAT_JPEG]),
                IMAGE_CHANNELS: _int(3),
                IMAGE_HEIGHT: _int(video.height),
                IMAGE_WIDTH: _int(video.width),
            }
        )
        timestamps = [round(i * 1e6 / video.frame_rate) for i in indices]
        lists = {
            IMAGE_ENCODED: _bytes_list([video.rgb[i] for i in indices]),
            IMAGE_TIMESTAMP: _int_list(timestamps),
        }
        records.append(_serialize(context, lists))
    return records


def encode_flow(video: Video) -> bytes:
    """Serializes a Video's flow frames as one record (the whole video).

    Raises:
      ValueError: frame counts break the N / N-1 rule (see `check_frame_counts`).
    """
    check_frame_counts(len(video.rgb), len(video.flow_x), len(video.flow_y))
    context = _video_context(video, 0, 1, len(video.flow_x))
    context.update(
        {
            FLOW_HEIGHT: _int(video.flow_height),
            FLOW_WIDTH: _int(video.flow_width),
            FLOW_QUANTIZATION_BOUND: _float(FLOW_BOUND),
        }
    )
    lists = {FLOW_X_ENCODED: _bytes_list(video.flow_x), FLOW_Y_ENCODED: _bytes_list(video.flow_y)}
    return _serialize(context, lists)


def encode_records(video: Video, rgb_chunks: int) -> dict[str, list[bytes]]:
    """All records of a video: modality -> serialized records (RGB: `rgb_chunks`, flow: 1).

    Raises:
      ValueError: see `encode_rgb_chunks`.
    """
    return {RGB_MODALITY: encode_rgb_chunks(video, rgb_chunks), FLOW_MODALITY: [encode_flow(video)]}


_CONTEXT_FEATURES = {
    MEDIA_ID: tf.io.FixedLenFeature([], tf.string),
    LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64),
    LABEL_STRING: tf.io.FixedLenFeature([], tf.string),
    CHUNK_INDEX: tf.io.FixedLenFeature([], tf.int64),
    CHUNK_COUNT: tf.io.FixedLenFeature([], tf.int64),
    NUM_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64),
}


def parse_record(serialized: tf.Tensor, modality: str) -> dict:
    """Parses one serialized record of `modality` without decoding any image.

    Works eagerly and inside `tf.data` maps.

    Args:
      serialized: scalar string tensor, one record.
      modality: RGB_MODALITY or FLOW_MODALITY, the shard set the record comes from.

    Returns:
      A dict with `VIDEO_ID` (string scalar), `LABEL` (int32 scalar), `CLASS_NAME` (string
      scalar), `CHUNK` and `NUM_CHUNKS` (int32 scalars j and K), `VIDEO_FRAMES` (int32 scalar,
      the modality's frames in the whole video) and the encoded frames of the record:
      `RGB` (string [n]) or `FLOW_X` and `FLOW_Y` (string [n]); frame p of the record is
      frame j + p K of the video.

    Raises:
      ValueError: an unknown modality.
    """
    if modality not in FRAME_KEYS:
        raise ValueError(f"modality {modality!r}: use one of {MODALITIES}")
    sequence_features = {
        _ENCODED_KEYS[key]: tf.io.FixedLenSequenceFeature([], tf.string)
        for key in FRAME_KEYS[modality]
    }
    context, sequences = tf.io.parse_single_sequence_example(
        serialized, context_features=_CONTEXT_FEATURES, sequence_features=sequence_features
    )
    parsed = {
        VIDEO_ID: context[MEDIA_ID],
        LABEL: tf.cast(context[LABEL_INDEX], tf.int32),
        CLASS_NAME: context[LABEL_STRING],
        CHUNK: tf.cast(context[CHUNK_INDEX], tf.int32),
        NUM_CHUNKS: tf.cast(context[CHUNK_COUNT], tf.int32),
        VIDEO_FRAMES: tf.cast(context[NUM_FRAMES_KEY], tf.int32),
    }
    for key in FRAME_KEYS[modality]:
        parsed[key] = sequences[_ENCODED_KEYS[key]]
    return parsed


def quantize_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Pixels of motion -> uint8 as the public TV-L1 archives store it (zero motion ~128)."""
    clipped = np.clip(np.asarray(flow, dtype=np.float32), -bound, bound)
    return np.round(255.0 * (clipped + bound) / (2.0 * bound)).astype(np.uint8)


def dequantize_flow(quantized: tf.Tensor, bound: float = FLOW_BOUND) -> tf.Tensor:
    """uint8 (any shape) -> float32 pixels of motion in [-bound, bound]; inverse of quantize."""
    return tf.cast(quantized, tf.float32) * (2.0 * bound / 255.0) - bound
