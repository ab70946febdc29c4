"""Realistic benchmark data: the same JPEG bytes as TFRecord shards and as per-file frames.

Frames imitate Feichtenhofer's UCF-101 archives: 340x256 RGB JPEGs with natural-image-like
texture (~25 KB, decode cost ~0.5 ms), and grayscale quantized-flow JPEGs (smooth fields
around 128, ~4 KB). A pool of distinct frames is reused across videos (decode cost depends on
the bytes, not on their order). The per-file copy uses the archives' layout
(`jpegs_256/<video>/frame000001.jpg`, `tvl1_flow/{u,v}/<video>/frame000001.jpg`) for the
seed-style generator baseline.
"""

from __future__ import annotations

import dataclasses
import posixpath

import cv2
import numpy as np
import tensorflow as tf

from optical_flow.video_frames import FRAME_HEIGHT as HEIGHT
from optical_flow.video_frames import FRAME_WIDTH as WIDTH
from preprocessing import layout
from preprocessing.job_config import DEFAULT_RGB_CHUNKS
from tfrecords import testdata

POOL_SIZE = 24
JPEG_QUALITY = 90  # with the textures below: ~25 KB RGB and ~4 KB flow frames, as the archives


@dataclasses.dataclass(frozen=True)
class BenchData:
    """Where the benchmark data is and what it holds.

    Attributes:
      data_dir: manifest + 'train' shards (RGB in the Beam job's default number of strided
        chunks per video, flow whole).
      frames_dir: per-file frames in the archives' layout.
      video_ids: the videos, in order.
      num_frames: RGB frames per video (flow: one fewer).
      labels: class index of each video.
      rgb_pool: the distinct RGB JPEGs every video is made of.
      flow_pool: the distinct flow JPEGs (x and y) every video is made of.
    """

    data_dir: str
    frames_dir: str
    video_ids: list[str]
    num_frames: list[int]
    labels: list[int]
    rgb_pool: list[bytes]
    flow_pool: list[bytes]


def _rgb_frame(rng: np.random.Generator) -> bytes:
    """Smooth colour fields + blurred noise + flat patches, a JPEG_QUALITY JPEG (RGB order)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    for c in range(3):
        for _ in range(4):
            fx, fy, phase = rng.uniform(0.01, 0.1), rng.uniform(0.01, 0.1), rng.uniform(0, 6)
            image[..., c] += 40 * np.sin(fx * x + fy * y + phase)
    noise = rng.normal(0, 60, (HEIGHT, WIDTH, 3)).astype(np.float32)
    image = np.clip(image + 128 + cv2.GaussianBlur(noise, (0, 0), 1.2), 0, 255).astype(np.uint8)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, WIDTH - 40)), int(rng.integers(0, HEIGHT - 40))
        x1, y1 = x0 + int(rng.integers(10, 60)), y0 + int(rng.integers(10, 60))
        cv2.rectangle(image, (x0, y0), (x1, y1), rng.integers(0, 255, 3).tolist(), -1)
    return testdata.encode_jpeg(image, quality=JPEG_QUALITY)


def _flow_frame(rng: np.random.Generator) -> bytes:
    """A smooth motion field around 128 with mild noise, a grayscale JPEG_QUALITY JPEG."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    field = 128 + 10 * np.sin(0.03 * x + 0.02 * y + rng.uniform(0, 6)) + 5 * np.cos(0.05 * y)
    noise = cv2.GaussianBlur(rng.normal(0, 5, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 2.5)
    flow = np.clip(field + noise, 0, 255).astype(np.uint8)
    return testdata.encode_jpeg(flow, quality=JPEG_QUALITY)


def frame_pools(seed: int = 0) -> tuple[list[bytes], list[bytes]]:
    """(RGB pool, flow pool): POOL_SIZE distinct realistic JPEGs of each kind."""
    rng = np.random.default_rng(seed)
    rgb_pool = [_rgb_frame(rng) for _ in range(POOL_SIZE)]
    flow_pool = [_flow_frame(rng) for _ in range(POOL_SIZE)]
    return rgb_pool, flow_pool


def mean_kb(frames: list[bytes]) -> float:
    """Mean size of the encoded `frames` in KB (10^3 bytes)."""
    return sum(map(len, frames)) / len(frames) / 1e3


def _write_files(frames_dir: str, parts: tuple[str, ...], frames: list[bytes]) -> None:
    directory = posixpath.join(frames_dir, *parts)
    tf.io.gfile.makedirs(directory)
    for i, encoded in enumerate(frames):
        with tf.io.gfile.GFile(posixpath.join(directory, layout.frame_name(i + 1)), "wb") as f:
            f.write(encoded)


def write(root: str, num_videos: int, mean_frames: int, num_shards: int, seed: int = 0):
    """Writes `num_videos` videos (frame counts spread around `mean_frames`) both ways.

    Returns:
      BenchData describing what was written under `root`.
    """
    rgb_pool, flow_pool = frame_pools(seed)
    data_dir, frames_dir = posixpath.join(root, "records"), posixpath.join(root, "frames")
    counts = np.linspace(mean_frames // 2, mean_frames * 3 // 2, num_videos).astype(int).tolist()
    videos = []
    for v, count in enumerate(counts):
        video_id = f"v_Bench_g{v // 4 + 1:02d}_c{v % 4 + 1:02d}"
        rgb = [rgb_pool[(v + t) % POOL_SIZE] for t in range(count)]
        flow_x = [flow_pool[(v + t) % POOL_SIZE] for t in range(count - 1)]
        flow_y = [flow_pool[(v + 7 * t + 3) % POOL_SIZE] for t in range(count - 1)]
        videos.append(testdata.make_video(video_id, v % 2, rgb, flow_x, flow_y, (HEIGHT, WIDTH)))
        _write_files(frames_dir, (layout.FRAMES_DIR, video_id), rgb)
        _write_files(frames_dir, (layout.FLOW_DIR, layout.FLOW_X_DIR, video_id), flow_x)
        _write_files(frames_dir, (layout.FLOW_DIR, layout.FLOW_Y_DIR, video_id), flow_y)
    testdata.write_data_dir(
        data_dir,
        {"train": videos},
        num_classes=2,
        num_shards=num_shards,
        rgb_chunks={"train": DEFAULT_RGB_CHUNKS},
    )
    return BenchData(
        data_dir,
        frames_dir,
        [v.video_id for v in videos],
        counts,
        [v.label for v in videos],
        rgb_pool,
        flow_pool,
    )
