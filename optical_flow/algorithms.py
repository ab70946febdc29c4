"""Optical-flow algorithms by name (`--flow_algorithm`): pairs of frames -> flow in pixels.

`FLOW_ALGORITHMS` (costs per 340x256 pair on one core of the 2-core development machine,
`python -m bench.flow` and bench/README.md; accuracy on known shifts in README.md):
- `tvl1` (the default): TV-L1 in TensorFlow (`optical_flow.tvl1`, preset `archive`), the
  variant the public `tvl1_flow` archives were computed with (OpenCV 2.4's GPU class at its
  defaults), compiled with XLA on the default device: a GPU or TPU if TensorFlow sees one.
- `tvl1_opencv`: OpenCV 5 contrib's CPU `DualTVL1OpticalFlow_create()` at its defaults, the
  reference the TensorFlow port's `opencv` preset is tested against (another variant than
  the archives': 0.68 px mean end-point difference on a real pair, DESIGN 5a).
- `dis`: DIS, medium preset with its pyramid starting at 1/2 scale (~7-10 ms).
- `farneback`: Farneback at OpenCV's sample parameters (~20-30 ms; 0.4-2.2 px off on known
  shifts of a real photograph, the least accurate).
Each must recover known shifts of natural frames and of 10-20 px stripes and checks within
0.5 px (tests/test_algorithms.py). Flow follows OpenCV's convention: `next(x + u, y + v) ~
prev(x, y)`, so content moving right gives positive `u`.

Every algorithm takes a batch of pairs; `pairs_per_call` says how many to give it at once:
the TensorFlow TV-L1 one pair per call on a CPU (batching pairs there costs more than it
saves: a batch iterates until its slowest pair converges, bench/README.md), a fixed batch on
an accelerator; OpenCV's algorithms compute pair by pair whatever they are given.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import tensorflow as tf

from optical_flow import FLOW_ALGORITHMS as FLOW_ALGORITHMS
from optical_flow import tvl1
from tfrecords.errors import UserError

# The TensorFlow TV-L1's preset behind `tvl1`: the archives' variant.
TVL1_PRESET = "archive"
# Pairs per TensorFlow TV-L1 call on a GPU or TPU: enough pairs to fill the device with
# 340x256 frames (an estimate, not yet measured on one: bench.flow prints a device's pairs/s).
ACCELERATOR_PAIRS = 32

# (previous, next) uint8 [B, H, W] grayscale -> flow float32 [B, H, W, 2] (x, y) pixels.
FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _pair_by_pair(flow: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> FlowFunction:
    """An OpenCV pair function [H, W] x 2 -> [H, W, 2] applied to every pair of a batch."""

    def batch(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
        return np.stack([flow(p, c) for p, c in zip(previous, current, strict=True)])

    return batch


def _tensorflow_tvl1(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    return np.asarray(tvl1.tvl1_flow(previous, current, TVL1_PRESET))


def accelerators() -> list[tf.config.LogicalDevice]:
    """The GPUs and TPUs TensorFlow sees: the TensorFlow TV-L1 runs on the first, if any."""
    return tf.config.list_logical_devices("GPU") + tf.config.list_logical_devices("TPU")


def check_algorithm(algorithm: str) -> None:
    """Raises UserError unless `algorithm` is one of FLOW_ALGORITHMS."""
    if algorithm not in FLOW_ALGORITHMS:
        raise UserError(f"flow algorithm {algorithm!r}: use one of {FLOW_ALGORITHMS}")


def flow_function(algorithm: str) -> FlowFunction:
    """Returns `flow(previous, next) -> [B, H, W, 2] float32` for pairs of [B, H, W] uint8 frames.

    Raises:
      UserError: `algorithm` is not one of FLOW_ALGORITHMS.
    """
    check_algorithm(algorithm)
    if algorithm == "tvl1":
        return _tensorflow_tvl1
    if algorithm == "tvl1_opencv":
        opencv = cv2.optflow.DualTVL1OpticalFlow_create()
        return _pair_by_pair(lambda prev, nxt: opencv.calc(prev, nxt, None))
    if algorithm == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        # The preset's automatic pyramid starts at 1/8 for 340x256, where a 10-20 px periodic
        # pattern (stripes, checks, fences) aliases and the coarse match locks onto the wrong
        # period: 5-15 px of false motion in the tests, ~26 px on a clip (issue 15). Starting
        # at 1/2 (also the preset's finest scale, so one level) keeps such patterns resolved;
        # shifts of natural frames up to 24 px (beyond the stored +-20) are still recovered.
        dis.setCoarsestScale(1)
        return _pair_by_pair(lambda prev, nxt: dis.calc(prev, nxt, None))
    # pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags: OpenCV's sample.
    return _pair_by_pair(
        lambda prev, nxt: cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    )


def pairs_per_call(algorithm: str) -> int:
    """How many pairs to give `flow_function(algorithm)` at once on this machine.

    Raises:
      UserError: `algorithm` is not one of FLOW_ALGORITHMS.
    """
    check_algorithm(algorithm)
    return ACCELERATOR_PAIRS if algorithm == "tvl1" and accelerators() else 1
