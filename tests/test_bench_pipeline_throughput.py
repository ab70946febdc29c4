"""Smoke test: the input pipeline benchmark runs end to end on tiny data (figures unchecked)."""

import re

import numpy as np
import pytest
from conftest import run_quick_bench

from bench import bench_data, seed_generator


def test_seed_style_generator_batches(tmp_path):
    data = bench_data.write(str(tmp_path), num_videos=2, mean_frames=12, num_shards=1)
    for temporal, channels in ((False, 3), (True, 20)):
        batches = seed_generator.SeedStyleGenerator(
            data.frames_dir,
            data.video_ids,
            data.num_frames,
            data.labels,
            temporal=temporal,
            flow_len=10,
            batch_size=3,
            image_size=224,
            frame_hw=(bench_data.HEIGHT, bench_data.WIDTH),
            workers=2,
        ).batches()
        images, labels = next(batches)
        batches.close()
        assert images.shape == (3, 224, 224, channels) and images.dtype == np.float32
        assert labels.shape == (3,) and set(labels.tolist()) <= set(data.labels)
        assert np.abs(images).max() <= 1.0  # per-image mean subtracted, scaled by 1/255


@pytest.mark.slow
def test_bench_prints_the_summary_line(tmp_path):
    stdout = run_quick_bench(
        "bench.pipeline_throughput", tmp_path, "--mean_frames=16", "--num_shards=1"
    )
    summary = stdout.strip().splitlines()[-1]
    pattern = r"input_pipeline: spatial_vs_limit=\d+\.\d\d temporal_vs_limit=\d+\.\d\d "
    pattern += r"temporal_vs_generator=\d+\.\dx spatial_vs_generator=\d+\.\dx "
    pattern += r"service_overhead=\d+\.\dx device_ms_per_sample=\d+\.\d\d"
    assert re.fullmatch(pattern, summary), summary
    table = stdout.splitlines()
    assert any(line.startswith("K = 3 segments, CPU ms per example") for line in table)
    for stream in ("spatial", "temporal"):
        for figure in (
            "pipeline, 3 segments",
            "decode limit (full frames)",
            "decode limit (crop windows)",
        ):
            assert any(line.startswith(f"{stream} {figure} ") for line in table), figure
        for half in ("train", "eval"):
            assert any(
                line.startswith(f"{stream} device half, {half} batch (XLA) ") for line in table
            )
