"""Smoke test: the tf.data service benchmark runs end to end on tiny data (figures unchecked)."""

import re

import pytest
from conftest import run_quick_bench


@pytest.mark.slow
def test_bench_prints_the_summary_line(tmp_path):
    stdout = run_quick_bench(
        "bench.service", tmp_path, "--stream=spatial", "--mean_frames=12", "--num_shards=2"
    )
    summary = stdout.strip().splitlines()[-1]
    pattern = r"service: in_process=\d+ one_worker=\d+ one_worker_auto=\d+ two_workers=\d+ "
    pattern += r"\(samples/s\)"
    assert re.fullmatch(pattern, summary), summary
    assert re.search(r"^in_process +\d+\.\d +\d+\.\d\d$", stdout, re.MULTILINE)
