"""Corner cropping (multi-scale, TSN) and horizontal flips, shared by the RGB and flow streams.

One `CropParams` describes where a sample is cut and whether it is mirrored; it is chosen
once per sample on the host and applied to every frame (RGB) or every one of the 2L channels
(flow), so all channels of a stack are cut from the same place. The host decodes only the
window (`decode_crop`); the mirror flip and the resize run on the device
(`input_pipeline.resample.model_input`).

Crop positions, in this order: centre, top-left, top-right, bottom-left, bottom-right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import tensorflow as tf

from tfrecords.errors import ConfigError

# (row, column) of each position in halves of the free space: 0 = top/left, 1 = centre,
# 2 = bottom/right.
_POSITIONS = ((1, 1), (0, 0), (0, 2), (2, 0), (2, 2))
NUM_POSITIONS = len(_POSITIONS)


class CropParams(NamedTuple):
    """Where a sample is cut from its frames and whether it is mirrored.

    Fields are scalars for one sample (training) or [V] vectors for V views (evaluation).

    Attributes:
      offset_y: int32, first row of the crop.
      offset_x: int32, first column of the crop.
      height: int32, crop height in pixels.
      width: int32, crop width in pixels.
      flip: bool, mirror the crop left-right.
    """

    offset_y: tf.Tensor
    offset_x: tf.Tensor
    height: tf.Tensor
    width: tf.Tensor
    flip: tf.Tensor

    def view(self, index: int) -> CropParams:
        """The scalar parameters of view `index` of vector-valued parameters."""
        return CropParams(*(field[index] for field in self))

    def boxes(self) -> tf.Tensor:
        """int32 [4] or [V, 4]: (offset_y, offset_x, height, width), one box per view.

        The layout `resample.Windows.boxes` and `tf.image.decode_and_crop_jpeg` take; the
        flip is not part of a box.
        """
        return tf.stack([self.offset_y, self.offset_x, self.height, self.width], axis=-1)


def crop_sizes(short_side: tf.Tensor, scales: Sequence[float]) -> tf.Tensor:
    """Crop sides as fractions of the short side: 256 x (1, .875, .75, .66) -> 256, 224, 192, 168.

    Args:
      short_side: int32 scalar, min(frame height, frame width).
      scales: fractions in (0, 1].

    Returns:
      int32 [len(scales)], floor(short_side * scale), at least 1.
    """
    sides = tf.cast(short_side, tf.float32) * tf.constant(scales, tf.float32)
    return tf.maximum(tf.cast(sides, tf.int32), 1)


def _size_pairs(num_scales: int, max_jitter: int) -> list[tuple[int, int]]:
    """(height index, width index) pairs at most `max_jitter` scale steps apart (TSN)."""
    return [
        (i, j) for i in range(num_scales) for j in range(num_scales) if abs(i - j) <= max_jitter
    ]


def _offsets(frame_hw: tf.Tensor, height: tf.Tensor, width: tf.Tensor, position: tf.Tensor):
    """Top-left corner (int32 scalars or [V]) of a crop at position index/indices `position`."""
    halves = tf.gather(tf.constant(_POSITIONS, tf.int32), position)
    offset_y = (frame_hw[0] - height) * halves[..., 0] // 2
    offset_x = (frame_hw[1] - width) * halves[..., 1] // 2
    return offset_y, offset_x


def random_crop_params(
    frame_hw: tf.Tensor,
    scales: Sequence[float],
    max_jitter: int,
    random_flip: bool,
    seed: tf.Tensor,
) -> CropParams:
    """Training crop: a random (height, width) scale pair, position and flip.

    Height and width sides are drawn from `crop_sizes` as one uniformly chosen pair of scale
    indices at most `max_jitter` apart (aspect jitter); the position is one of the 5 corner /
    centre positions, uniformly; the flip has probability 1/2 when `random_flip`.

    Args:
      frame_hw: int32 [2], frame (height, width).
      scales: crop sides as fractions of the short side.
      max_jitter: largest difference between the height and width scale indices.
      random_flip: draw a flip; False never flips.
      seed: int32/int64 [2], stateless random seed.

    Returns:
      Scalar CropParams.
    """
    frame_hw = tf.convert_to_tensor(frame_hw, tf.int32)
    sizes = crop_sizes(tf.reduce_min(frame_hw), scales)
    pairs = _size_pairs(len(scales), max_jitter)
    # One draw of 3 uniforms decides pair, position and flip (few ops: this runs per sample).
    uniforms = tf.random.stateless_uniform([3], seed)
    choices = tf.cast(uniforms[:2] * [len(pairs), NUM_POSITIONS], tf.int32)
    pair = tf.gather(tf.constant(pairs, tf.int32), tf.minimum(choices[0], len(pairs) - 1))
    height, width = sizes[pair[0]], sizes[pair[1]]
    position = tf.minimum(choices[1], NUM_POSITIONS - 1)
    offset_y, offset_x = _offsets(frame_hw, height, width, position)
    flip = tf.logical_and(random_flip, uniforms[2] < 0.5)
    return CropParams(offset_y, offset_x, height, width, flip)


def eval_crop_params(frame_hw: tf.Tensor, crop_scale: float, num_crops: int) -> CropParams:
    """Evaluation views: square crops at fixed positions, then their mirror images.

    `num_crops` 1 is the centre, 5 the centre and 4 corners, 10 those 5 then the same 5
    mirrored (Simonyan & Zisserman's test views).

    Args:
      frame_hw: int32 [2], frame (height, width).
      crop_scale: crop side as a fraction of the short side.
      num_crops: 1, 5 or 10.

    Returns:
      CropParams of [num_crops] vectors.

    Raises:
      ValueError: num_crops is not 1, 5 or 10.
    """
    if num_crops not in (1, NUM_POSITIONS, 2 * NUM_POSITIONS):
        raise ConfigError(f"config.data.eval_num_crops={num_crops}: use 1, 5 or 10")
    frame_hw = tf.convert_to_tensor(frame_hw, tf.int32)
    side = crop_sizes(tf.reduce_min(frame_hw), [crop_scale])[0]
    positions = list(range(min(num_crops, NUM_POSITIONS)))
    flips = [False] * len(positions)
    if num_crops == 2 * NUM_POSITIONS:
        positions, flips = positions * 2, flips + [True] * NUM_POSITIONS
    sides = tf.fill([num_crops], side)
    offset_y, offset_x = _offsets(frame_hw, sides, sides, tf.constant(positions, tf.int32))
    return CropParams(offset_y, offset_x, sides, sides, tf.constant(flips))


def decode_crop(encoded: tf.Tensor, params: CropParams, channels: int, dct_method: str):
    """Decodes only the crop window of a JPEG (rows outside it are skipped, not decoded).

    Args:
      encoded: string scalar, one JPEG.
      params: scalar CropParams (the flip is not applied here).
      channels: 3 for RGB, 1 for a grayscale flow frame.
      dct_method: 'INTEGER_FAST' or 'INTEGER_ACCURATE'.

    Returns:
      uint8 [height, width, channels].
    """
    return tf.image.decode_and_crop_jpeg(
        encoded, params.boxes(), channels=channels, dct_method=dct_method
    )


def max_window_side(max_frame_hw: Sequence[int], scales: Sequence[float]) -> int:
    """The largest crop side `random_crop_params` can draw on frames up to `max_frame_hw`.

    A training window's sides are `crop_sizes` of its frame's short side, which is at most
    min(max height, max width); this sizes the fixed buffer windows are padded into.

    Args:
      max_frame_hw: (largest frame height, largest frame width) of the data.
      scales: crop sides as fractions of the short side.

    Returns:
      The side in pixels (at least 1).
    """
    short_side = tf.constant(min(max_frame_hw), tf.int32)
    return int(crop_sizes(short_side, [max(scales)])[0])
