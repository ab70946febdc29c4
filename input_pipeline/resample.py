"""The accelerator half of the input pipeline: crop, mirror, bilinear resize and cast in the step.

What runs where (STYLE point 16, DESIGN section 5): the host (tf.data) decodes only the crop
window of each JPEG, in uint8, and pads it into a fixed frame buffer; a `Windows` element
(frames plus the views to cut from them) is what crosses to the device. `model_input` runs
inside the train/eval step: it cuts every view, mirrors it, resizes it to the model size S
and casts it to float32, in one implementation that also serves CPU runs.

It must compile with XLA (TPUs always compile): `tf.image.crop_and_resize` and
`ScaleAndTranslate` have no XLA kernel, so each view is resampled with two batched gathers
of uint8 source rows and columns (the four bilinear neighbours of every output pixel) and a
float lerp, with TF's ResizeBilinear arithmetic (half-pixel centres, no antialiasing), so a
view equals `tf.image.resize` of the cropped window to float rounding, and a window already
S x S comes back exactly. Every index is clamped inside its box, so the padding of the
buffer never leaks into a view; a mirrored view reads its source columns in reverse order
(no extra pass over the pixels).

Measured cost under XLA on this machine's CPU (2 vCPUs, `jit_compile=True`, process CPU time
per output view, S = 224, best of 5 rounds): a 224x224x20 flow view costs ~2.5 ms (eval: 10
views from 20 x 256 x 340 frames; training from a 264 x 264 buffer) and a 224x224x3 RGB view
~0.7 ms; writing the float32 view alone costs ~0.9 ms (flow). A 256 x 256 buffer makes a flow
view cost ~4.2 ms: its planes are 64 KB apart, so the 20 planes read for one output pixel
contend for the same L1 cache sets (any plane size that is a multiple of 4 KB does this);
XLA fuses every step into one loop over the output, so the planes cannot be interleaved once
up front.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

# Top code of quantized flow (`tfrecords.schema.quantize_flow`): its scale is symmetric about
# half of it, so `_QUANTIZED_TOP - u` dequantizes to exactly minus what `u` does.
_QUANTIZED_TOP = 255.0


class Windows(NamedTuple):
    """Decoded frames with the crop views to cut from them (host -> device element).

    Attributes:
      frames: uint8 [B, T, H, W, c]: T frames of c channels each (RGB: T=1, c=3; flow:
        T=2L planes x_0, y_0, x_1, y_1, ..., c=1), zero-padded to a fixed H, W.
      boxes: int32 [B, V, 4]: (offset_y, offset_x, height, width) of each view inside the
        frames, inside their unpadded part.
      flips: bool [B, V]: mirror the view left-right.
    """

    frames: tf.Tensor
    boxes: tf.Tensor
    flips: tf.Tensor


def mirror_flow_x(images: tf.Tensor, flips: tf.Tensor) -> tf.Tensor:
    """Negates the horizontal motion of mirrored flow views: x channels become `255 - x`.

    Mirroring an image left-right reverses horizontal motion, so the x component of flow
    changes sign; y is unchanged. Flow is stored quantized (0..255, affine and symmetric
    about 127.5, see `tfrecords.schema.quantize_flow`), where `255 - u` is exactly `-u` after
    dequantization. Bilinear weights sum to one, so applying this to resized views equals
    resizing negated frames.

    Args:
      images: float32 [N, S, S, 2L], x and y interleaved (x in even channels), already
        mirrored spatially where `flips`.
      flips: bool [N].

    Returns:
      float32 [N, S, S, 2L].
    """
    x_channels = tf.range(images.shape[-1]) % 2 == 0
    negate = tf.logical_and(flips[:, None, None, None], x_channels)
    return tf.where(negate, _QUANTIZED_TOP - images, images)


def fold_segments(windows: Windows, num_segments: int) -> Windows:
    """Splits each training example's K snippets into K samples of one view (TSN segments).

    The host ships an example's K snippets as one stack of K x T frames with one view (one
    crop and flip for all K); folding them into the batch axis, before `model_input`, lets
    the backbone see K ordinary samples. A reshape (no copy) and a repeat of the small
    boxes and flips.

    Args:
      windows: frames uint8 [B, K x T, H, W, c] (snippet-major), boxes int32 [B, V, 4],
        flips bool [B, V].
      num_segments: K, a Python int dividing the frames' second dimension.

    Returns:
      Windows with frames [B x K, T, H, W, c], boxes [B x K, V, 4], flips [B x K, V]; row
      b * K + k is snippet k of example b.

    Raises:
      ValueError: K does not divide the frames' second dimension.
    """
    frames, boxes, flips = windows
    _, steps, height, width, channels = frames.shape
    if num_segments < 1 or steps % num_segments:
        raise ValueError(f"num_segments={num_segments}: need a divisor of the {steps} frames")
    if num_segments == 1:
        return windows
    frames = tf.reshape(frames, [-1, steps // num_segments, height, width, channels])
    return Windows(
        frames,
        tf.repeat(boxes, num_segments, axis=0),
        tf.repeat(flips, num_segments, axis=0),
    )


def _taps(
    offset: tf.Tensor, length: tf.Tensor, size: int, limit: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Source indices and weights of a half-pixel-centre bilinear resize along one axis.

    Replicates TF's ResizeBilinear: in = (out + 0.5) * (length / size) - 0.5, lower =
    max(floor(in), 0), upper = min(ceil(in), length - 1), lerp = in - floor(in).

    Args:
      offset: int32 [B, V], first source index of each view.
      length: int32 [B, V], view extent in source pixels (>= 1).
      size: output extent S.
      limit: source buffer extent (H or W); indices are also clamped below it.

    Returns:
      lower, upper: int32 [B, V, S] buffer indices; lerp: float32 [B, V, S].
    """
    length = tf.maximum(length, 1)
    scale = tf.cast(length, tf.float32) / float(size)
    centres = tf.range(size, dtype=tf.float32) + 0.5
    source = centres * scale[..., None] - 0.5
    floor = tf.floor(source)
    lower = tf.maximum(tf.cast(floor, tf.int32), 0)
    upper = tf.minimum(tf.cast(tf.math.ceil(source), tf.int32), length[..., None] - 1)
    # Defensive only: a box outside the buffer must not index out of it.
    lower = tf.clip_by_value(lower + offset[..., None], 0, limit - 1)
    upper = tf.clip_by_value(upper + offset[..., None], 0, limit - 1)
    return lower, upper, source - floor


