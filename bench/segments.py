r"""Do TSN segments matter? Flow clips whose motion fills only part of their length.

    python -m bench.segments                 # ~3 minutes on 2 shared cores (--seeds=4: ~5)

Generated data: 4 classes (a patch moving up, down, left, right: mirroring is off, it
would swap left and right), `--frames` flow frames per video at 32 x 32, of which only a
window of `--motion_fraction` of the length, at a random place, shows the motion; the rest
is sensor noise around zero flow. A K = 1 example is one stack of L flow frames from
anywhere in the video, so most training examples show no motion at all while carrying
their class label; a K = 3 example takes one stack from each third and averages the three
class scores (TSN's consensus), so it shows the motion more often.

Trains the tiny CNN (`configs/demo_temporal.py` settings at 32 px, L = 5, batch 16) with
`training.experiment.train_on_data_dir` for each setting and seed, and evaluates every
run with the unchanged protocol (`--eval_samples` uniformly spaced stacks x the centre
crop, scores averaged per video) on held-out videos; for each S of `--steps`:
  - K = 1 for S steps (the same examples as K = 3),
  - K = 1 for 3 x S steps (the same backbone passes, i.e. snippets, as K = 3),
  - K = 3 for S steps.
First prints, from the sampler itself (`input_pipeline.sampling`), the fraction of training
examples with no motion frame in any of their snippets at K = 1 and K = 3.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("frames", 60, "Flow frames per video.")
flags.DEFINE_float("motion_fraction", 0.2, "Fraction of a video's length that shows motion.")
flags.DEFINE_integer("train_per_class", 24, "Training videos per class.")
flags.DEFINE_integer("test_per_class", 12, "Test videos per class.")
flags.DEFINE_list("steps", ["25", "50", "100"], "Training steps of the K = 3 runs (batch 16).")
flags.DEFINE_float("speed", 6.0, "Motion of the moving patch, pixels per frame.")
flags.DEFINE_float("noise", 0.5, "Standard deviation of the flow noise, pixels per frame.")
flags.DEFINE_integer("seeds", 2, "Runs per setting (config.seed 0, 1, ...).")
flags.DEFINE_integer("eval_samples", 25, "Uniformly spaced test stacks per video.")

CLASSES = ("up", "down", "left", "right")
SIZE = 32
FLOW_FRAMES = 5  # L
BATCH = 16
SEGMENTS = 3
# (flow_x, flow_y) direction of the moving patch of each class.
MOTION = {"up": (0.0, -1.0), "down": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


def _write_data(data_dir: str, rng: np.random.Generator) -> None:
    """Writes train and test videos: noise flow, the class's motion inside one window."""
    from tfrecords import schema, testdata

    def plane(values: np.ndarray) -> bytes:
        return testdata.encode_jpeg(schema.quantize_flow(values)[..., np.newaxis])

    # A pool of noise frames and of motion frames per class keeps JPEG encoding short.
    def noise() -> np.ndarray:
        return rng.normal(0.0, FLAGS.noise, (SIZE, SIZE)).astype(np.float32)

    still = [(plane(noise()), plane(noise())) for _ in range(32)]
    moving = {}
    for name, (dx, dy) in MOTION.items():
        frames = []
        for _ in range(8):
            x, y = noise(), noise()
            top, left = rng.integers(4, 12, 2)
            x[top : top + 16, left : left + 16] += dx * FLAGS.speed
            y[top : top + 16, left : left + 16] += dy * FLAGS.speed
            frames.append((plane(x), plane(y)))
        moving[name] = frames
    window = max(1, round(FLAGS.motion_fraction * FLAGS.frames))
    grey = testdata.encode_jpeg(np.full((SIZE, SIZE, 3), 128, np.uint8))

    def video(subset: str, index: int, label: int) -> schema.Video:
        first = int(rng.integers(0, FLAGS.frames - window + 1))
        pairs = [
            moving[CLASSES[label]][rng.integers(8)]
            if first <= t < first + window
            else still[rng.integers(32)]
            for t in range(FLAGS.frames)
        ]
        flow_x, flow_y = zip(*pairs, strict=True)
        rgb = [grey] * (FLAGS.frames + 1)
        return testdata.make_video(
            f"v_{subset}_{index:03d}", label, rgb, flow_x, flow_y, (SIZE, SIZE)
        )

    counts = {"train": FLAGS.train_per_class, "test": FLAGS.test_per_class}
    videos = {
        subset: [video(subset, i, i % len(CLASSES)) for i in range(count * len(CLASSES))]
        for subset, count in counts.items()
    }
    testdata.write_data_dir(data_dir, videos, len(CLASSES), num_shards=2)


