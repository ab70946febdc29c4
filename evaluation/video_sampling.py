"""A video file -> a `schema.Video` holding just the frames the evaluation's samples read.

The records of that Video are, in every frame a sample reads, byte for byte the records the
Beam job's videos source writes for the file (optical_flow/video_frames.py makes both):

    video_frames.open_video                 decode the file as a stream (never all frames)
    `sampled_frames` of N RGB frames        RGB frames the K spatial samples read
    `sampled_frames` of N - 1 flow frames   flow frames the K temporal stacks of L read
    frame size: archive_frame_size of the first frame (short side 256, aspect ratio kept)
    RGB frame i:  resize_frame to that size -> encode_jpeg
    flow frame i: to_gray of frames i and i + 1 -> FlowPairs (x, y quantized JPEGs; pairs in
                  batches of `algorithms.pairs_per_call`)
    every other frame: empty bytes (`samples.gather_eval` never gathers it)

A new video is resized by the rule of the training data (the archives' and the videos
source's, `video_frames.FRAME_RESIZE`), not to the training data's largest frame: a 16:9
video keeps its aspect ratio (e.g. 454x256), and the evaluation's views are cut from its own
frame (`crops.eval_crop_params` of its size), as eval.py cuts them from its records.

Flow is the slow part (TV-L1's cost per pair: README.md's Scaling section), so only the pairs
the stacks read are computed: at most K x L, e.g. 250 of a 1,000-frame video's 999 pairs with
the default 25 stacks of 10; a progress bar counts them and the log gives the expected time
as soon as the first pair is timed.

The frame count comes from the container's header; if decoding finds another count (or the
header has none), the video is decoded again with the true count, as the samples depend on it.
"""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
import tqdm
from absl import logging

from evaluation import export_metadata
from evaluation.contact_sheet import Preview
from input_pipeline import samples, sampling
from optical_flow import video_frames
from tfrecords import schema


@dataclasses.dataclass(frozen=True)
class StreamInput:
    """What a stream reads from a video.

    Attributes:
      spec: the stream's evaluation SampleSpec (K, L, V, ...).
    """

    spec: samples.SampleSpec


@dataclasses.dataclass(frozen=True)
class SampledVideo:
    """A decoded video, reduced to what the samples read.

    Attributes:
      video: its schema.Video (N RGB, N - 1 flow frames; empty bytes where no sample reads);
        `schema.encode_records(video, 1)` gives its whole-video records.
      num_frames: N, frames decoded.
      flow_pairs: frame pairs whose flow was computed.
      decode_seconds: decoding, resizing and JPEG encoding (every pass).
      flow_seconds: optical flow.
      previews: sampled frames (and their flow) for a contact sheet.
    """

    video: schema.Video
    num_frames: int
    flow_pairs: int
    decode_seconds: float
    flow_seconds: float
    previews: tuple[Preview, ...]


@dataclasses.dataclass(frozen=True)
class _Plan:
    """RGB frames to encode, flow frames to compute and preview frames of an N-frame video."""

    num_frames: int
    rgb: frozenset[int]
    flow: frozenset[int]
    previews: tuple[int, ...]


_NO_PLAN = _Plan(0, frozenset(), frozenset(), ())


@dataclasses.dataclass(frozen=True)
class _Pass:
    """What one decoding pass produced."""

    plan: _Plan
    num_frames: int
    frame_size: tuple[int, int]
    frame_rate: float
    rgb: dict[int, bytes]
    flow: dict[int, tuple[bytes, bytes]]
    seconds: float
    flow_seconds: float


def sampled_frames(spec: samples.SampleSpec, num_frames: int) -> np.ndarray:
    """Frames of its modality the K eval samples of `spec` read, as `samples.gather_eval`.

    Args:
      spec: the stream's SampleSpec.
      num_frames: frames of the modality in the video (N for RGB, N - 1 for flow), > 0.

    Returns:
      int32 [K, length] frame indices (short videos loop).
    """
    count = tf.constant(num_frames, tf.int32)
    starts = sampling.uniform_starts(count, spec.length, spec.eval_num_samples)
    return sampling.frame_indices(starts, spec.length, count).numpy()