def model_input(windows: Windows, size: int, flow: bool) -> tf.Tensor:
    """Cuts, mirrors and bilinearly resizes every view to size x size, as float32.

    View (b, v) is `tf.image.resize(crop, [size, size])` (bilinear, half-pixel centres, no
    antialiasing) of crop = frames[b, :, y:y+h, x:x+w, :] with the T frames stacked into
    channels (channel t * c + ch), reversed along width where flips[b, v]; with `flow`, the
    x channels of mirrored views are negated (`mirror_flow_x`). Compiles with XLA.

    Args:
      windows: frames uint8 [B, T, H, W, c], boxes int32 [B, V, 4], flips bool [B, V]
        (T, H, W, c static; B and V too under XLA).
      size: output side S (a Python int).
      flow: the frames are a quantized flow stack (x, y interleaved); negate x on mirror.

    Returns:
      float32 [B * V, S, S, T * c], sample-major (row b * V + v), in stored units (0..255).

    Raises:
      ValueError: `size` is not a positive int, a tensor has the wrong rank or dtype, or
        `flow` with an odd number of channels T * c.
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size={size!r}: need a positive int")
    frames, boxes, flips = windows
    if frames.dtype != tf.uint8 or frames.shape.rank != 5:
        raise ValueError(f"frames: {frames.dtype.name} {frames.shape}, need uint8 [B, T, H, W, c]")
    if boxes.shape.rank != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes: shape {boxes.shape}, need [B, V, 4]")
    if flips.dtype != tf.bool or flips.shape.rank != 2:
        raise ValueError(f"flips: {flips.dtype.name} {flips.shape}, need bool [B, V]")
    _, num_frames, height, width, channels = frames.shape
    depth = num_frames * channels
    if flow and depth % 2:
        raise ValueError(f"flow=True with T * c = {depth} channels: need x, y pairs")

    # Channel-last [B, H, W, T * c] so the gathers produce the output layout directly (no
    # float transpose); XLA folds this transpose into the gathers' indexing.
    stacked = tf.transpose(frames, [0, 2, 3, 1, 4])
    shape = tf.shape(frames)
    stacked = tf.reshape(stacked, [shape[0], shape[2], shape[3], depth])

    boxes = tf.cast(boxes, tf.int32)
    top, left, rows, cols = tf.unstack(boxes, axis=-1)
    row_lo, row_hi, row_lerp = _taps(top, rows, size, height)
    col_lo, col_hi, col_lerp = _taps(left, cols, size, width)
    # Mirror by reading the source columns right to left.
    mirrored = flips[..., None]
    col_lo = tf.where(mirrored, tf.reverse(col_lo, [-1]), col_lo)
    col_hi = tf.where(mirrored, tf.reverse(col_hi, [-1]), col_hi)
    col_lerp = tf.where(mirrored, tf.reverse(col_lerp, [-1]), col_lerp)

    # [B, H, W, C] -> [B, V, 2S, W, C] -> [B, V, 2S, 2S, C]: the four neighbours, in uint8.
    picked = tf.gather(stacked, tf.concat([row_lo, row_hi], -1), axis=1, batch_dims=1)
    picked = tf.gather(picked, tf.concat([col_lo, col_hi], -1), axis=3, batch_dims=2)
    picked = tf.cast(picked, tf.float32)
    top_left, top_right = picked[:, :, :size, :size], picked[:, :, :size, size:]
    bottom_left, bottom_right = picked[:, :, size:, :size], picked[:, :, size:, size:]

    # TF's order: along x first, then y.
    x_lerp = col_lerp[:, :, None, :, None]
    y_lerp = row_lerp[:, :, :, None, None]
    upper_row = top_left + (top_right - top_left) * x_lerp
    lower_row = bottom_left + (bottom_right - bottom_left) * x_lerp
    views = upper_row + (lower_row - upper_row) * y_lerp

    views = tf.reshape(views, [-1, size, size, depth])
    if flow:
        views = mirror_flow_x(views, tf.reshape(flips, [-1]))
    return views
