"""The image operations of the TensorFlow TV-L1 (`optical_flow.tvl1`), ports of OpenCV's.

Each follows its reference: `pyr_down` (`cv::pyrDown`), `resize_bilinear` (`cv::resize` / 2.4's
`gpu::resize`), the differences and divergence of the TV-L1 iteration, `warp_bicubic`
(`cv::remap(INTER_CUBIC)` / the 2.4 CUDA warp kernel) and `median_filter` (`cv::medianBlur`).
Shapes are [B, H, W] float32 unless said; tests/test_tvl1_ops.py compares each with OpenCV or
a brute-force loop of the reference's arithmetic.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Padding (px) of the warped images: taps of a coordinate clamped to [-3, W + 1] stay inside.
_WARP_PAD = 4


def pyr_down(images: tf.Tensor) -> tf.Tensor:
    """OpenCV's `pyrDown`: [B, H, W] -> [B, (H + 1) // 2, (W + 1) // 2] float32.

    Separable [1 4 6 4 1] / 16 at even positions, reflect-101 border (TF's REFLECT pad).
    """
    height, width = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [2, 2], [2, 2]], mode="REFLECT")
    taps = (0.0625, 0.25, 0.375, 0.25, 0.0625)
    rows = (height + 1) // 2
    cols = (width + 1) // 2
    horizontal = sum(w * padded[:, :, k : k + 2 * cols - 1 : 2] for k, w in enumerate(taps))
    return sum(w * horizontal[:, k : k + 2 * rows - 1 : 2, :] for k, w in enumerate(taps))


def _linear_taps(
    size_in: int, size_out: int, scale: float, half_pixel: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis: (first index, second index, weight of the second).

    half_pixel: `cv::resize` (source = (destination + 0.5) * scale - 0.5, clamped as in
    resize.cpp); otherwise 2.4 `gpu::resize` (source = destination * scale, float32).
    """
    destination = np.arange(size_out)
    if half_pixel:
        source = ((destination + 0.5) * scale - 0.5).astype(np.float32)
    else:
        source = destination.astype(np.float32) * np.float32(scale)
    first = np.floor(source).astype(np.int64)
    weight = (source - first).astype(np.float32)
    weight[first < 0] = 0.0
    first = np.clip(first, 0, size_in - 1)
    weight[first >= size_in - 1] = 0.0
    return first, np.minimum(first + 1, size_in - 1), weight


def resize_bilinear(
    images: tf.Tensor, size: tuple[int, int], scale: tuple[float, float], half_pixel: bool
) -> tf.Tensor:
    """[B, H, W] -> [B, h, w] bilinear, edges clamped, rows then columns as OpenCV.

    Args:
      images: float32.
      size: (h, w) of the result.
      scale: source pixels per destination pixel (y, x), as the reference computes them.
      half_pixel: see `_linear_taps`.
    """
    result = images
    for axis, (count, factor) in ((2, (size[1], scale[1])), (1, (size[0], scale[0]))):
        first, second, weight = _linear_taps(images.shape[axis], count, factor, half_pixel)
        shape = [1, 1, 1]
        shape[axis] = count
        weight = tf.constant(weight.reshape(shape))
        result = (
            tf.gather(result, first, axis=axis) * (1.0 - weight)
            + tf.gather(result, second, axis=axis) * weight
        )
    return result


def _next(x: tf.Tensor, axis: int) -> tf.Tensor:
    """x[i + 1] along axis 1 or 2, the last entry repeated (clamped to the edge)."""
    head = x[:, 1:] if axis == 1 else x[:, :, 1:]
    tail = x[:, -1:] if axis == 1 else x[:, :, -1:]
    return tf.concat([head, tail], axis)


def _previous(x: tf.Tensor, axis: int) -> tf.Tensor:
    """x[i - 1] along axis 1 or 2, the first entry repeated (clamped to the edge)."""
    head = x[:, :1] if axis == 1 else x[:, :, :1]
    body = x[:, :-1] if axis == 1 else x[:, :, :-1]
    return tf.concat([head, body], axis)


def centred_gradient(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """[B, H, W] -> (d/dx, d/dy): centred differences, one-sided half differences at borders."""
    dx = 0.5 * (_next(images, 2) - _previous(images, 2))
    dy = 0.5 * (_next(images, 1) - _previous(images, 1))
    return dx, dy


def pad_border(x: tf.Tensor) -> tf.Tensor:
    """[B, H, W] -> [B, H + 2, W + 2] with a border of 0: the iteration's storage."""
    return tf.pad(x, [[0, 0], [1, 1], [1, 1]])


def padded_view(padded: tf.Tensor, dy: int, dx: int) -> tf.Tensor:
    """The [B, H, W] interior of a `pad_border`-ed array moved by (dy, dx) in -1..1.

    Element [b, y, x] is the array's x[y + dy, x + dx].

    Slices of the loop's stored arrays, which XLA fuses into their consumers (a slice, pad or
    concatenation of a computed array is a pass over memory of its own on XLA's CPU backend).
    """
    height, width = padded.shape[1] - 2, padded.shape[2] - 2
    return padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def forward_gradient_padded(u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`forward_gradient` of a `pad_border`-ed array (its border is ignored): [B, H, W] each."""
    centre = padded_view(u, 0, 0)
    height, width = centre.shape[1], centre.shape[2]
    last_column = tf.range(width)[None, None, :] == width - 1
    last_row = tf.range(height)[None, :, None] == height - 1
    return (
        tf.where(last_column, 0.0, padded_view(u, 0, 1) - centre),
        tf.where(last_row, 0.0, padded_view(u, 1, 0) - centre),
    )


def divergence_padded(p1: tf.Tensor, p2: tf.Tensor) -> tf.Tensor:
    """`divergence` of `pad_border`-ed arrays (their border of 0 is the p before the image)."""
    return (padded_view(p1, 0, 0) - padded_view(p1, 0, -1)) + (
        padded_view(p2, 0, 0) - padded_view(p2, -1, 0)
    )


def forward_gradient(u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """[B, H, W] -> (d/dx, d/dy): forward differences, 0 on the last column / row."""
    return forward_gradient_padded(pad_border(u))


def divergence(p1: tf.Tensor, p2: tf.Tensor) -> tf.Tensor:
    """Backward-difference divergence of (p1, p2) [B, H, W], p taken as 0 before the image."""
    return divergence_padded(pad_border(p1), pad_border(p2))


def _cubic_weights(t: tf.Tensor, a: float) -> list[tf.Tensor]:
    """Keys' cubic weights of the taps at -1, 0, 1, 2 for a fractional position t in [0, 1)."""

    def near(d: tf.Tensor) -> tf.Tensor:  # |d| <= 1
        return d * d * ((a + 2.0) * d - (a + 3.0)) + 1.0

    def far(d: tf.Tensor) -> tf.Tensor:  # 1 < |d| < 2
        return d * (d * (a * d - 5.0 * a) + 8.0 * a) - 4.0 * a

    return [far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)]


def warp_bicubic(
    images: tf.Tensor,
    flow_x: tf.Tensor,
    flow_y: tf.Tensor,
    cubic_a: float,
    border: str,
) -> tf.Tensor:
    """Samples images [B, H, W, C] at (x + flow_x, y + flow_y) by 4x4-tap bicubic interpolation.

    Args:
      images: float32 [B, H, W, C] (the C channels share the coordinates).
      flow_x: [B, H, W] x displacements in pixels.
      flow_y: [B, H, W] y displacements in pixels.
      cubic_a: Keys' a (-0.5: 2.4 GPU kernel; -0.75: `cv::remap`).
      border: "clamp" (taps outside read the nearest edge pixel) or "zero" (they read 0).

    Returns:
      [B, H, W, C] float32.
    """
    batch, height, width, channels = images.shape
    x = tf.range(width, dtype=tf.float32)[None, None, :] + flow_x
    y = tf.range(height, dtype=tf.float32)[None, :, None] + flow_y
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = _cubic_weights(x - x0, cubic_a), _cubic_weights(y - y0, cubic_a)
    # Beyond [-3, size + 1] every tap is outside the image: clamping keeps the result.
    x0 = tf.cast(tf.clip_by_value(x0, -3.0, width + 1.0), tf.int32)
    y0 = tf.cast(tf.clip_by_value(y0, -3.0, height + 1.0), tf.int32)
    pad = _WARP_PAD
    if border == "clamp":
        rows = np.clip(np.arange(-pad, height + pad), 0, height - 1)
        cols = np.clip(np.arange(-pad, width + pad), 0, width - 1)
        padded = tf.gather(tf.gather(images, rows, axis=1), cols, axis=2)
    else:
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    # Row-major taps: entry (r, c) holds the 4 horizontal neighbours c .. c + 3 of every
    # channel, so each output pixel gathers 4 contiguous vectors (one per tap row).
    tap_cols = width + 2 * pad - 3
    taps = tf.concat([padded[:, :, k : k + tap_cols] for k in range(4)], axis=3)
    table = tf.reshape(taps, [-1, 4 * channels])
    base = (tf.range(batch)[:, None, None] * (height + 2 * pad) + y0 + pad - 1) * tap_cols
    index = base + x0 + pad - 1
    gathered = tf.gather(table, tf.stack([index + j * tap_cols for j in range(4)], axis=3))
    gathered = tf.reshape(gathered, [batch, height, width, 4, 4, channels])
    horizontal = sum(w[..., None, None] * gathered[:, :, :, :, k] for k, w in enumerate(wx))
    return sum(w[..., None] * horizontal[:, :, :, j] for j, w in enumerate(wy))


def _batcher_pairs(count: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sorting network on `count` (a power of 2) wires."""
    pairs = []
    p = 1
    while p < count:
        k = p
        while k >= 1:
            for j in range(k % p, count - k, 2 * k):
                for i in range(min(k, count - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def _median(values: list[tf.Tensor]) -> tf.Tensor:
    """Exact median of an odd number of tensors: a sorting network pruned to its middle wire.

    Wires beyond len(values) hold +inf (known statically, so their comparators vanish) and only
    the min/max nodes the middle output depends on are built.
    """
    count = 1 << (len(values) - 1).bit_length()
    wires: list = list(range(len(values))) + [None] * (count - len(values))  # None = +inf
    nodes: dict = {}
    for i, j in _batcher_pairs(count):
        a, b = wires[i], wires[j]
        if b is None:
            continue
        if a is None:
            wires[i], wires[j] = b, None
            continue
        low, high = ("min", a, b), ("max", a, b)
        nodes[low], nodes[high] = low, high
        wires[i], wires[j] = low, high
    built: dict = {}

    def build(node) -> tf.Tensor:
        if isinstance(node, int):
            return values[node]
        if node not in built:
            op = tf.minimum if node[0] == "min" else tf.maximum
            built[node] = op(build(node[1]), build(node[2]))
        return built[node]

    return build(wires[len(values) // 2])


def median_filter(images: tf.Tensor, size: int) -> tf.Tensor:
    """`cv::medianBlur` of float images [B, H, W] with a size x size window (replicated border)."""
    height, width = images.shape[1], images.shape[2]
    half = size // 2
    rows = np.clip(np.arange(-half, height + half), 0, height - 1)
    cols = np.clip(np.arange(-half, width + half), 0, width - 1)
    padded = tf.gather(tf.gather(images, rows, axis=1), cols, axis=2)
    window = [padded[:, i : i + height, j : j + width] for i in range(size) for j in range(size)]
    return _median(window)
