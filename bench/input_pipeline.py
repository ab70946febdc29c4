"""Input pipeline throughput against the JPEG decode limit and the seed's Python generator.

    python -m bench.input_pipeline            # or `make bench`; ~1-2 minutes on 2 cores

Writes realistic shards and the same JPEGs as per-file frames to a temp dir, restricts the
process to `--cores` CPUs, then measures in interleaved rounds (best round reported, so a
busy neighbour process skews every figure alike rather than one):
  - the train pipeline of each stream (samples/s),
  - the decode limit: the same JPEG bytes decoded in a tight in-graph loop on as many
    threads as cores, full frames (what a pipeline decoding full frames can never exceed)
    and crop windows (what this pipeline's decode_and_crop_jpeg calls can never exceed),
  - the seed-style generator (bench/seed_generator.py) on the per-file copy.
Ends with `input_pipeline: spatial_vs_limit=... temporal_vs_limit=... temporal_vs_generator=...`
where the limit is the full-frame decode limit.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_integer("cores", 2, "CPUs the process may use (os.sched_setaffinity).")
flags.DEFINE_integer("num_videos", 16, "Videos written.")
flags.DEFINE_integer("mean_frames", 185, "Mean RGB frames per video (UCF-101: 185).")
flags.DEFINE_integer("num_shards", 4, "Train shards.")
flags.DEFINE_integer("batch_size", 32, "Samples per batch.")
flags.DEFINE_float("seconds", 4.0, "Timed seconds per measurement per round.")
flags.DEFINE_integer("rounds", 2, "Interleaved measurement rounds; the best is reported.")
flags.DEFINE_string("work_dir", "", "Where data is written; '' = a temp dir, deleted after.")


def _rate(batches: Iterator, batch_size: int, seconds: float, drain: float) -> float:
    """Samples/s over `seconds`, after `drain` seconds that empty any prefetched buffers."""
    end = time.perf_counter() + drain
    while time.perf_counter() < end:
        next(batches)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(batches)
        count += batch_size
    return count / (time.perf_counter() - start)


def _decode_rate(decode_loop: Callable, chunks: list, seconds: float) -> float:
    """Decodes/s of `decode_loop(chunk)` (a tf.function) run by one thread per chunk."""
    counts = [0] * len(chunks)
    start = time.perf_counter()

    def work(i: int) -> None:
        while time.perf_counter() - start < seconds:
            decode_loop(chunks[i])
            counts[i] += int(chunks[i].shape[0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def _decode_loops(dct_method: str, image_size_scales: tuple, jitter: int):
    """tf.functions decoding a 1-D string tensor in a graph loop: full frames, crop windows."""
    import tensorflow as tf

    from input_pipeline import crops

    def make(channels: int, window: bool):
        @tf.function
        def loop(encoded: tf.Tensor) -> tf.Tensor:
            total = tf.constant(0, tf.int64)
            for i in tf.range(tf.shape(encoded)[0]):
                if window:
                    hw = tf.io.extract_jpeg_shape(encoded[i])[:2]
                    seed = tf.stack([tf.cast(i, tf.int64), total])
                    params = crops.random_crop_params(hw, image_size_scales, jitter, False, seed)
                    image = crops.decode_crop(encoded[i], params, channels, dct_method)
                else:
                    image = tf.io.decode_jpeg(encoded[i], channels=channels, dct_method=dct_method)
                # Consuming a pixel keeps the decode from being pruned.
                total += tf.cast(image[1, 1, 0], tf.int64)
            return total

        return loop

    return {(c, w): make(c, w) for c in (1, 3) for w in (False, True)}


def _measure_pipeline(make: Callable[[], Iterator], seconds: float) -> float:
    """Samples/s of a fresh iterator, after 2 s of warm-up (buffers fill, autotuning settles).

    The iterator is dropped afterwards so it does not refill buffers during later measurements.
    """
    batches = make()
    try:
        return _rate(batches, FLAGS.batch_size, seconds, drain=2.0)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        del batches


def run(argv: list[str]) -> None:
    """Runs every measurement and prints the report."""
    del argv
    cpus = sorted(os.sched_getaffinity(0))[: FLAGS.cores]
    os.sched_setaffinity(0, cpus)  # before TensorFlow sizes its thread pools
    import tensorflow as tf

    from bench import bench_data, seed_generator
    from configs import base
    from input_pipeline import datasets

    root = FLAGS.work_dir or tempfile.mkdtemp(prefix="bench_input_pipeline_")
    try:
        data = bench_data.write(root, FLAGS.num_videos, FLAGS.mean_frames, FLAGS.num_shards)
        configs = {}
        for stream in ("spatial", "temporal"):
            configs[stream] = base.get_config()
            configs[stream].stream = stream
        data_config = configs["temporal"].data
        length, size, dct = (
            data_config.num_flow_frames,
            data_config.image_size,
            data_config.jpeg_dct_method,
        )
        rgb_kb = sum(map(len, data.rgb_pool)) / len(data.rgb_pool) / 1e3
        flow_kb = sum(map(len, data.flow_pool)) / len(data.flow_pool) / 1e3
        print(
            f"bench data: {len(data.video_ids)} videos x {FLAGS.mean_frames} frames (mean), "
            f"RGB JPEG {rgb_kb:.1f} KB, flow JPEG {flow_kb:.1f} KB, {FLAGS.num_shards} shards; "
            f"CPUs {cpus}; batch {FLAGS.batch_size}; dct_method {dct}; "
            f"samples per record read {data_config.train_samples_per_video}"
        )
        options = tf.data.Options()
        options.threading.private_threadpool_size = len(cpus)

        def pipeline(stream: str) -> Callable[[], Iterator]:
            dataset = datasets.train_dataset(configs[stream], data.data_dir, FLAGS.batch_size)
            return lambda: iter(dataset.with_options(options))

        def generator(stream: str) -> Callable[[], Iterator]:
            return seed_generator.SeedStyleGenerator(
                data.frames_dir,
                data.video_ids,
                data.num_frames,
                temporal=stream == "temporal",
                flow_len=length,
                batch_size=FLAGS.batch_size,
                image_size=size,
                frame_hw=(bench_data.HEIGHT, bench_data.WIDTH),
                workers=len(cpus),
            ).batches

        loops = _decode_loops(dct, tuple(data_config.crop_scales), data_config.max_scale_jitter)
        pools = {"spatial": (data.rgb_pool, 3, 1), "temporal": (data.flow_pool, 1, 2 * length)}
        best: dict[str, float] = {}
        for r in range(FLAGS.rounds):
            for stream, (pool, channels, decodes) in pools.items():
                chunks = [tf.constant(pool * 4)] * len(cpus)
                figures = {
                    "pipeline": _measure_pipeline(pipeline(stream), FLAGS.seconds),
                    "decode limit (full frames)": _decode_rate(
                        loops[(channels, False)], chunks, FLAGS.seconds
                    )
                    / decodes,
                    "decode limit (crop windows)": _decode_rate(
                        loops[(channels, True)], chunks, FLAGS.seconds
                    )
                    / decodes,
                    "seed-style generator": _measure_pipeline(generator(stream), FLAGS.seconds),
                }
                for name, value in figures.items():
                    key = f"{stream} {name}"
                    best[key] = max(best.get(key, 0.0), value)
                    logging.info("round %d: %s %.1f samples/s", r, key, value)
        for key, value in best.items():
            print(f"{key:42s} {value:8.1f} samples/s")
        spatial = best["spatial pipeline"] / best["spatial decode limit (full frames)"]
        temporal = best["temporal pipeline"] / best["temporal decode limit (full frames)"]
        vs_generator = best["temporal pipeline"] / best["temporal seed-style generator"]
        print(
            f"input_pipeline: spatial_vs_limit={spatial:.2f} temporal_vs_limit={temporal:.2f} "
            f"temporal_vs_generator={vs_generator:.1f}x"
        )
    finally:
        if not FLAGS.work_dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    app.run(run)
