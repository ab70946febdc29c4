"""Optical-flow algorithms by name (`--flow_algorithm`): two frames -> flow in pixels.

`FLOW_ALGORITHMS`: `tvl1` (OpenCV Dual TV-L1 at OpenCV 5 contrib's default parameters; the
slow one, its cost per pair is in README.md's Scaling section), `dis` (DIS, medium preset with
its pyramid starting at 1/2 scale; ~7-10 ms per 340x256 pair on one core of the dev machine,
median 9 ms on bikes.mp4) and `farneback` (~20-30 ms). Each must recover known shifts of
natural frames and of 10-20 px stripes and checks within 0.5 px (tests/test_algorithms.py).
Flow follows OpenCV's convention: `next(x + u, y + v) ~ prev(x, y)`, so content moving right
gives positive `u`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from tfrecords.errors import UserError

FLOW_ALGORITHMS = ("tvl1", "dis", "farneback")

# (previous, next) [H, W] uint8 grayscale -> flow float32 [H, W, 2] (x, y) pixels.
FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def flow_function(algorithm: str) -> FlowFunction:
    """Returns `flow(prev, next) -> [H, W, 2] float32` (x, y pixels) for two [H, W] uint8 frames.

    Raises:
      ValueError: `algorithm` is not one of FLOW_ALGORITHMS (names the --flow_algorithm flag).
    """
    if algorithm == "tvl1":
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda prev, nxt: tvl1.calc(prev, nxt, None)
    if algorithm == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        # The preset's automatic pyramid starts at 1/8 for 340x256, where a 10-20 px periodic
        # pattern (stripes, checks, fences) aliases and the coarse match locks onto the wrong
        # period: 5-15 px of false motion in the tests, ~26 px on a clip (issue 15). Starting
        # at 1/2 (also the preset's finest scale, so one level) keeps such patterns resolved;
        # shifts of natural frames up to 24 px (beyond the stored +-20) are still recovered.
        dis.setCoarsestScale(1)
        return lambda prev, nxt: dis.calc(prev, nxt, None)
    if algorithm == "farneback":
        # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags: OpenCV's sample.
        return lambda prev, nxt: cv2.calcOpticalFlowFarneback(
            prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0
        )
    raise UserError(f"flow algorithm {algorithm!r}: use one of {FLOW_ALGORITHMS}")
