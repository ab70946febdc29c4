"""Input pipeline throughput against the JPEG decode limit, the seed's generator and the service.

    python -m bench.pipeline_throughput       # or `make bench`; ~3 minutes on 2 cores

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
sample costs whatever else runs on the machine), timed by `bench.measure`. The last line,
named after what it measures (the `input_pipeline` package), is

    input_pipeline: spatial_vs_limit=0.NN temporal_vs_limit=0.NN temporal_vs_generator=N.Nx
        spatial_vs_generator=N.Nx service_overhead=N.Nx

(one line) where `*_vs_limit` = full-frame decode-only CPU ms / pipeline CPU ms per sample,
`*_vs_generator` = pipeline / generator samples per wall-clock second, and
`service_overhead` = temporal CPU ms per sample through the service / in-process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

from absl import flags

from bench import measure
from bench.measure import Rate
from tfrecords.errors import run_binary

FLAGS = flags.FLAGS
measure.define_flags(warmup=2.0)
flags.DEFINE_integer(
    "samples_per_video", 0, "Overrides config.data.train_samples_per_video when > 0."
)
flags.DEFINE_bool(
    "bfc_allocator",
    True,
    "Set TF_CPU_ALLOCATOR_USE_BFC=true before TensorFlow starts: TF's default CPU allocator "
    "maps fresh pages for every large tensor (~1,000 page faults per 4 MB flow sample).",
)


def _measure_decodes(decode_loop: Callable, chunk, threads: int, seconds: float) -> Rate:
    """Decodes/s of `decode_loop(chunk)` (a tf.function) on `threads` threads at once."""
    counts = [0] * threads
    clock = measure.Clock()

    def work(i: int) -> None:
        while clock.elapsed() < seconds:
            decode_loop(chunk)
            counts[i] += int(chunk.shape[0])

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return clock.rate(sum(counts))


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


def _report(best: dict[str, Rate], cpus: list[int]) -> None:
    """Prints the figures, their ratios and the summary line."""
    measure.print_rates(best, cpu_decimals=3)
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
    measure.print_load(cpus)
    print(
        f"input_pipeline: spatial_vs_limit={vs_limit['spatial']:.2f} "
        f"temporal_vs_limit={vs_limit['temporal']:.2f} "
        f"temporal_vs_generator={vs_generator['temporal']:.1f}x "
        f"spatial_vs_generator={vs_generator['spatial']:.1f}x "
        f"service_overhead={overhead:.1f}x"
    )


def run(argv: list[str]) -> None:
    """Writes the data, runs every measurement and prints the report."""
    del argv
    cpus = measure.pin_process(FLAGS.cores, FLAGS.bfc_allocator)
    import tensorflow as tf

    from bench import bench_data, seed_generator
    from configs import base
    from input_pipeline import datasets
    from tfrecords import schema, streams

    with (
        measure.work_dir(FLAGS.work_dir, "bench_pipeline_throughput_") as root,
        measure.local_service(1) as service_address,
    ):
        data = bench_data.write(root, FLAGS.num_videos, FLAGS.mean_frames, FLAGS.num_shards)
        configs = {}
        for stream in streams.STREAMS:
            configs[stream] = base.get_config()
            configs[stream].stream = stream
            if FLAGS.samples_per_video > 0:
                configs[stream].data.train_samples_per_video = FLAGS.samples_per_video
        settings = configs["temporal"].data
        print(
            f"bench data: {measure.describe_data(data, FLAGS.mean_frames, FLAGS.num_shards)}; "
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

        def timed(make: Callable[[], Iterator]) -> Rate:
            return measure.measure_iterator(make, FLAGS.seconds, FLAGS.warmup)

        def generator(stream: str) -> Callable[[], Iterator]:
            return seed_generator.SeedStyleGenerator(
                data.frames_dir,
                data.video_ids,
                data.num_frames,
                data.labels,
                temporal=streams.STREAMS[stream].flow,
                flow_len=settings.num_flow_frames,
                batch_size=FLAGS.batch_size,
                image_size=settings.image_size,
                frame_hw=(bench_data.HEIGHT, bench_data.WIDTH),
                workers=len(cpus),
            ).batches

        loops = _decode_loops(
            settings.jpeg_dct_method, tuple(settings.crop_scales), settings.max_scale_jitter
        )
        jpegs = {schema.RGB_MODALITY: data.rgb_pool, schema.FLOW_MODALITY: data.flow_pool}
        pools = {  # stream -> (its JPEGs, channels per JPEG, JPEGs decoded per sample)
            name: (
                jpegs[s.modality],
                s.frame_channels,
                s.frames_per_sample(settings.num_flow_frames),
            )
            for name, s in streams.STREAMS.items()
        }
        best: dict[str, Rate] = {}
        for r in range(FLAGS.rounds):
            for stream, (pool, channels, decodes) in pools.items():
                chunk = tf.constant(pool * 4)
                figures = {"pipeline": timed(pipeline(stream))}
                for limit, window in (("full frames", False), ("crop windows", True)):
                    rate = _measure_decodes(
                        loops[(channels, window)], chunk, len(cpus), FLAGS.seconds
                    )
                    figures[f"decode limit ({limit})"] = Rate(
                        rate.per_second / decodes, rate.cpu_ms * decodes
                    )
                figures["seed-style generator"] = timed(generator(stream))
                if stream == "temporal":
                    figures["pipeline via tf.data service"] = timed(
                        pipeline(stream, service_address)
                    )
                for name, rate in figures.items():
                    measure.keep_best(best, f"{stream} {name}", rate, r)
        _report(best, cpus)


if __name__ == "__main__":
    run_binary(run)
