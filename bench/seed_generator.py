"""The seed's Python data path, honestly tuned, as the benchmark's baseline.

What the seed's `temporal_train_data.py` does per sample, kept: per-file frames read with
`cv2.imread`, per-image mean subtraction and scaling by 1/255, a 224x224 crop, a random
horizontal flip (x negated for flow), frames stacked with numpy, samples stacked into a batch.
What is tuned (the seed would be slower): float32 instead of float64, the crop taken before
the subtraction, no per-frame prints, correct (H, W) axes, and samples loaded by a pool of
as many threads as cores kept busy ahead of the consumer (the seed's generator held one lock
around each whole batch, so its Keras worker threads never overlapped). Spatial samples use
the same path with one colour frame (converted to RGB, like the pipeline's output).
"""

from __future__ import annotations

import collections
import concurrent.futures
import posixpath
from collections.abc import Iterator

import cv2
import numpy as np

from preprocessing import layout


class SeedStyleGenerator:
    """Yields batches (float32 [B, S, S, C], int32 [B]) (C = 3 or 2L) from per-file frames.

    Args:
      frames_dir: root holding `jpegs_256/<video>/` and `tvl1_flow/{u,v}/<video>/` frames.
      video_ids: videos to draw from.
      num_frames: RGB frames per video (flow: one fewer).
      labels: class index of each video.
      temporal: flow stacks of `flow_len` frames instead of one RGB frame.
      flow_len: L.
      batch_size: samples per batch.
      image_size: crop side S.
      frame_hw: (height, width) of the frames.
      workers: loader threads.
      seed: numpy random seed.
    """

    def __init__(
        self,
        frames_dir: str,
        video_ids: list[str],
        num_frames: list[int],
        labels: list[int],
        temporal: bool,
        flow_len: int,
        batch_size: int,
        image_size: int,
        frame_hw: tuple[int, int],
        workers: int,
        seed: int = 0,
    ):
        self._dir = frames_dir
        self._videos = list(zip(video_ids, num_frames, strict=True))
        self._labels = dict(zip(video_ids, labels, strict=True))
        self._temporal = temporal
        self._flow_len = flow_len
        self._batch_size = batch_size
        self._size = image_size
        self._frame_hw = frame_hw
        self._workers = workers
        self._rng = np.random.default_rng(seed)

    def _crop(self, image: np.ndarray, oy: int, ox: int, negate: bool) -> np.ndarray:
        """Per-image mean subtraction and 1/255 scaling of the crop (seed order: mean first)."""
        mean = np.float32(image.mean())
        out = (image[oy : oy + self._size, ox : ox + self._size].astype(np.float32) - mean) / 255
        return -out if negate else out

    def _flow_sample(self, video: str, first: int, oy: int, ox: int, flip: bool) -> np.ndarray:
        count = dict(self._videos)[video] - 1
        channels = []
        for t in range(self._flow_len):
            name = layout.frame_name((first + t) % count + 1)
            for axis in (layout.FLOW_X_DIR, layout.FLOW_Y_DIR):
                path = posixpath.join(self._dir, layout.FLOW_DIR, axis, video, name)
                image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                channels.append(self._crop(image, oy, ox, flip and axis == layout.FLOW_X_DIR))
        stack = np.stack(channels, axis=-1)
        return stack[:, ::-1] if flip else stack

    def _rgb_sample(self, video: str, index: int, oy: int, ox: int, flip: bool) -> np.ndarray:
        path = posixpath.join(self._dir, layout.FRAMES_DIR, video, layout.frame_name(index + 1))
        image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        sample = self._crop(image, oy, ox, False)
        return sample[:, ::-1] if flip else sample

    def _draw(self) -> tuple:
        """A random (video, start, crop offset y, crop offset x, flip), as the seed draws them."""
        video, count = self._videos[self._rng.integers(len(self._videos))]
        length = self._flow_len if self._temporal else 1
        frames = count - 1 if self._temporal else count
        start = int(self._rng.integers(max(frames - length, 0) + 1))
        oy = int(self._rng.integers(self._frame_hw[0] - self._size + 1))
        ox = int(self._rng.integers(self._frame_hw[1] - self._size + 1))
        return video, start, oy, ox, bool(self._rng.random() < 0.5)

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(images float32 [B, S, S, C], labels int32 [B]) forever; 2 batches kept in flight."""
        load = self._flow_sample if self._temporal else self._rgb_sample

        def submit() -> tuple[concurrent.futures.Future, int]:
            video, start, oy, ox, flip = self._draw()
            return pool.submit(load, video, start, oy, ox, flip), self._labels[video]

        with concurrent.futures.ThreadPoolExecutor(self._workers) as pool:
            pending = collections.deque(submit() for _ in range(2 * self._batch_size))
            while True:
                samples, labels = [], []
                for _ in range(self._batch_size):
                    future, label = pending.popleft()
                    samples.append(future.result())
                    labels.append(label)
                    pending.append(submit())
                yield np.stack(samples), np.array(labels, np.int32)
