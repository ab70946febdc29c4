"""The record layout: one `tf.train.SequenceExample` per UCF-101 video.

Key names follow MediaPipe's MediaSequence where it has one, so DMVR and the TF Model Garden
video readers can read the RGB stream unchanged; flow uses the same keys under a prefix.

Context (one value per video)::

    clip/media_id                    bytes   canonical video id, e.g. b"v_ApplyEyeMakeup_g08_c01"
    clip/label/index                 int64   0-based class index (classInd.txt number - 1)
    clip/label/string                bytes   class name as in classInd.txt
    ucf101/group                     int64   group number (clips of a group share actor/scene)
    ucf101/clip                      int64   clip number within the group
    ucf101/num_rgb_frames            int64   N = len(image/encoded)
    ucf101/num_flow_frames           int64   N - 1 = len(FORWARD_FLOW_X/image/encoded)
    ucf101/source                    bytes   b"frames" (archives) or b"videos/<flow algorithm>"
    ucf101/schema_version            int64   SCHEMA_VERSION
    image/format                     bytes   b"JPEG"
    image/channels                   int64   3
    image/height, image/width        int64   RGB frame size (340x256 archives: 256, 340)
    image/frame_rate                 float   frames per second (25 for UCF-101)
    FORWARD_FLOW/image/height, .../width   int64   flow frame size
    FORWARD_FLOW/quantization_bound  float   B = 20: flow was clipped to [-B, B] pixels

Feature lists (one entry per frame, in time order)::

    image/encoded                    bytes   [N]     RGB JPEG, as stored in the source archive
    FORWARD_FLOW_X/image/encoded     bytes   [N-1]   grayscale JPEG of quantized x flow (`u`)
    FORWARD_FLOW_Y/image/encoded     bytes   [N-1]   grayscale JPEG of quantized y flow (`v`)

Flow frame i is the motion from RGB frame i to frame i+1. Quantization is the public archives'
`q = round(255 * (clip(f, -B, B) + B) / (2B))`, so zero motion is ~128 (`quantize_flow` /
`dequantize_flow` below are the only implementations).

Parsing (`parse_video`) never decodes: it returns the encoded strings, the reader picks frame
indices from the counts, gathers those strings and decodes only them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

SCHEMA_VERSION = 1
FLOW_BOUND = 20.0
IMAGE_FORMAT_JPEG = b"JPEG"

# Context keys.
MEDIA_ID = "clip/media_id"
LABEL_INDEX = "clip/label/index"
LABEL_STRING = "clip/label/string"
GROUP = "ucf101/group"
CLIP = "ucf101/clip"
NUM_RGB_FRAMES = "ucf101/num_rgb_frames"
NUM_FLOW_FRAMES = "ucf101/num_flow_frames"
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
FLOW_X_ENCODED = "FORWARD_FLOW_X/image/encoded"
FLOW_Y_ENCODED = "FORWARD_FLOW_Y/image/encoded"

# Keys of the dict `parse_video` returns.
VIDEO_ID = "video_id"
LABEL = "label"
CLASS_NAME = "class_name"
RGB = "rgb"
FLOW_X = "flow_x"
FLOW_Y = "flow_y"
NUM_RGB = "num_rgb_frames"
NUM_FLOW = "num_flow_frames"


@dataclasses.dataclass(frozen=True)
class Video:
    """Everything one record holds, on the writer side.

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
    frame_rate: float = 25.0


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


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _float(value: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def _frames(values: Sequence[bytes]) -> tf.train.FeatureList:
    return tf.train.FeatureList(feature=[_bytes([v]) for v in values])


def encode_video(video: Video) -> bytes:
    """Serializes a Video as the SequenceExample described in the module docstring.

    Raises:
      ValueError: frame counts break the N / N-1 rule (see `check_frame_counts`).
    """
    check_frame_counts(len(video.rgb), len(video.flow_x), len(video.flow_y))
    context = tf.train.Features(
        feature={
            MEDIA_ID: _bytes([video.video_id.encode()]),
            LABEL_INDEX: _int(video.label),
            LABEL_STRING: _bytes([video.class_name.encode()]),
            GROUP: _int(video.group),
            CLIP: _int(video.clip),
            NUM_RGB_FRAMES: _int(len(video.rgb)),
            NUM_FLOW_FRAMES: _int(len(video.flow_x)),
            SOURCE: _bytes([video.source.encode()]),
            SCHEMA_VERSION_KEY: _int(SCHEMA_VERSION),
            IMAGE_FORMAT: _bytes([IMAGE_FORMAT_JPEG]),
            IMAGE_CHANNELS: _int(3),
            IMAGE_HEIGHT: _int(video.height),
            IMAGE_WIDTH: _int(video.width),
            IMAGE_FRAME_RATE: _float(video.frame_rate),
            FLOW_HEIGHT: _int(video.flow_height),
            FLOW_WIDTH: _int(video.flow_width),
            FLOW_QUANTIZATION_BOUND: _float(FLOW_BOUND),
        }
    )
    lists = tf.train.FeatureLists(
        feature_list={
            IMAGE_ENCODED: _frames(video.rgb),
            FLOW_X_ENCODED: _frames(video.flow_x),
            FLOW_Y_ENCODED: _frames(video.flow_y),
        }
    )
    example = tf.train.SequenceExample(context=context, feature_lists=lists)
    return example.SerializeToString(deterministic=True)  # map keys sorted: stable bytes


_CONTEXT_FEATURES = {
    MEDIA_ID: tf.io.FixedLenFeature([], tf.string),
    LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64),
    LABEL_STRING: tf.io.FixedLenFeature([], tf.string),
    NUM_RGB_FRAMES: tf.io.FixedLenFeature([], tf.int64),
    NUM_FLOW_FRAMES: tf.io.FixedLenFeature([], tf.int64),
}


