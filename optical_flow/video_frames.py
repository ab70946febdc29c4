"""Raw video -> resized RGB JPEGs and quantized optical-flow JPEGs (the `videos` source).

This recomputes what the public archives ship (`jpegs_256/`, `tvl1_flow/`): every frame is
resized as the archives' tool resized it (`archive_frame_size`: short side 256, aspect ratio
kept, long side made even; bicubic; UCF-101's 320x240 -> 340x256, a 640x360 phone video ->
454x256) and stored as an RGB JPEG; flow between consecutive resized grayscale frames is
clipped to [-20, 20] pixels and quantized to uint8 with `tfrecords.schema.quantize_flow` (zero
motion ~128), then stored as two grayscale JPEGs (x = `u`, y = `v`), at the same size. N
decoded frames give N RGB and N-1 flow frames; the first frame's size fixes the video's.

The flow of a pair comes from `optical_flow.algorithms` (by `--flow_algorithm`).

The video is decoded as a stream: only two frames are held at a time, never the whole clip.
The steps are separate functions so that `evaluation.predictor` turns a user's video into the
same bytes for the frames it samples: `open_video` (decode), `resize_frame` + `encode_jpeg`
(an RGB frame), `to_gray` + `FlowPairs` (the flow of pairs of consecutive frames, in batches).
"""

from __future__ import annotations

import contextlib
import dataclasses
import posixpath
import tempfile
from collections.abc import Iterator

import cv2
import numpy as np
import tensorflow as tf

from optical_flow import algorithms
from tfrecords.errors import UserError
from tfrecords.schema import quantize_flow

JPEG_QUALITY = 95
# The archives' short side (`archive_frame_size`).
SHORT_SIDE = 256
# The manifest's `frame_resize` for records of the videos source: the rule of
# `archive_frame_size` and `resize_frame`.
FRAME_RESIZE = (
    f"archive: short side {SHORT_SIDE}, aspect ratio kept, long side floor(long x {SHORT_SIDE} / "
    "short) rounded down to even; OpenCV INTER_CUBIC (Feichtenhofer's gpu_flow)"
)


# One flow frame as stored: (x JPEG, y JPEG).
FlowJpegs = tuple[bytes, bytes]


class VideoError(UserError):
    """A video cannot be opened, holds no frames, or decodes fewer frames than it declares."""


@dataclasses.dataclass(frozen=True)
class EncodedFrames:
    """One video's frames, encoded for a record.

    Attributes:
      rgb: N RGB JPEGs of height x width.
      flow_x: N-1 grayscale JPEGs of quantized x flow.
      flow_y: N-1 grayscale JPEGs of quantized y flow.
      height: frame height in pixels (RGB and flow).
      width: frame width in pixels (RGB and flow).
      frame_rate: frames per second as the container declares it.
    """

    rgb: list[bytes]
    flow_x: list[bytes]
    flow_y: list[bytes]
    height: int
    width: int
    frame_rate: float


def archive_frame_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) the archives' tool gives a decoded frame of `height` x `width`.

    The reference is Feichtenhofer's `gpu_flow` (compute_flow.cpp, 2016-2017, which made the
    public `jpegs_256/` and `tvl1_flow/` archives of UCF-101 and HMDB-51): factor =
    max(256 / cols, 256 / rows); each side floor(side x factor), then rounded down to even
    (`side -= side % 2`); frames resized to it with `cv::resize(..., INTER_CUBIC)`. So the
    short side is 256 and the long side floor(long x 256 / short) rounded down to even:
    320x240 -> 340x256, 640x360 -> 454x256, 360x640 -> 256x454, 640x272 -> 602x256.

    gpu_flow computes in float32; for some short sides (41, 47, 55, ..., none of 144, 180,
    240, 272, 288, 360, 480, 576, 720, 1080 and the other usual ones) its product falls just
    below 256, it computes flow at 254 and resizes the outputs to 256 a second time. This rule
    is the exact arithmetic, which equals gpu_flow's wherever gpu_flow gives a short side of 256.
    (TSN's `dense_flow` instead resizes to a fixed size its caller gives, bilinearly: TSN's
    scripts pass 340x256 whatever the aspect ratio.)

    Raises:
      ValueError: a side below 1.
    """
    if height < 1 or width < 1:
        raise ValueError(f"frame of {height}x{width} (height x width): both sides must be >= 1")
    short, long = min(height, width), max(height, width)
    long_side = long * SHORT_SIDE // short
    long_side -= long_side % 2
    return (SHORT_SIDE, long_side) if height <= width else (long_side, SHORT_SIDE)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w, C] or [h, w] uint8 -> [height, width, C] or [height, width], bicubic.

    OpenCV's `cv2.resize` with INTER_CUBIC, as the archives' tool (`archive_frame_size`).

    Args:
      frame: a decoded frame.
      size: (height, width), e.g. `archive_frame_size` of the video's decoded size.
    """
    height, width = size
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)


