"""Train input throughput read in-process vs through the tf.data service (1 and 2 workers).

    python -m bench.service            # ~1 minute on 2 cores

Writes realistic shards (`bench.bench_data`, as `bench.input_pipeline` does), restricts the
process to `--cores` CPUs, starts in this process two tf.data service dispatchers, one with
one worker and one with two (`input_pipeline.service.start_server`, loopback gRPC), and
measures the `--stream` train pipeline of `configs/base.py` (`input_pipeline.datasets`) in
interleaved rounds, reading:
  - in_process: no service (`config.data.service_address = ''`),
  - one_worker / two_workers: `config.data.service_address` = that dispatcher,
    `distributed_epoch` (the default mode), `config.data.service_compression` = 'none',
  - one_worker_auto: one worker with `service_compression` = 'auto' (the service
    compresses every element on the worker and decompresses it on the trainer).
Each figure is samples/s (wall clock, best round) and CPU ms per sample (this process: the
trainer side and the workers together, lowest round). The workers share the `--cores` CPUs
with the trainer side, so this measures the service's cost on one host, not a scale-out.
The last line is
`service: in_process=N one_worker=N one_worker_auto=N two_workers=N (samples/s)`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable

from absl import flags, logging

from tfrecords.errors import UserError, run_binary

FLAGS = flags.FLAGS
flags.DEFINE_enum("stream", "temporal", ["spatial", "temporal"], "Stream whose pipeline runs.")
flags.DEFINE_integer("cores", 2, "CPUs the process may use (os.sched_setaffinity).")
flags.DEFINE_integer("num_videos", 16, "Videos written.")
flags.DEFINE_integer("mean_frames", 185, "Mean RGB frames per video (UCF-101: 185).")
flags.DEFINE_integer("num_shards", 4, "Train shards (at least the largest worker count).")
flags.DEFINE_integer("batch_size", 32, "Samples per batch.")
flags.DEFINE_float("seconds", 4.0, "Timed seconds per measurement per round.")
flags.DEFINE_integer("rounds", 2, "Interleaved measurement rounds; the best is reported.")
flags.DEFINE_float("warmup", 3.0, "Untimed seconds before each measurement.")
flags.DEFINE_string("work_dir", "", "Where data is written; '' = a temp dir, deleted after.")

# reader -> (workers behind its dispatcher, config.data.service_compression)
READERS = {
    "in_process": (0, "none"),
    "one_worker": (1, "none"),
    "one_worker_auto": (1, "auto"),
    "two_workers": (2, "none"),
}


def _measure(make_iterator: Callable, seconds: float, warmup: float) -> tuple[float, float]:
    """(samples/s, CPU ms/sample) of a fresh batch iterator after `warmup` untimed seconds."""
    batches = make_iterator()
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        next(batches)
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        count += len(next(batches)[1])  # (inputs, labels): count labels
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count / wall, 1e3 * cpu / count


def run(argv: list[str]) -> None:
    """Writes the data, starts the servers, runs every measurement and prints the report."""
    del argv  # run_binary refuses positional arguments
    cpus = sorted(os.sched_getaffinity(0))[: FLAGS.cores]
    os.sched_setaffinity(0, cpus)  # before TensorFlow sizes its thread pools
    os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"  # as bench.input_pipeline (see its flag)

    from bench import bench_data
    from configs import base
    from input_pipeline import datasets, service

    if FLAGS.num_shards < 2:
        raise UserError(f"--num_shards={FLAGS.num_shards}: use at least 2 (one per worker)")
    servers, addresses = [], {}
    for reader, (workers, _) in READERS.items():
        addresses[reader] = ""
        if workers:
            addresses[reader], started = service.start_local_service(workers)
            servers.extend(started)

    root = FLAGS.work_dir or tempfile.mkdtemp(prefix="bench_service_")
    try:
        data = bench_data.write(root, FLAGS.num_videos, FLAGS.mean_frames, FLAGS.num_shards)
        config = base.get_config()
        config.stream = FLAGS.stream
        print(
            f"bench data: {len(data.video_ids)} videos x {FLAGS.mean_frames} frames (mean), "
            f"{FLAGS.num_shards} shards; {FLAGS.stream} stream, batch {FLAGS.batch_size}, "
            f"image {config.data.image_size}; CPUs {cpus}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )

        def make_iterator(reader: str) -> Callable:
            reader_config = config.copy_and_resolve_references()
            reader_config.data.service_address = addresses[reader]
            reader_config.data.service_compression = READERS[reader][1]
            return lambda: iter(
                datasets.train_dataset(reader_config, data.data_dir, FLAGS.batch_size)
            )

        best: dict[str, tuple[float, float]] = {}
        for r in range(FLAGS.rounds):
            for reader in READERS:
                rate, cpu_ms = _measure(make_iterator(reader), FLAGS.seconds, FLAGS.warmup)
                logging.info("round %d: %s %.1f samples/s %.2f CPU ms", r, reader, rate, cpu_ms)
                old_rate, old_cpu = best.get(reader, (0.0, float("inf")))
                best[reader] = (max(rate, old_rate), min(cpu_ms, old_cpu))
        print(f"{'':16s} {'samples/s':>10s} {'CPU ms/sample':>14s}")
        for reader, (rate, cpu_ms) in best.items():
            print(f"{reader:16s} {rate:10.1f} {cpu_ms:14.2f}")
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {len(cpus)} cores")
        figures = " ".join(f"{reader}={best[reader][0]:.0f}" for reader in READERS)
        print(f"service: {figures} (samples/s)")
    finally:
        for server in reversed(servers):
            server.stop()
        if not FLAGS.work_dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_binary(run)
