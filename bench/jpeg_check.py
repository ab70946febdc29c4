"""`python -m bench.jpeg_check`: CPU cost of the Beam job's full JPEG decode check.

Times `preprocessing.clip_sources.check_jpeg_decodes` (`--verify_jpeg_decode`, on by
default) on `bench.bench_data`'s realistic frames (340x256 RGB ~28 KB, grayscale flow
~4 KB), one thread, best of --rounds, and prints CPU ms per frame and the CPU time of a
UCF-101-size job (13,320 clips, ~2.47 M RGB frames, 2 x ~2.47 M flow frames). A few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from absl import flags

from bench import bench_data
from preprocessing.clip_sources import check_jpeg_decodes, jpeg_shape
from tfrecords.errors import run_binary

_ROUNDS = flags.DEFINE_integer("rounds", 5, "Timed rounds (the lowest is printed).", lower_bound=1)
_REPEATS = flags.DEFINE_integer(
    "repeats", 20, "Passes over the frame pool per round.", lower_bound=1
)

UCF101_RGB_FRAMES = 2_470_000
UCF101_FLOW_FRAMES = 2 * UCF101_RGB_FRAMES  # x and y; one fewer per clip, ignored


def cpu_ms_per_frame(frames: list[bytes], rounds: int, repeats: int) -> float:
    """Lowest process CPU ms per `check_jpeg_decodes` call over `rounds` rounds."""
    channels = [jpeg_shape(data)[2] for data in frames]
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeats):
            for data, c in zip(frames, channels, strict=True):
                check_jpeg_decodes(data, c)
        best = min(best, (time.process_time() - start) / (repeats * len(frames)))
    return best * 1e3


def main(argv: Sequence[str]) -> None:
    """Prints the per-frame and per-job figures."""
    del argv  # run_binary refuses positional arguments
    rgb_pool, flow_pool = bench_data.frame_pools()
    rgb_ms = cpu_ms_per_frame(rgb_pool, _ROUNDS.value, _REPEATS.value)
    flow_ms = cpu_ms_per_frame(flow_pool, _ROUNDS.value, _REPEATS.value)
    rgb_kb, flow_kb = bench_data.mean_kb(rgb_pool), bench_data.mean_kb(flow_pool)
    job_s = (rgb_ms * UCF101_RGB_FRAMES + flow_ms * UCF101_FLOW_FRAMES) / 1e3
    print(f"RGB 340x256 ({rgb_kb:.1f} KB): {rgb_ms:.3f} CPU ms per frame")
    print(f"flow 340x256 ({flow_kb:.1f} KB): {flow_ms:.3f} CPU ms per frame")
    print(
        f"UCF-101-size job ({UCF101_RGB_FRAMES:,} RGB + {UCF101_FLOW_FRAMES:,} flow frames): "
        f"{job_s / 60:.1f} CPU-minutes"
    )


if __name__ == "__main__":
    run_binary(main)
