"""Train input throughput read in-process vs through the tf.data service (1 and 2 workers).

    python -m bench.service            # ~1 minute on 2 cores

Writes realistic shards (`bench.bench_data`) and restricts the process to `--cores` CPUs, as
`bench.pipeline_throughput` does (`bench.measure`), starts in this process two tf.data
service dispatchers, one with one worker and one with two
(`input_pipeline.service.start_local_service`, loopback gRPC), and measures the `--stream`
train pipeline of `configs/base.py` (`input_pipeline.datasets`) in interleaved rounds,
reading:
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

import contextlib
import os
from collections.abc import Callable

from absl import flags

from bench import measure
from tfrecords.errors import UserError, run_binary

FLAGS = flags.FLAGS
flags.DEFINE_enum("stream", "temporal", ["spatial", "temporal"], "Stream whose pipeline runs.")
measure.define_flags(
    warmup=3.0, num_shards_help="Train shards (at least the largest worker count)."
)

# reader -> (workers behind its dispatcher, config.data.service_compression)
READERS = {
    "in_process": (0, "none"),
    "one_worker": (1, "none"),
    "one_worker_auto": (1, "auto"),
    "two_workers": (2, "none"),
}


def run(argv: list[str]) -> None:
    """Writes the data, starts the servers, runs every measurement and prints the report."""
    del argv
    cpus = measure.pin_process(FLAGS.cores, bfc_allocator=True)  # as bench.pipeline_throughput

    from bench import bench_data
    from configs import base
    from input_pipeline import datasets

    if FLAGS.num_shards < 2:
        raise UserError(f"--num_shards={FLAGS.num_shards}: use at least 2 (one per worker)")
    with contextlib.ExitStack() as stack:  # exits in reverse: servers stopped, then rmtree
        root = stack.enter_context(measure.work_dir(FLAGS.work_dir, "bench_service_"))
        addresses = {
            reader: stack.enter_context(measure.local_service(workers)) if workers else ""
            for reader, (workers, _) in READERS.items()
        }
        data = bench_data.write(root, FLAGS.num_videos, FLAGS.mean_frames, FLAGS.num_shards)
        config = base.get_config()
        config.stream = FLAGS.stream
        print(
            f"bench data: {measure.describe_data(data, FLAGS.mean_frames, FLAGS.num_shards)}; "
            f"{FLAGS.stream} stream, batch {FLAGS.batch_size}, "
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

        best: dict[str, measure.Rate] = {}
        for r in range(FLAGS.rounds):
            for reader in READERS:
                rate = measure.measure_iterator(make_iterator(reader), FLAGS.seconds, FLAGS.warmup)
                measure.keep_best(best, reader, rate, r)
        measure.print_rates(best, cpu_decimals=2)
        measure.print_load(cpus)
        figures = " ".join(f"{reader}={best[reader].per_second:.0f}" for reader in READERS)
        print(f"service: {figures} (samples/s)")


if __name__ == "__main__":
    run_binary(run)