def _plan(inputs: Sequence[StreamInput], num_frames: int, num_previews: int) -> _Plan:
    """The frames the inputs' samples read; previews at up to `num_previews` sample starts.

    Previews are the frames the temporal stacks start at (with their flow), else the
    spatial samples' frames.
    """
    rgb: set[int] = set()
    flow: set[int] = set()
    starts: list[int] = []
    for stream in sorted(inputs, key=lambda s: s.spec.stream.flow):
        is_flow = stream.spec.stream.flow
        indices = sampled_frames(stream.spec, num_frames - 1 if is_flow else num_frames)
        (flow if is_flow else rgb).update(indices.ravel().tolist())
        starts = indices[:, 0].tolist()
    previews: list[int] = []
    if num_previews:
        picks = np.linspace(0, len(starts) - 1, min(num_previews, len(starts)))
        previews = sorted({starts[int(round(p))] for p in picks})
        rgb.update(previews)
    return _Plan(num_frames, frozenset(rgb), frozenset(flow), tuple(previews))


def _log_estimate(path: str, algorithm: str, plan: _Plan, done: int, seconds: float) -> None:
    """Logs the flow's expected duration from its first `done` pairs' `seconds`.

    Called after the second batch of pairs: the first call of TensorFlow's TV-L1 for a frame
    size also compiles (seconds), so the second batch's time per pair is the one to project.
    """
    pairs = len(plan.flow)
    logging.info(
        "%s: %s flow for %d of its %d frame pairs (those the samples read): ~%.0f s more at "
        "%.2f s a pair",
        path,
        algorithm,
        pairs,
        plan.num_frames - 1,
        (pairs - done) * seconds,
        seconds,
    )


def _timed(
    flowed: Callable[[], dict[int, video_frames.FlowJpegs]],
    flow: dict[int, video_frames.FlowJpegs],
    bar: tqdm.tqdm,
) -> float:
    """Runs `flowed` (a `FlowPairs` add or flush) into `flow`, counted on `bar`; its seconds."""
    start = time.perf_counter()
    done = flowed()
    flow.update(done)
    bar.update(len(done))
    return time.perf_counter() - start


def _decode(
    path: str,
    inputs: Sequence[StreamInput],
    flow_algorithm: str | None,
    num_frames: int | None,
    num_previews: int,
    progress: bool,
) -> _Pass:
    """One pass over the video, planned for `num_frames` (None: the header's count)."""
    start = time.perf_counter()
    size = None
    rgb: dict[int, bytes] = {}
    flow: dict[int, tuple[bytes, bytes]] = {}
    flow_seconds = 0.0
    with video_frames.open_video(path) as video:
        planned = video.declared_frames if num_frames is None else num_frames
        # Fewer than 2 frames declared: nothing to plan, this pass only counts.
        plan = _plan(inputs, planned, num_previews) if planned >= 2 else _NO_PLAN
        pairs = video_frames.FlowPairs(flow_algorithm) if plan.flow else None
        bar = tqdm.tqdm(
            total=len(plan.flow),
            desc=f"{flow_algorithm} flow",
            unit="pair",
            disable=not (progress and plan.flow),
        )
        count, previous, batches = 0, None, 0
        with bar:
            for index, frame in enumerate(video.frames):
                count += 1
                if size is None:  # the first frame's, as the Beam job's
                    size = video_frames.archive_frame_size(*frame.shape[:2])
                in_flow = index in plan.flow or index - 1 in plan.flow
                if index not in plan.rgb and not in_flow:
                    continue
                resized = video_frames.resize_frame(frame, size)
                if index in plan.rgb:
                    rgb[index] = video_frames.encode_jpeg(resized)
                if not in_flow:
                    continue
                gray = video_frames.to_gray(resized)
                if index - 1 in plan.flow:
                    done = len(flow)
                    add = functools.partial(pairs.add, index - 1, previous, gray)
                    seconds = _timed(add, flow, bar)
                    flow_seconds += seconds
                    if len(flow) > done:
                        batches += 1
                        if batches == 2 and len(flow) < len(plan.flow):
                            per_pair = seconds / (len(flow) - done)
                            _log_estimate(path, flow_algorithm, plan, len(flow), per_pair)
                previous = gray
            if pairs is not None:
                flow_seconds += _timed(pairs.flush, flow, bar)
    return _Pass(
        plan,
        count,
        size,  # set: a video without frames raised VideoError
        video.frame_rate,
        rgb,
        flow,
        time.perf_counter() - start,
        flow_seconds,
    )