# UCF-101's videos are 320x240: their frames in the archives, the size of the synthetic
# frames and of the benchmarks' data.
FRAME_HEIGHT, FRAME_WIDTH = archive_frame_size(240, 320)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] BGR uint8 (a resized frame) -> [H, W] uint8, the flow algorithms' input."""
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def encode_jpeg(image: np.ndarray) -> bytes:
    """[H, W, 3] BGR (OpenCV order) or [H, W] grayscale uint8 -> JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as JPEG")
    return encoded.tobytes()


def encode_flow(flow: np.ndarray) -> tuple[bytes, bytes]:
    """[H, W, 2] float32 pixels -> (x JPEG, y JPEG) of flow quantized as the archives store it."""
    quantized = quantize_flow(flow)
    return encode_jpeg(quantized[..., 0]), encode_jpeg(quantized[..., 1])


class FlowPairs:
    """Consecutive grayscale frames collected in batches of pairs, flowed and stored.

    `algorithms.pairs_per_call(algorithm)` pairs go to the flow function at once (one on a
    CPU, a batch on an accelerator); each pair's flow is quantized and encoded by
    `encode_flow`. Only the pairs of a batch are held, never the whole clip.

    Args:
      algorithm: one of `algorithms.FLOW_ALGORITHMS`.

    Raises:
      UserError: unknown `algorithm`.
    """

    def __init__(self, algorithm: str):
        self._flow = algorithms.flow_function(algorithm)
        self._batch = algorithms.pairs_per_call(algorithm)
        self._pending: list[tuple[int, np.ndarray, np.ndarray]] = []

    def add(self, index: int, previous: np.ndarray, current: np.ndarray) -> dict[int, FlowJpegs]:
        """Queues pair `index` ([H, W] uint8 `to_gray` frames i and i + 1).

        Returns:
          {pair index: (x JPEG, y JPEG)} of the batch this pair completed, else {}.
        """
        self._pending.append((index, previous, current))
        return self.flush() if len(self._pending) >= self._batch else {}

    def flush(self) -> dict[int, FlowJpegs]:
        """Flows the queued pairs: {pair index: (x JPEG, y JPEG)} (flow frame i: i -> i + 1)."""
        if not self._pending:
            return {}
        indices, previous, current = zip(*self._pending, strict=True)
        self._pending = []
        flows = self._flow(np.stack(previous), np.stack(current))
        return {i: encode_flow(f) for i, f in zip(indices, flows, strict=True)}


@contextlib.contextmanager
def _local_file(path: str) -> Iterator[str]:
    """Yields a local path for `path`, copying a remote (`gs://...`) file to a temp file.

    OpenCV reads only local files; the copy lives as long as the context.
    """
    if "://" not in path:
        yield path
        return
    suffix = posixpath.splitext(path)[1]
    with tempfile.TemporaryDirectory() as folder:
        local = posixpath.join(folder, "video" + suffix)
        tf.io.gfile.copy(path, local)
        yield local


@dataclasses.dataclass(frozen=True)
class VideoStream:
    """An open video: its declared frame rate and its frames, decoded on iteration.

    Attributes:
      frame_rate: frames per second the container declares.
      declared_frames: frames the container declares (0 if it does not say); decoding
        yields at least this many (fewer raise VideoError), possibly more.
      frames: yields [h, w, 3] uint8 BGR frames in order; after the last one it raises
        VideoError if the file decoded fewer frames than its header declares (truncated).
    """

    frame_rate: float
    declared_frames: int
    frames: Iterator[np.ndarray]


@contextlib.contextmanager
def open_video(path: str) -> Iterator[VideoStream]:
    """Opens a video file (local or `gs://`) for decoding with OpenCV's FFmpeg backend.

    Raises:
      VideoError: OpenCV cannot open the file or it declares no positive frame rate; while
        iterating the frames: it holds no frame, or fewer frames than its header declares.
    """
    with _local_file(path) as local:
        capture = cv2.VideoCapture(local)
        try:
            if not capture.isOpened():
                raise VideoError(
                    f"{path}: OpenCV cannot open this video; check the file (re-download or "
                    "re-encode it)"
                )
            fps = capture.get(cv2.CAP_PROP_FPS)
            if not fps > 0:
                raise VideoError(
                    f"{path}: declares no frame rate; re-download or re-encode the video"
                )
            declared = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            yield VideoStream(float(fps), declared, _frames(path, capture, declared))
        finally:
            capture.release()


def _frames(path: str, capture: cv2.VideoCapture, declared: int) -> Iterator[np.ndarray]:
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count += 1
        yield frame
    if count == 0:
        raise VideoError(f"{path}: no frame could be decoded; re-download or re-encode the video")
    if count < declared:
        raise VideoError(
            f"{path}: decoded {count} of the {declared} frames its header declares; the file is "
            "truncated or corrupt. Re-download or re-encode it."
        )


def video_to_frames(path: str, algorithm: str) -> EncodedFrames:
    """Decodes, resizes and encodes a video and its optical flow.

    Args:
      path: the video file (any format OpenCV's FFmpeg reads; local or `gs://`).
      algorithm: one of FLOW_ALGORITHMS.

    Returns:
      N RGB and N-1 x/y flow JPEGs, all of `archive_frame_size` of the first frame's size.

    Raises:
      VideoError: see `open_video`.
      ValueError: unknown `algorithm`.
    """
    pairs = FlowPairs(algorithm)
    rgb: list[bytes] = []
    flows: dict[int, FlowJpegs] = {}
    previous = size = None
    with open_video(path) as video:
        for frame in video.frames:
            if size is None:
                size = archive_frame_size(*frame.shape[:2])
            resized = resize_frame(frame, size)
            rgb.append(encode_jpeg(resized))
            gray = to_gray(resized)
            if previous is not None:
                flows.update(pairs.add(len(rgb) - 2, previous, gray))
            previous = gray
    flows.update(pairs.flush())
    flow_x = [flows[i][0] for i in range(len(flows))]
    flow_y = [flows[i][1] for i in range(len(flows))]
    return EncodedFrames(rgb, flow_x, flow_y, *size, video.frame_rate)
