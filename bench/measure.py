"""What the input benchmarks share: their flags, process set-up, timing and printed figures.

`bench.pipeline_throughput` and `bench.service` both write `bench.bench_data` to a work dir,
pin the process to `--cores` CPUs before TensorFlow starts, time batch iterators after an
untimed warmup in interleaved rounds, keep each figure's best round (the one with the lowest
CPU ms per sample; both of its figures come from that round) and print a table of samples/s
(wall clock) and CPU ms per sample (process CPU time: what a sample costs whatever else runs
on the machine).

Nothing here imports TensorFlow at module level: the binaries pin their CPUs first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from absl import flags, logging

if TYPE_CHECKING:
    from bench.bench_data import BenchData


def define_flags(warmup: float, num_shards_help: str = "Train shards.") -> None:
    """Defines the data and timing flags every input benchmark takes.

    Args:
      warmup: the `--warmup` default, untimed seconds before each measurement.
      num_shards_help: the `--num_shards` help (a benchmark may need a minimum).
    """
    flags.DEFINE_integer("cores", 2, "CPUs the process may use (os.sched_setaffinity).")
    flags.DEFINE_integer("num_videos", 16, "Videos written.")
    flags.DEFINE_integer("mean_frames", 185, "Mean RGB frames per video (UCF-101: 185).")
    flags.DEFINE_integer("num_shards", 4, num_shards_help)
    flags.DEFINE_integer("batch_size", 32, "Samples per batch.")
    flags.DEFINE_float("seconds", 4.0, "Timed seconds per measurement per round.")
    flags.DEFINE_integer(
        "rounds", 2, "Interleaved measurement rounds; the lowest-CPU round is reported."
    )
    flags.DEFINE_float("warmup", warmup, "Untimed seconds before each batch iterator is timed.")
    flags.DEFINE_string("work_dir", "", "Where data is written; '' = a temp dir, deleted after.")


class Rate(NamedTuple):
    """Samples per wall-clock second and process CPU milliseconds per sample."""

    per_second: float
    cpu_ms: float

    def best(self, other: Rate | None) -> Rate:
        """The round with the lower CPU ms per sample, both of its figures (self on a tie).

        `other` may be None (no earlier round). CPU time is what a sample costs whatever the
        neighbours do, so it picks the round; the wall-clock figure is that round's, never
        another's, so the two figures (and ratios between them) describe one measurement.
        """
        if other is None or self.cpu_ms <= other.cpu_ms:
            return self
        return other


class Clock:
    """Wall-clock and process CPU time since it was made."""

    def __init__(self):
        self.start = time.perf_counter()
        self._cpu = time.process_time()

    def elapsed(self) -> float:
        """Wall-clock seconds since the start."""
        return time.perf_counter() - self.start

    def rate(self, count: int) -> Rate:
        """The Rate of `count` samples done since the start."""
        wall, cpu = self.elapsed(), time.process_time() - self._cpu
        return Rate(count / wall, 1e3 * cpu / count)


def pin_process(cores: int, bfc_allocator: bool) -> list[int]:
    """Restricts this process to its first `cores` CPUs; call before TensorFlow starts.

    Args:
      cores: CPUs to keep.
      bfc_allocator: set TF_CPU_ALLOCATOR_USE_BFC=true (read once, when TensorFlow creates
        its CPU allocator): the default allocator maps fresh pages for every large tensor.

    Returns:
      The CPUs kept.
    """
    cpus = sorted(os.sched_getaffinity(0))[:cores]
    os.sched_setaffinity(0, cpus)  # before TensorFlow sizes its thread pools
    if bfc_allocator:
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
    return cpus


@contextlib.contextmanager
def work_dir(path: str, prefix: str) -> Iterator[str]:
    """Yields `path`, or when it is '' a new temp dir (named `prefix`...) deleted on exit."""
    root = path or tempfile.mkdtemp(prefix=prefix)
    try:
        yield root
    finally:
        if not path:
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def local_service(num_workers: int) -> Iterator[str]:
    """Yields the address of a tf.data service with `num_workers` workers, stopped on exit.

    The dispatcher and workers run in this process on loopback
    (`input_pipeline.service.start_local_service`).
    """
    from input_pipeline import service  # imports TensorFlow: after `pin_process`

    address, servers = service.start_local_service(num_workers)
    try:
        yield address
    finally:
        for server in reversed(servers):
            server.stop()


def measure_iterator(make: Callable[[], Iterator], seconds: float, warmup: float) -> Rate:
    """Rate of a fresh batch iterator after `warmup` s (buffers fill, autotuning settles).

    `make()` returns an iterator of (inputs, labels) batches; samples are counted by labels.
    The iterator is closed afterwards (when it can be) so it does not refill buffers during
    later measurements.
    """
    batches = make()
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        next(batches)
    try:
        count, clock = 0, Clock()
        while clock.elapsed() < seconds:
            count += len(next(batches)[1])
        return clock.rate(count)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def keep_best(best: dict[str, Rate], key: str, rate: Rate, round_index: int) -> None:
    """Logs one round's `rate` of `key` and keeps the best round (`Rate.best`) in `best[key]`."""
    best[key] = rate.best(best.get(key))
    logging.info("round %d: %s %s", round_index, key, rate)


def describe_data(data: BenchData, mean_frames: int, num_shards: int) -> str:
    """What `bench_data.write` wrote: videos, mean frame sizes, shards (one line)."""
    from bench import bench_data  # imports TensorFlow: after `pin_process`

    return (
        f"{len(data.video_ids)} videos x {mean_frames} frames (mean), "
        f"RGB JPEG {bench_data.mean_kb(data.rgb_pool):.1f} KB, "
        f"flow JPEG {bench_data.mean_kb(data.flow_pool):.1f} KB, {num_shards} shards"
    )


def print_rates(rates: Mapping[str, Rate], cpu_decimals: int) -> None:
    """Prints a table: one row per figure, samples/s and CPU ms/sample."""
    width = max(map(len, rates))
    print(f"{'':{width}s} {'samples/s':>10s} {'CPU ms/sample':>14s}")
    for key, rate in rates.items():
        print(f"{key:{width}s} {rate.per_second:10.1f} {rate.cpu_ms:14.{cpu_decimals}f}")


def print_load(cpus: list[int]) -> None:
    """Prints the 1-minute load average (neighbours move the wall-clock figures)."""
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {len(cpus)} cores")
