"""TV-L1 optical flow in TensorFlow, compiled with XLA: the archives' flow on any device.

One entry point, `tvl1_flow(previous, current, preset)`: frames [B, H, W] -> flow [B, H, W, 2]
float32 (x, y) pixels with OpenCV's convention `current(x + u, y + v) ~ previous(x, y)`.

References (ports of their arithmetic, step by step):
- preset `archive`: OpenCV 2.4 `cv::gpu::OpticalFlowDual_TVL1_GPU` at its defaults (tau 0.25,
  lambda 0.15, theta 0.3, nscales 5, warps 5, epsilon 0.01, iterations 300), the class behind
  the public `tvl1_flow` archives (Feichtenhofer's `gpu_flow`, TSN's `dense_flow`): pyramid by
  `gpu::pyrDown` (levels kept while both sides >= 16), flow upsampled by `gpu::resize` (bilinear,
  source coordinate = destination * ratio, no half-pixel offset) and doubled, bicubic warp of
  modules/gpu/src/cuda/tvl1flow.cu (Keys a = -0.5, clamp to edge), its 'calcError' schedule
  (modules/gpu/src/tvl1flow.cpp, 2.4.9+). No median filter.
- preset `opencv`: OpenCV 5.0 contrib `cv::optflow::DualTVL1OpticalFlow_create()` at its
  defaults (modules/optflow/src/tvl1flow.cpp, CPU path): pyramid by `cv::resize(INTER_LINEAR)`
  with scale step 0.8, 10 outer x 30 inner iterations with a 5x5 `cv::medianBlur` of the flow
  before each outer iteration, `cv::remap(INTER_CUBIC)` warp (Keys a = -0.75, constant-0
  border; OpenCV 5 interpolates at the exact coordinates, where 2.4-4.x rounded them to 1/32
  px), the error summed every iteration.

Measured on this machine's CPU, one thread (intra- and inter-op parallelism 1), 340x256,
process CPU time, OpenCV 5.0.0 and TensorFlow 2.21 (a shared 2-core machine: +-10% between runs):
- `archive`: 105 ms per pair one pair at a time (8 consecutive pairs of bikes.mp4, frames 0-8;
  123 ms on its fast-motion pair 60-61: ~300 full-size-equivalent iterations at ~2.9 ns per
  pixel and iteration, plus 25 warps of ~4 ms at full size). 212 ms per pair in batches of 8:
  a batch iterates until its slowest pair converges (the others are frozen, not skipped) and
  carries masks; on a CPU, call it one pair at a time.
- `opencv`: 241 ms per pair one at a time, 393 ms in batches of 8.
- OpenCV's `DualTVL1OpticalFlow_create()` itself: 1,500 ms per pair on the same pairs (14x the
  `archive` preset).
- Compiling: ~8 s (`archive`) and ~10 s (`opencv`) per (frame shape, batch size), paid on the
  first call with that shape; `compiled_flow` keeps the compiled function for the process.
- Difference from OpenCV (tests/test_tvl1.py, 4 real pairs): the `opencv` preset's end-point
  difference from `DualTVL1OpticalFlow_create()` is 0.017 px mean, p99 0.19 px.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf

# XLA's dynamic-update-slice, which TensorFlow's public API does not expose (TF's own tf2xla
# helpers, shipped in every TensorFlow wheel since 1.x).
from tensorflow.compiler.tf2xla.python import xla as tf2xla

from optical_flow import tvl1_ops

# Pyramid levels are kept while both sides are at least this (both OpenCV classes).
MIN_LEVEL_SIZE = 16
# `numeric_limits<float>::epsilon()`: below it |grad I|^2 counts as 0 in the thresholding step.
FLOAT_EPSILON = float(np.finfo(np.float32).eps)


@dataclasses.dataclass(frozen=True)
class Tvl1Params:
    """Every parameter of the algorithm; OpenCV's names in brackets.

    Attributes:
      tau: time step of the dual update [tau].
      lambda_: weight of the data term [lambda].
      theta: coupling of u and v [theta].
      scales: most pyramid levels [nscales]; fewer when a level would be under 16 px.
      pyramid: "pyrdown" (2.4 GPU: `pyrDown`, [1 4 6 4 1]/16, reflect-101, size (n + 1) // 2) or
        "resize" (CPU: `cv::resize(INTER_LINEAR)` by scale_step, size round(n * scale_step)).
      scale_step: size ratio between levels [scaleStep]; the flow is multiplied by
        1 / scale_step when upsampled (2.4 GPU: 0.5, implied by pyrDown).
      upsample_half_pixel: the flow's bilinear upsampling maps centres (`cv::resize`: True) or
        corners (2.4 `gpu::resize`: source = destination * ratio, False).
      warps: warps per level [warps].
      epsilon: stop when sum |u_new - u|^2 <= epsilon^2 H W [epsilon].
      inner_iterations: most iterations per outer iteration [innerIterations; 2.4 GPU:
        iterations].
      outer_iterations: outer iterations per warp [outerIterations; 2.4 GPU: none, 1].
      median_size: median filter of the flow before each outer iteration [medianFiltering];
        1 = none.
      cubic_a: Keys' a of the bicubic warp (2.4 GPU kernel -0.5, `cv::remap` -0.75).
      warp_border: "clamp" (2.4 GPU texture clamp) or "zero" (`cv::remap` BORDER_CONSTANT 0).
      error_every_iteration: sum the error every iteration (CPU) or on the 2.4 GPU 'calcError'
        schedule (False): only on odd iterations when the last computed sum, minus epsilon^2 H
        W for every iteration since, is below epsilon^2 H W; otherwise not converged.
    """

    tau: float
    lambda_: float
    theta: float
    scales: int
    pyramid: str
    scale_step: float
    upsample_half_pixel: bool
    warps: int
    epsilon: float
    inner_iterations: int
    outer_iterations: int
    median_size: int
    cubic_a: float
    warp_border: str
    error_every_iteration: bool


_ARCHIVE = Tvl1Params(
    tau=0.25,
    lambda_=0.15,
    theta=0.3,
    scales=5,
    pyramid="pyrdown",
    scale_step=0.5,
    upsample_half_pixel=False,
    warps=5,
    epsilon=0.01,
    inner_iterations=300,
    outer_iterations=1,
    median_size=1,
    cubic_a=-0.5,
    warp_border="clamp",
    error_every_iteration=False,
)
PRESETS = {
    "archive": _ARCHIVE,
    # The same tau, lambda, theta, scales, warps and epsilon; the CPU class differs in the rest.
    "opencv": dataclasses.replace(
        _ARCHIVE,
        pyramid="resize",
        scale_step=0.8,
        upsample_half_pixel=True,
        inner_iterations=30,
        outer_iterations=10,
        median_size=5,
        cubic_a=-0.75,
        warp_border="zero",
        error_every_iteration=True,
    ),
}


def pyramid_sizes(height: int, width: int, params: Tvl1Params) -> list[tuple[int, int]]:
    """(height, width) of every pyramid level, finest first, as the reference builds them.

    A level is dropped (with all coarser ones) when either side falls under MIN_LEVEL_SIZE.
    """
    sizes = [(height, width)]
    while len(sizes) < params.scales:
        h, w = sizes[-1]
        if params.pyramid == "pyrdown":
            h, w = (h + 1) // 2, (w + 1) // 2
        else:  # cv::resize(Size(), fx, fy): cvRound of the scaled size.
            h, w = round(h * params.scale_step), round(w * params.scale_step)
        if h < MIN_LEVEL_SIZE or w < MIN_LEVEL_SIZE:
            break
        sizes.append((h, w))
    return sizes


def downscale(images: tf.Tensor, size: tuple[int, int], params: Tvl1Params) -> tf.Tensor:
    """One pyramid level down: [B, H, W] -> [B, h, w] (`size` from `pyramid_sizes`)."""
    if params.pyramid == "pyrdown":
        return tvl1_ops.pyr_down(images)
    inverse = 1.0 / params.scale_step
    return tvl1_ops.resize_bilinear(images, size, (inverse, inverse), half_pixel=True)


def upsample_flow(
    flow_x: tf.Tensor, flow_y: tf.Tensor, size: tuple[int, int], params: Tvl1Params
) -> tuple[tf.Tensor, tf.Tensor]:
    """Flow of a coarse level -> the next finer level [B, h, w] each, times 1 / scale_step."""
    height, width = flow_x.shape[1], flow_x.shape[2]
    if params.upsample_half_pixel:  # cv::resize to a size: the ratio in double.
        scale = (height / size[0], width / size[1])
    else:  # gpu::resize passes float(1 / (dsize / src)) to its kernel.
        scale = (1.0 / (size[0] / height), 1.0 / (size[1] / width))
    zoom = 1.0 / params.scale_step
    return tuple(
        tvl1_ops.resize_bilinear(f, size, scale, params.upsample_half_pixel) * zoom
        for f in (flow_x, flow_y)
    )


@dataclasses.dataclass(frozen=True)
class _Linearised:
    """The data term linearised at one warp: [B, H, W] each (names of the reference).

    |grad I1w|^2 (the reference's `grad`) is recomputed in the iteration by the same float
    expression: one array less to read per iteration.
    """

    i1wx: tf.Tensor
    i1wy: tf.Tensor
    rho_c: tf.Tensor


def _update(padded: tf.Tensor, interior: tf.Tensor) -> tf.Tensor:
    """`padded` with its interior replaced (in place under XLA when `padded` is not read)."""
    return tf2xla.dynamic_update_slice(padded, interior, tf.constant([0, 1, 1]))


def _step(
    data: _Linearised,
    u: tuple,
    p: tuple,
    spare: tuple,
    running: tf.Tensor | None,
    params: Tvl1Params,
) -> tuple[tuple, tuple]:
    """One primal-dual iteration on padded (u1, u2), (p11, p12, p21, p22) [B, H + 2, W + 2].

    The results are written into the `spare` arrays (u then p, their borders of 0 kept) so that
    nothing read is overwritten: XLA then updates them in place and fuses each with its
    computation. running [B]: pairs not running keep their values; None: all run.
    """
    u1, u2 = tvl1_ops.padded_view(u[0], 0, 0), tvl1_ops.padded_view(u[1], 0, 0)
    i1wx, i1wy = data.i1wx, data.i1wy
    grad = i1wx * i1wx + i1wy * i1wy
    # estimateU: the thresholding step v = u + d grad I1w (the reference's three cases), then
    # u = v + theta div p.
    rho = data.rho_c + (i1wx * u1 + i1wy * u2)
    l_t = params.lambda_ * params.theta
    l_t_grad = l_t * grad
    inside = tf.where(grad > FLOAT_EPSILON, -rho / grad, 0.0)
    step = tf.where(rho < -l_t_grad, l_t, tf.where(rho > l_t_grad, -l_t, inside))
    new_u = (
        u1 + step * i1wx + params.theta * tvl1_ops.divergence_padded(p[0], p[1]),
        u2 + step * i1wy + params.theta * tvl1_ops.divergence_padded(p[2], p[3]),
    )
    if running is not None:
        new_u = _keep(running, new_u, (u1, u2))
    new_u = tuple(_update(s, n) for s, n in zip(spare[:2], new_u, strict=True))
    # estimateDualVariables: p = (p + taut grad+ u) / (1 + taut |grad+ u|).
    taut = params.tau / params.theta
    new_p = []
    for component, p1, p2 in zip(new_u, p[::2], p[1::2], strict=True):
        ux, uy = tvl1_ops.forward_gradient_padded(component)
        norm = 1.0 + taut * tf.sqrt(ux * ux + uy * uy)
        new_p += [
            (tvl1_ops.padded_view(p1, 0, 0) + taut * ux) / norm,
            (tvl1_ops.padded_view(p2, 0, 0) + taut * uy) / norm,
        ]
    if running is not None:
        new_p = _keep(running, new_p, [tvl1_ops.padded_view(x, 0, 0) for x in p])
    return new_u, tuple(_update(s, n) for s, n in zip(spare[2:], new_p, strict=True))


def _change(u: tuple, new_u: tuple) -> tf.Tensor:
    """Sum |new_u - u|^2 per pair of padded arrays: [B] (the reference's `error`)."""
    squares = sum(
        tf.square(tvl1_ops.padded_view(o, 0, 0) - tvl1_ops.padded_view(n, 0, 0))
        for o, n in zip(u, new_u, strict=True)
    )
    return tf.reduce_sum(squares, axis=[1, 2])


def _keep(running: tf.Tensor, new, old) -> tuple:
    """Per pair: `new` where running [B], else `old` (a converged pair is frozen)."""
    mask = running[:, None, None]
    return tuple(tf.where(mask, n, o) for n, o in zip(new, old, strict=True))


def _inner_loop(
    data: _Linearised, u: tuple, p: tuple, error: tf.Tensor, threshold: float, params: Tvl1Params
) -> tuple[tuple, tuple, tf.Tensor]:
    """Iterates until every pair's error <= threshold or inner_iterations; returns u, p, error.

    u [B, H, W] x 2, p x 4; the error [B] enters as the reference carries it (+inf at a warp's
    start; on the CPU the previous outer iteration's). Each turn of the loop runs iterations
    n and n + 1 (n even), alternating two sets of arrays; a pair that stops after iteration n
    keeps that iteration's values through n + 1.
    """
    limit = params.inner_iterations
    huge = tf.fill(tf.shape(error), np.float32(np.finfo(np.float32).max))
    # One pair runs exactly while the loop does: masks would cost passes over memory. Under
    # the 2.4 schedule (errors only after odd iterations) with an even limit, it cannot stop
    # between the turn's two iterations either.
    single = u[0].shape[0] == 1
    exact_turns = not params.error_every_iteration and limit % 2 == 0

    def running_pairs(n: tf.Tensor, err: tf.Tensor) -> tf.Tensor:
        return (err > threshold) & (n < limit)

    def schedule(odd: bool, n, old_u, new_u, err, prev, running):
        """The error after iteration n (odd: statically n % 2), per pair: (error, prev)."""
        if params.error_every_iteration:
            new_err, new_prev = _change(old_u, new_u), prev
        elif not odd:  # 2.4 GPU calcError: only odd iterations may compute the sum.
            new_err, new_prev = huge, prev - threshold
        else:  # ... and only when the running estimate could be converged.
            computed = prev < threshold
            # Most turns compute no sum: skipping its pass over memory saves ~10%.
            total = tf.cond(tf.reduce_any(computed), lambda: _change(old_u, new_u), lambda: huge)
            new_err = tf.where(computed, total, huge)
            new_prev = tf.where(computed, total, prev - threshold)
        return tf.where(running, new_err, err), tf.where(running, new_prev, prev)

    def cond(n, err, prev, u, p, spare_u, spare_p):
        return tf.reduce_any(running_pairs(n, err))

    def body(n, err, prev, u, p, spare_u, p_spare):
        running = running_pairs(n, err)
        u1, p1 = _step(data, u, p, spare_u + p_spare, None if single else running, params)
        err, prev = schedule(False, n, u, u1, err, prev, running)
        running = running_pairs(n + 1, err) & running
        mask = None if single and exact_turns else running
        u2, p2 = _step(data, u1, p1, u + p, mask, params)
        err, prev = schedule(True, n + 1, u1, u2, err, prev, running)
        return n + 2, err, prev, u2, p2, u1, p1

    u, p = tuple(tvl1_ops.pad_border(x) for x in u), tuple(tvl1_ops.pad_border(x) for x in p)
    start = (tf.constant(0), error, tf.zeros_like(error), u, p, u, p)
    _, error, _, u, p, _, _ = tf.while_loop(cond, body, start)
    return (
        tuple(tvl1_ops.padded_view(x, 0, 0) for x in u),
        tuple(tvl1_ops.padded_view(x, 0, 0) for x in p),
        error,
    )


def _one_warp(
    i0: tf.Tensor, i1_stack: tf.Tensor, u: tuple, p: tuple, params: Tvl1Params
) -> tuple[tuple, tuple]:
    """Warps I1 and its gradient at u, then minimises the linearised energy."""
    warped = tvl1_ops.warp_bicubic(i1_stack, u[0], u[1], params.cubic_a, params.warp_border)
    i1w, i1wx, i1wy = tf.unstack(warped, axis=3)
    data = _Linearised(
        i1wx=i1wx,
        i1wy=i1wy,
        rho_c=i1w - i1wx * u[0] - i1wy * u[1] - i0,
    )
    height, width = i0.shape[1], i0.shape[2]
    threshold = params.epsilon * params.epsilon * height * width
    error = tf.fill([i0.shape[0]], np.float32(np.finfo(np.float32).max))
    if params.outer_iterations == 1:
        u, p, _ = _inner_loop(data, u, p, error, threshold, params)
        return u, p

    def cond(k, err, u, p):
        return tf.reduce_any((err > threshold) & (k < params.outer_iterations))

    def body(k, err, u, p):
        if params.median_size > 1:
            filtered = tuple(tvl1_ops.median_filter(c, params.median_size) for c in u)
            u = _keep(err > threshold, filtered, u)
        u, p, err = _inner_loop(data, u, p, err, threshold, params)
        return k + 1, err, u, p

    _, _, u, p = tf.while_loop(cond, body, (tf.constant(0), error, u, p))
    return u, p


def _one_scale(i0: tf.Tensor, i1: tf.Tensor, u: tuple, params: Tvl1Params) -> tuple:
    """Flow at one pyramid level [B, H, W] x 2, starting from u; the dual p starts at 0."""
    i1_stack = tf.stack([i1, *tvl1_ops.centred_gradient(i1)], axis=3)
    p = (tf.zeros_like(i0),) * 4

    # A loop rather than unrolled warps: every warp has the same shapes, and one copy of its
    # body compiles ~5x faster (XLA's compile time grows with the number of loops).
    def body(k, u, p):
        return (k + 1, *_one_warp(i0, i1_stack, u, p, params))

    _, u, _ = tf.while_loop(lambda k, u, p: k < params.warps, body, (tf.constant(0), u, p))
    return u


def _flow(previous: tf.Tensor, current: tf.Tensor, params: Tvl1Params) -> tf.Tensor:
    """The whole algorithm on [B, H, W] frames -> [B, H, W, 2]; traced once per shape."""
    i0s = [tf.cast(previous, tf.float32)]
    i1s = [tf.cast(current, tf.float32)]
    sizes = pyramid_sizes(i0s[0].shape[1], i0s[0].shape[2], params)
    for size in sizes[1:]:
        i0s.append(downscale(i0s[-1], size, params))
        i1s.append(downscale(i1s[-1], size, params))
    u = (tf.zeros_like(i0s[-1]),) * 2
    for level in reversed(range(len(sizes))):
        if level < len(sizes) - 1:
            u = upsample_flow(u[0], u[1], sizes[level], params)
        u = _one_scale(i0s[level], i1s[level], u, params)
    return tf.stack(u, axis=3)


@functools.cache
def compiled_flow(preset: str):
    """The XLA-compiled flow of `preset`: a tf.function that compiles once per input shape."""
    return tf.function(functools.partial(_flow, params=PRESETS[preset]), jit_compile=True)


def tvl1_flow(previous, current, preset: str = "archive") -> tf.Tensor:
    """TV-L1 flow from `previous` to `current`, compiled with XLA.

    Args:
      previous: [B, H, W] grayscale frames, uint8 or float32 in 0..255 (frame i).
      current: the same shape and dtype (frame i + 1).
      preset: a key of PRESETS ("archive": OpenCV 2.4 GPU, the archives' flow; "opencv":
        OpenCV 5 contrib CPU defaults).

    Returns:
      [B, H, W, 2] float32 (x, y) pixels: current(x + u, y + v) ~ previous(x, y). Each pair's
      flow is independent of the others in its batch.

    Raises:
      ValueError: unknown preset, or frames that are not [B, H, W] of equal shape and dtype
        (uint8 or float32) with both sides >= MIN_LEVEL_SIZE.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: use one of {sorted(PRESETS)}")
    previous = tf.convert_to_tensor(previous)
    current = tf.convert_to_tensor(current)
    if previous.shape != current.shape or previous.dtype != current.dtype:
        raise ValueError(
            f"frames differ: previous {previous.shape} {previous.dtype.name}, "
            f"current {current.shape} {current.dtype.name}"
        )
    if previous.dtype not in (tf.uint8, tf.float32):
        raise ValueError(f"frames are {previous.dtype.name}: use uint8 or float32 (0..255)")
    if previous.shape.rank != 3 or min(previous.shape[1:]) < MIN_LEVEL_SIZE:
        raise ValueError(
            f"frames of shape {previous.shape}: use [B, H, W] with H, W >= {MIN_LEVEL_SIZE}"
        )
    return compiled_flow(preset)(previous, current)
