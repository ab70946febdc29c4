"""Input pipeline throughput against the JPEG decode limit, the seed's generator and the service.

    python -m bench.pipeline_throughput       # or `make bench`; ~4 minutes on 2 cores

Writes realistic shards (schema 2: RGB as the Beam job's default strided chunks, flow whole)
and the same JPEGs as per-file frames to a temp dir, restricts the process to `--cores`
CPUs, then measures in interleaved rounds (`bench.stages` has the decode limits and the
device half):
  - the train pipeline of each stream (`configs/base.py` settings, batch `--batch_size`):
    what the host does, up to the uint8 batches the accelerator receives; and the same with
    TSN segments (`config.data.num_segments` = 3: an example is 3 snippets, ~3x a sample),
  - the decode limit: the same JPEG bytes decoded and nothing else, in a tf.data map on the
    pipeline's threads, as the pipeline decodes them (crop windows: `samples.decode_train`,
    window and flip drawn once per sample) and, beside it, as whole frames,
  - the seed-style generator (bench/seed_generator.py) on the per-file copy,
  - the temporal pipeline through a tf.data service with one worker in this process
    (`config.data.service_compression` as configured; loopback gRPC),
  - the device half: `resample.model_input` compiled with XLA (as the step compiles it) on
    a train batch of the pipeline and on an eval batch (`config.eval.batch_size` views, 10
    a sample), at the config's image size; on this CPU, where CPU-only runs pay it.
Each figure is samples/s (wall clock) and CPU ms per sample (process CPU time: what a
sample costs whatever else runs on the machine), both from the round with the lowest CPU
figure, timed by `bench.measure`. The last line, named after what it measures (the
`input_pipeline` package), is

    input_pipeline: spatial_vs_limit=0.NN temporal_vs_limit=0.NN temporal_vs_generator=N.Nx
        spatial_vs_generator=N.Nx service_overhead=N.Nx device_ms_per_sample=N.NN

(one line) where `*_vs_limit` = crop-window decode limit CPU ms / pipeline CPU ms per
sample, `*_vs_generator` = pipeline / generator samples per wall-clock second,
`service_overhead` = temporal CPU ms per sample through the service / in-process, and
`device_ms_per_sample` = CPU ms of the compiled device half per temporal training sample.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from absl import flags

from bench import measure
from bench.measure import Rate
from tfrecords.errors import run_binary

if TYPE_CHECKING:
    import ml_collections

    from bench.bench_data import BenchData

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

LIMITS = ("full frames", "crop windows")  # what a decode limit decodes of each frame
SEGMENTS = 3  # K of the segments figure (TSN's)
SEGMENTS_PIPELINE = f"pipeline, {SEGMENTS} segments"
DEVICE_TRAIN = "device half, train batch (XLA)"
DEVICE_EVAL = "device half, eval batch (XLA)"


def _report(best: dict[str, Rate], cpus: list[int]) -> None:
    """Prints the figures, their ratios and the summary line."""
    measure.print_rates(best, cpu_decimals=3)
    vs_limit, vs_generator = {}, {}
    for stream in ("spatial", "temporal"):
        pipe = best[f"{stream} pipeline"]
        for limit in LIMITS:
            bound = best[f"{stream} decode limit ({limit})"]
            wall, cpu = pipe.per_second / bound.per_second, bound.cpu_ms / pipe.cpu_ms
            print(f"{stream} pipeline / decode limit ({limit}): wall {wall:.2f}, CPU {cpu:.2f}")
        vs_limit[stream] = best[f"{stream} decode limit (crop windows)"].cpu_ms / pipe.cpu_ms
        generator = best[f"{stream} seed-style generator"]
        vs_generator[stream] = pipe.per_second / generator.per_second
        print(
            f"{stream} pipeline / seed-style generator: wall {vs_generator[stream]:.1f}x, "
            f"CPU {generator.cpu_ms / pipe.cpu_ms:.1f}x"
        )
    costs = []
    for stream in ("spatial", "temporal"):
        ratio = best[f"{stream} {SEGMENTS_PIPELINE}"].cpu_ms / best[f"{stream} pipeline"].cpu_ms
        costs.append(f"{stream} {ratio:.2f}x")
    print(f"K = {SEGMENTS} segments, CPU ms per example / per K = 1 sample: {', '.join(costs)}")
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
        f"service_overhead={overhead:.1f}x "
        f"device_ms_per_sample={best[f'temporal {DEVICE_TRAIN}'].cpu_ms:.2f}"
    )


def _figures(
    stream: str,
    config: ml_collections.ConfigDict,
    data: BenchData,
    service_address: str,
    workers: int,
) -> dict[str, Callable[[], Iterator]]:
    """Every figure of `stream`, keyed by its table name, as makers of batch iterators."""
    import tensorflow as tf

    from bench import bench_data, seed_generator, stages
    from input_pipeline import datasets
    from tfrecords import schema

    options = tf.data.Options()
    options.threading.private_threadpool_size = workers
    spec = datasets.sample_spec(config)

    def pipeline(address: str, num_segments: int = 1) -> Callable[[], Iterator]:
        reader = config.copy_and_resolve_references()
        reader.data.service_address = address
        reader.data.num_segments = num_segments
        dataset = datasets.train_dataset(reader, data.data_dir, FLAGS.batch_size)
        return lambda: iter(dataset.with_options(options))

    pool = data.flow_pool if spec.modality == schema.FLOW_MODALITY else data.rgb_pool
    decoders = {
        "full frames": stages.decode_full_frames,
        "crop windows": stages.decode_crop_windows,
    }
    figures = {"pipeline": pipeline(""), SEGMENTS_PIPELINE: pipeline("", SEGMENTS)}
    for limit in LIMITS:
        figures[f"decode limit ({limit})"] = stages.decode_limit(
            pool, spec, decoders[limit], FLAGS.batch_size, options
        )
    figures["seed-style generator"] = seed_generator.SeedStyleGenerator(
        data.frames_dir,
        data.video_ids,
        data.num_frames,
        data.labels,
        temporal=spec.stream.flow,
        flow_len=spec.num_flow_frames,
        batch_size=FLAGS.batch_size,
        image_size=spec.image_size,
        frame_hw=(bench_data.HEIGHT, bench_data.WIDTH),
        workers=workers,
    ).batches
    if stream == "temporal":
        figures["pipeline via tf.data service"] = pipeline(service_address)
    figures[DEVICE_TRAIN] = stages.device_half(*next(figures["pipeline"]()), spec)
    figures[DEVICE_EVAL] = stages.device_half(*stages.eval_batch(config, data.data_dir), spec)
    return {f"{stream} {name}": make for name, make in figures.items()}


def run(argv: list[str]) -> None:
    """Writes the data, runs every measurement and prints the report."""
    del argv
    cpus = measure.pin_process(FLAGS.cores, FLAGS.bfc_allocator)
    from bench import bench_data
    from configs import base
    from tfrecords import streams

    with (
        measure.work_dir(FLAGS.work_dir, "bench_pipeline_throughput_") as root,
        measure.local_service(1) as service_address,
    ):
        data = bench_data.write(root, FLAGS.num_videos, FLAGS.mean_frames, FLAGS.num_shards)
        figures = {}
        for stream in streams.STREAMS:
            config = base.get_config()
            config.stream = stream
            if FLAGS.samples_per_video > 0:
                config.data.train_samples_per_video = FLAGS.samples_per_video
            figures.update(_figures(stream, config, data, service_address, len(cpus)))
        settings = config.data
        print(
            f"bench data: {measure.describe_data(data, FLAGS.mean_frames, FLAGS.num_shards)}; "
            f"CPUs {cpus}; load average {os.getloadavg()[0]:.1f}; batch {FLAGS.batch_size}; "
            f"{settings.jpeg_dct_method}; {settings.train_samples_per_video} samples per record; "
            f"TF_CPU_ALLOCATOR_USE_BFC={os.environ.get('TF_CPU_ALLOCATOR_USE_BFC', '')}; "
            f"service compression {settings.service_compression!r}; device half at "
            f"S={settings.image_size}, eval batches of {config.eval.batch_size} views"
        )
        best: dict[str, Rate] = {}
        for r in range(FLAGS.rounds):
            for name, make in figures.items():
                rate = measure.measure_iterator(make, FLAGS.seconds, FLAGS.warmup)
                measure.keep_best(best, name, rate, r)
        _report(best, cpus)


if __name__ == "__main__":
    run_binary(run)