def _motionless_fraction(num_segments: int) -> float:
    """Fraction of training examples none of whose snippets holds a motion frame."""
    import tensorflow as tf

    from input_pipeline import sampling

    window = max(1, round(FLAGS.motion_fraction * FLAGS.frames))
    draws, empty = 4000, 0
    rng = np.random.default_rng(0)
    firsts = rng.integers(0, FLAGS.frames - window + 1, draws)
    seed = tf.constant([1, 2], tf.int64)
    if num_segments == 1:
        starts = sampling.random_starts(FLAGS.frames, FLOW_FRAMES, draws, seed)[:, None]
    else:
        starts = sampling.segment_starts(FLAGS.frames, FLOW_FRAMES, num_segments, draws, seed)
    frames = sampling.frame_indices(starts, FLOW_FRAMES, FLAGS.frames).numpy()
    for first, example in zip(firsts, frames, strict=True):
        empty += not np.any((example >= first) & (example < first + window))
    return empty / draws


def _config(num_segments: int, steps: int, seed: int):
    from configs import demo_temporal

    config = demo_temporal.get_config()
    config.seed = seed
    config.data.image_size = SIZE
    config.data.num_flow_frames = FLOW_FRAMES
    config.data.num_segments = num_segments
    config.data.random_flip = False
    config.data.shuffle_buffer = 256
    config.data.eval_num_samples = FLAGS.eval_samples
    config.data.eval_num_crops = 1
    train = config.train
    train.batch_size = BATCH
    train.reference_batch_size = 32  # the demo's lr 0.05, scaled to 0.025 at batch 16
    train.num_steps = steps
    train.lr_boundaries = (steps * 3 // 4,)
    train.log_every_steps = steps
    train.checkpoint_every_steps = steps
    return config


def _run(data_dir: str, root: str, num_segments: int, steps: int, seed: int) -> float:
    """Trains one setting and returns its test top-1."""
    import tensorflow as tf

    from evaluation import evaluate
    from training import experiment

    config = _config(num_segments, steps, seed)
    workdir = os.path.join(root, f"k{num_segments}_s{steps}_seed{seed}")
    experiment.train_on_data_dir(config, workdir, data_dir, tf.distribute.get_strategy())
    metrics = evaluate.evaluate_checkpoint(config, workdir, data_dir, "test", progress=False)
    return float(metrics["top1"])


def main(argv: list[str]) -> None:
    """Prints the motionless fractions, then each setting's test top-1 per seed."""
    del argv
    settings = [
        setting
        for steps in map(int, FLAGS.steps)
        for setting in ((1, steps), (1, SEGMENTS * steps), (SEGMENTS, steps))
    ]
    print(
        f"data: {len(CLASSES)} classes, {FLAGS.frames} flow frames a video, motion "
        f"({FLAGS.speed:g} px/frame, noise sd {FLAGS.noise:g}) in "
        f"{FLAGS.motion_fraction:.0%} of them; {FLAGS.train_per_class} train / "
        f"{FLAGS.test_per_class} test videos a class; L = {FLOW_FRAMES}, batch {BATCH}; "
        f"test: {FLAGS.eval_samples} stacks x centre crop"
    )
    for k in (1, SEGMENTS):
        print(f"K = {k}: training examples with no motion frame: {_motionless_fraction(k):.1%}")
    with tempfile.TemporaryDirectory(prefix="bench_segments_") as root:
        data_dir = os.path.join(root, "records")
        _write_data(data_dir, np.random.default_rng(0))
        for num_segments, steps in settings:
            start = time.monotonic()
            top1 = [_run(data_dir, root, num_segments, steps, s) for s in range(FLAGS.seeds)]
            print(
                f"K = {num_segments}, {steps} steps ({steps * BATCH * num_segments} snippets): "
                f"test top-1 {' '.join(f'{t:.3f}' for t in top1)} (mean "
                f"{statistics.mean(top1):.3f}; {time.monotonic() - start:.0f} s)"
            )


if __name__ == "__main__":
    app.run(main)
