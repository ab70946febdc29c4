"""Input pipeline throughput against the JPEG decode limit, the seed's generator and the service.

    python -m bench.input_pipeline            # or `make bench`; ~3 minutes on 2 cores

Writes realistic shards (schema 2: RGB as the Beam job's default strided chunks, flow whole)
and the same JPEGs as per-file frames to a temp dir, restricts the process to `--cores`
CPUs, then measures in interleaved rounds (best round reported):
  - the train pipeline of each stream (`configs/base.py` settings, batch `--batch_size`):
    what the host does, up to the uint8 batches the accelerator receives,
  - the decode limit: the same JPEG bytes decoded with the pipeline's decoder and IDCT in a
    tight in-graph loop on one thread per core; full frames (the limit the issue asks for)
    and, for reference, the training crop windows (`decode_and_crop_jpeg`),
  - the seed-style generator (bench/seed_generator.py) on the per-file copy,
  - the temporal pipeline through a tf.data service with one worker in this process
    (`config.data.service_compression` as configured; loopback gRPC).
Each figure is samples/s (wall clock) and CPU ms per sample (process CPU time: what a
sample costs whatever else runs on the machine). The last line is

    input_pipeline: spatial_vs_limit=0.NN temporal_vs_limit=0.NN temporal_vs_generator=N.Nx
        spatial_vs_generator=N.Nx service_overhead=N.Nx

(one line) where `*_vs_limit` = full-frame decode-only CPU ms / pipeline CPU ms per sample,
`*_vs_generator` = pipeline / generator samples per wall-clock second, and
`service_overhead` = temporal CPU ms per sample through the service / in-process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

from absl import flags, logging

from tfrecords.errors import run_binary

FLAGS = flags.FLAGS
flags.DEFINE_integer("cores", 2, "CPUs the process may use (os.sched_setaffinity).")
flags.DEFINE_integer("num_videos", 16, "Videos written.")
flags.DEFINE_integer("mean_frames", 185, "Mean RGB frames per video (UCF-101: 185).")
flags.DEFINE_integer("num_shards", 4, "Train shards.")
flags.DEFINE_integer("batch_size", 32, "Samples per batch.")
flags.DEFINE_float("seconds", 4.0, "Timed seconds per measurement per round.")
flags.DEFINE_integer("rounds", 2, "Interleaved measurement rounds; the best is reported.")
flags.DEFINE_float("warmup", 2.0, "Untimed seconds before each pipeline/generator measurement.")
flags.DEFINE_string("work_dir", "", "Where data is written; '' = a temp dir, deleted after.")
flags.DEFINE_integer(
    "samples_per_video", 0, "Overrides config.data.train_samples_per_video when > 0."
)
flags.DEFINE_bool(
    "bfc_allocator",
    True,
    "Set TF_CPU_ALLOCATOR_USE_BFC=true before TensorFlow starts: TF's default CPU allocator "
    "maps fresh pages for every large tensor (~1,000 page faults per 4 MB flow sample).",
)


class Rate(NamedTuple):
    """Samples per wall-clock second and process CPU milliseconds per sample."""

    per_second: float
    cpu_ms: float

    def best(self, other: Rate | None) -> Rate:
        """Field-wise best of two measurements (other may be None)."""
        if other is None:
            return self
        return Rate(max(self.per_second, other.per_second), min(self.cpu_ms, other.cpu_ms))


def _timed(step: Callable[[], int], seconds: float) -> Rate:
    """Calls `step` (returning samples done) for `seconds`; wall and CPU rate."""
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        count += step()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Rate(count / wall, 1e3 * cpu / count)


def _measure_iterator(make: Callable[[], Iterator], seconds: float) -> Rate:
    """Rate of a fresh batch iterator after `--warmup` s (buffers fill, autotuning settles).

    The iterator is dropped afterwards so it does not refill buffers during later measurements.
    """
    batches = make()
    end = time.perf_counter() + FLAGS.warmup
    while time.perf_counter() < end:
        next(batches)

    def step() -> int:
        return len(next(batches)[1])  # (inputs, labels): count labels

    try:
        return _timed(step, seconds)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _measure_decodes(decode_loop: Callable, chunk, threads: int, seconds: float) -> Rate:
    """Decodes/s of `decode_loop(chunk)` (a tf.function) on `threads` threads at once."""
    counts = [0] * threads
    start, cpu = time.perf_counter(), time.process_time()

    def work(i: int) -> None:
        while time.perf_counter() - start < seconds:
            decode_loop(chunk)
            counts[i] += int(chunk.shape[0])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Rate(sum(counts) / wall, 1e3 * cpu / sum(counts))


def _decode_loops(dct_method: str, scales: tuple[float, ...], jitter: int) -> dict:
    """tf.functions decoding a 1-D string tensor in a graph loop, keyed (channels, window)."""
    import tensorflow as tf

    from input_pipeline import crops

    def make(channels: int, window: bool) -> Callable:
        @tf.function
        def loop(encoded: tf.Tensor) -> tf.Tensor:
            total = tf.constant(0, tf.int64)
            for i in tf.range(tf.shape(encoded)[0]):
                if window:
                    hw = tf.io.extract_jpeg_shape(encoded[i])[:2]
                    seed = tf.stack([tf.cast(i, tf.int64), total])
                    params = crops.random_crop_params(hw, scales, jitter, False, seed)
                    image = crops.decode_crop(encoded[i], params, channels, dct_method)
                else:
                    image = tf.io.decode_jpeg(encoded[i], channels=channels, dct_method=dct_method)
                total += tf.cast(image[1, 1, 0], tf.int64)  # keeps the decode from being pruned
            return total

        return loop

    return {(c, w): make(c, w) for c in (1, 3) for w in (False, True)}


def _report(best: dict[str, Rate], cores: int) -> None:
    print(f"{'':44s} {'samples/s':>10s} {'CPU ms/sample':>14s}")
    for key, rate in best.items():
        print(f"{key:44s} {rate.per_second:10.1f} {rate.cpu_ms:14.3f}")
    vs_limit, vs_generator = {}, {}
    for stream in ("spatial", "temporal"):
        pipe = best[f"{stream} pipeline"]
        for limit in ("full frames", "crop windows"):
            bound = best[f"{stream} decode limit ({limit})"]
            wall, cpu = pipe.per_second / bound.per_second, bound.cpu_ms / pipe.cpu_ms
            print(f"{stream} pipeline / decode limit ({limit}): wall {wall:.2f}, CPU {cpu:.2f}")
        vs_limit[stream] = best[f"{stream} decode limit (full frames)"].cpu_ms / pipe.cpu_ms
        generator = best[f"{stream} seed-style generator"]
        vs_generator[stream] = pipe.per_second / generator.per_second
        print(
            f"{stream} pipeline / seed-style generator: wall {vs_generator[stream]:.1f}x, "
            f"CPU {generator.cpu_ms / pipe.cpu_ms:.1f}x"
        )
    service = best["temporal pipeline via tf.data service"]
    overhead = service.cpu_ms / best["temporal pipeline"].cpu_ms
    wall = service.per_second / best["temporal pipeline"].per_second
    print(f"temporal via tf.data service / in-process: CPU {overhead:.2f}x, wall {wall:.2f}x")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {cores} cores")
    print(
        f"input_pipeline: spatial_vs_limit={vs_limit['spatial']:.2f} "
        f"temporal_vs_limit={vs_limit['temporal']:.2f} "
        f"temporal_vs_generator={vs_generator['temporal']:.1f}x "
        f"spatial_vs_generator={vs_generator['spatial']:.1f}x "
        f"service_overhead={overhead:.1f}x"
    )


def run(argv: list[str]) -> None:
    """Writes the data, runs every measurement and prints the report."""
    del argv  # run_binary refuses positional arguments
    cpus = sorted(os.sched_getaffinity(0))[: FLAGS.cores]
    os.sched_setaffinity(0, cpus)  # before TensorFlow sizes its thread pools
    if FLAGS.bfc_allocator:  # read once, when TensorFlow creates its CPU allocator
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
    import tensorflow as tf

    from bench import bench_data, seed_generator
    from configs import base
    from input_pipeline import datasets, service

    root = FLAGS.work_dir or tempfile.mkdtemp(prefix="bench_input_pipeline_")
    service_address, servers = service.start_local_service(1)
    try:
        data = bench_data.write(root, FLAGS.num_videos, FLAGS.mean_frames, FLAGS.num_shards)
        configs = {}
        for stream in ("spatial", "temporal"):
            configs[stream] = base.get_config()
            configs[stream].stream = stream
            if FLAGS.samples_per_video > 0:
                configs[stream].data.train_samples_per_video = FLAGS.samples_per_video
        settings = configs["temporal"].data
        rgb_kb = sum(map(len, data.rgb_pool)) / len(data.rgb_pool) / 1e3
        flow_kb = sum(map(len, data.flow_pool)) / len(data.flow_pool) / 1e3
        print(
            f"bench data: {len(data.video_ids)} videos x {FLAGS.mean_frames} frames (mean), "
            f"RGB JPEG {rgb_kb:.1f} KB, flow JPEG {flow_kb:.1f} KB, {FLAGS.num_shards} shards; "
            f"CPUs {cpus}; load average {os.getloadavg()[0]:.1f}; batch {FLAGS.batch_size}; "
            f"{settings.jpeg_dct_method}; {settings.train_samples_per_video} samples per record; "
            f"TF_CPU_ALLOCATOR_USE_BFC={os.environ.get('TF_CPU_ALLOCATOR_USE_BFC', '')}; "
            f"service compression {settings.service_compression!r}"
        )
        options = tf.data.Options()
        options.threading.private_threadpool_size = len(cpus)

        def pipeline(stream: str, address: str = "") -> Callable[[], Iterator]:
            config = configs[stream].copy_and_resolve_references()
            config.data.service_address = address
            dataset = datasets.train_dataset(config, data.data_dir, FLAGS.batch_size)
            return lambda: iter(dataset.with_options(options))

        def generator(stream: str) -> Callable[[], Iterator]:
            return seed_generator.SeedStyleGenerator(
                data.frames_dir,
                data.video_ids,
                data.num_frames,
                data.labels,
                temporal=stream == "temporal",
                flow_len=settings.num_flow_frames,
                batch_size=FLAGS.batch_size,
                image_size=settings.image_size,
                frame_hw=(bench_data.HEIGHT, bench_data.WIDTH),
                workers=len(cpus),
            ).batches

        loops = _decode_loops(
            settings.jpeg_dct_method, tuple(settings.crop_scales), settings.max_scale_jitter
        )
        pools = {
            "spatial": (data.rgb_pool, 3, 1),
            "temporal": (data.flow_pool, 1, 2 * settings.num_flow_frames),
        }
        best: dict[str, Rate] = {}
        for r in range(FLAGS.rounds):
            for stream, (pool, channels, decodes) in pools.items():
                chunk = tf.constant(pool * 4)
                figures = {"pipeline": _measure_iterator(pipeline(stream), FLAGS.seconds)}
                for limit, window in (("full frames", False), ("crop windows", True)):
                    rate = _measure_decodes(
                        loops[(channels, window)], chunk, len(cpus), FLAGS.seconds
                    )
                    figures[f"decode limit ({limit})"] = Rate(
                        rate.per_second / decodes, rate.cpu_ms * decodes
                    )
                figures["seed-style generator"] = _measure_iterator(
                    generator(stream), FLAGS.seconds
                )
                if stream == "temporal":
                    figures["pipeline via tf.data service"] = _measure_iterator(
                        pipeline(stream, service_address), FLAGS.seconds
                    )
                for name, rate in figures.items():
                    key = f"{stream} {name}"
                    best[key] = rate.best(best.get(key))
                    logging.info("round %d: %s %s", r, key, rate)
        _report(best, len(cpus))
    finally:
        for server in reversed(servers):
            server.stop()
        if not FLAGS.work_dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_binary(run)