def parse_video(serialized: tf.Tensor, rgb: bool = True, flow: bool = True) -> dict:
    """Parses one serialized record without decoding any image.

    Works eagerly and inside `tf.data` maps.

    Args:
      serialized: scalar string tensor, one record.
      rgb: parse the RGB frame list (skip it for the temporal stream).
      flow: parse the flow frame lists (skip them for the spatial stream).

    Returns:
      A dict with `VIDEO_ID` (string scalar), `LABEL` (int32 scalar), `CLASS_NAME` (string
      scalar), `NUM_RGB` and `NUM_FLOW` (int32 scalars), and when asked `RGB`
      (string [N]), `FLOW_X` and `FLOW_Y` (string [N-1]) holding encoded JPEGs.
    """
    sequence_features = {}
    if rgb:
        sequence_features[IMAGE_ENCODED] = tf.io.FixedLenSequenceFeature([], tf.string)
    if flow:
        sequence_features[FLOW_X_ENCODED] = tf.io.FixedLenSequenceFeature([], tf.string)
        sequence_features[FLOW_Y_ENCODED] = tf.io.FixedLenSequenceFeature([], tf.string)
    context, sequences = tf.io.parse_single_sequence_example(
        serialized, context_features=_CONTEXT_FEATURES, sequence_features=sequence_features
    )
    parsed = {
        VIDEO_ID: context[MEDIA_ID],
        LABEL: tf.cast(context[LABEL_INDEX], tf.int32),
        CLASS_NAME: context[LABEL_STRING],
        NUM_RGB: tf.cast(context[NUM_RGB_FRAMES], tf.int32),
        NUM_FLOW: tf.cast(context[NUM_FLOW_FRAMES], tf.int32),
    }
    if rgb:
        parsed[RGB] = sequences[IMAGE_ENCODED]
    if flow:
        parsed[FLOW_X] = sequences[FLOW_X_ENCODED]
        parsed[FLOW_Y] = sequences[FLOW_Y_ENCODED]
    return parsed


def quantize_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Pixels of motion -> uint8 as the public TV-L1 archives store it (zero motion ~128)."""
    clipped = np.clip(np.asarray(flow, dtype=np.float32), -bound, bound)
    return np.round(255.0 * (clipped + bound) / (2.0 * bound)).astype(np.uint8)


def dequantize_flow(quantized: tf.Tensor, bound: float = FLOW_BOUND) -> tf.Tensor:
    """uint8 (any shape) -> float32 pixels of motion in [-bound, bound]; inverse of quantize."""
    return tf.cast(quantized, tf.float32) * (2.0 * bound / 255.0) - bound
