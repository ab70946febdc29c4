"""Smoke test: the tf.data service benchmark runs end to end on tiny data (figures unchecked)."""

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_prints_the_summary_line(tmp_path):
    command = [
        sys.executable,
        "-m",
        "bench.service",
        "--stream=spatial",
        "--num_videos=2",
        "--mean_frames=12",
        "--num_shards=2",
        "--batch_size=4",
        "--rounds=1",
        "--seconds=0.2",
        "--warmup=0.2",
        f"--work_dir={tmp_path}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    summary = result.stdout.strip().splitlines()[-1]
    pattern = r"service: in_process=\d+ one_worker=\d+ one_worker_auto=\d+ two_workers=\d+ "
    pattern += r"\(samples/s\)"
    assert re.fullmatch(pattern, summary), summary
    assert re.search(r"^in_process +\d+\.\d +\d+\.\d\d$", result.stdout, re.MULTILINE)
