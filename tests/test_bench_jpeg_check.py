"""Smoke test: the JPEG decode-check benchmark runs and prints its figures (values unchecked)."""

import pathlib
import subprocess
import sys

from bench import bench_data, jpeg_check

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_cpu_ms_per_frame_is_positive():
    rgb_pool, flow_pool = bench_data.frame_pools()
    assert jpeg_check.cpu_ms_per_frame(rgb_pool[:2], rounds=1, repeats=1) > 0
    assert jpeg_check.cpu_ms_per_frame(flow_pool[:2], rounds=1, repeats=1) > 0


def test_bench_prints_per_frame_and_per_job_figures():
    result = subprocess.run(
        [sys.executable, "-m", "bench.jpeg_check", "--rounds=1", "--repeats=1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("RGB 340x256") and lines[0].endswith("CPU ms per frame")
    assert lines[1].startswith("flow 340x256") and lines[1].endswith("CPU ms per frame")
    assert lines[2].startswith("UCF-101-size job") and lines[2].endswith("CPU-minutes")