def _previews(decoded: _Pass) -> tuple[Preview, ...]:
    """The planned preview frames as the model reads them (decoded, flow dequantized)."""
    previews = []
    for index in decoded.plan.previews:
        rgb = tf.io.decode_jpeg(decoded.rgb[index], channels=3).numpy()
        flow = None
        if index in decoded.flow:
            planes = [tf.io.decode_jpeg(jpeg, channels=1)[..., 0] for jpeg in decoded.flow[index]]
            flow = schema.dequantize_flow(tf.stack(planes, axis=-1)).numpy()
        previews.append(Preview(index, rgb, flow))
    return tuple(previews)


def check_file(path: str) -> None:
    """Raises VideoError unless `path` is a file that can be read (local or gs://)."""
    if not tf.io.gfile.exists(path):
        raise video_frames.VideoError(f"{path}: no such file")
    if tf.io.gfile.isdir(path):
        raise video_frames.VideoError(f"{path}: a directory, not a video file")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            f.read(1)
    except (tf.errors.OpError, OSError) as e:
        message = getattr(e, "message", None) or str(e)
        raise video_frames.VideoError(f"{path}: cannot read ({message})") from e


def read_video(
    path: str,
    inputs: Sequence[StreamInput],
    flow_algorithm: str | None,
    num_previews: int = 0,
    progress: bool = True,
) -> SampledVideo:
    """Decodes `path` into the frames and flow the inputs' eval samples read.

    Args:
      path: a video file any container OpenCV reads (local or gs://).
      inputs: one StreamInput per stream (at most one spatial and one temporal).
      flow_algorithm: one of optical_flow.algorithms.FLOW_ALGORITHMS; None without a temporal input.
      num_previews: sampled positions to keep for a contact sheet.
      progress: show a progress bar over the flow pairs.

    Returns:
      The SampledVideo.

    Raises:
      VideoError: no such file, a directory, unreadable, not a video OpenCV opens, truncated
        (fewer frames than its header declares), or fewer than 2 frames.
      ValueError: no input, two of a modality, or a temporal input without flow algorithm.
    """
    by_modality = {s.spec.modality: s for s in inputs}
    if not inputs or len(by_modality) != len(inputs):
        raise ValueError(f"{len(inputs)} stream inputs: give one spatial and/or one temporal")
    if schema.FLOW_MODALITY in by_modality and flow_algorithm is None:
        raise ValueError("a temporal input needs a flow algorithm")
    check_file(path)
    args = (path, inputs, flow_algorithm)
    decoded = _decode(*args, None, num_previews, progress)
    seconds = 0.0
    if decoded.num_frames < 2:
        raise video_frames.VideoError(
            f"{path}: {decoded.num_frames} frame(s); a clip needs at least 2 (one flow frame)"
        )
    if decoded.plan.num_frames != decoded.num_frames:
        # The header's frame count was wrong (or missing): again, with the true count.
        seconds = decoded.seconds
        decoded = _decode(*args, decoded.num_frames, num_previews, progress)
    n, empty = decoded.num_frames, (b"", b"")
    video = schema.Video(
        video_id=posixpath.splitext(posixpath.basename(path))[0],
        class_name="",  # unknown; the records' label is never read here
        label=0,
        group=0,
        clip=0,
        rgb=[decoded.rgb.get(i, b"") for i in range(n)],
        flow_x=[decoded.flow.get(i, empty)[0] for i in range(n - 1)],
        flow_y=[decoded.flow.get(i, empty)[1] for i in range(n - 1)],
        height=decoded.frame_size[0],
        width=decoded.frame_size[1],
        flow_height=decoded.frame_size[0],
        flow_width=decoded.frame_size[1],
        source=f"{export_metadata.VIDEOS_SOURCE_PREFIX}{flow_algorithm or 'none'}",
        frame_rate=decoded.frame_rate,
    )
    return SampledVideo(
        video=video,
        num_frames=n,
        flow_pairs=len(decoded.flow),
        decode_seconds=seconds + decoded.seconds - decoded.flow_seconds,
        flow_seconds=decoded.flow_seconds,
        previews=_previews(decoded),
    )
