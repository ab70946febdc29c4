"""Video-level scores (`VideoScores`) and their file, `scores.npz`.

A video's views make its score as `evaluation.aggregation` computes them: their mean
probability or their vote (`VIEW_AGGREGATIONS`).

`scores.npz` (written by `eval.py`, read by `eval.py --fuse`) holds, without pickle::

    format_version  int64 0-d          SCORES_FORMAT_VERSION
    video_ids       unicode [V]        canonical video ids, sorted, unique
    labels          int32 [V]          0-based class index of each video
    class_names     unicode [C]        class names in label order (from the manifest)
    scores          float32 [V, C]     per-video scores: the mean of the views' probabilities,
                                       or their vote (`aggregation.vote_scores`); each row sums to 1
    subset          unicode 0-d        'train' or 'test': the records that were evaluated
    stream          unicode 0-d        'spatial', 'temporal' or 'fused'
    num_samples     int64 0-d          K: samples (frames or flow stacks) per video
    num_crops       int64 0-d          crops per sample (10 = 4 corners + centre, and flips)
    checkpoint      unicode 0-d        checkpoint path prefix the scores come from (W/checkpoints/
                                       ckpt-N), or for a fusion its inputs' ('spatial: P; ...')
    step            int64 0-d          global step of that checkpoint; FUSED_STEP for a fusion
    view_aggregation unicode 0-d       how `scores` combine a video's views: 'mean' or 'vote'
    view_scores     float32 [V, K*crops, C]   optional: every view's probabilities, by view index

Videos are sorted by id, so two streams' files of the same subset line up row by row.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import tensorflow as tf

from evaluation.aggregation import DEFAULT_VIEW_AGGREGATION, VIEW_AGGREGATIONS
from tfrecords.errors import UserError

SCORES_FORMAT_VERSION = 2
SCORES_FILE = "scores.npz"
# The `step` of fused scores: one per input, recorded in the fusion's metrics.json `inputs`.
FUSED_STEP = -1
_REQUIRED_KEYS = (
    "format_version",
    "video_ids",
    "labels",
    "class_names",
    "scores",
    "subset",
    "stream",
    "num_samples",
    "num_crops",
    "checkpoint",
    "step",
    "view_aggregation",
)


class ScoresFileError(UserError):
    """A scores.npz that cannot be read or is inconsistent."""


@dataclasses.dataclass(frozen=True)
class VideoScores:
    """Per-video scores of one stream (or of a fusion) on one subset.

    Attributes:
      video_ids: unicode [V], sorted and unique.
      labels: int32 [V], 0-based class indices.
      class_names: unicode [C], class names in label order.
      scores: float32 [V, C], per-video scores (probabilities averaged over views).
      subset: 'train' or 'test'.
      stream: 'spatial', 'temporal' or 'fused'.
      num_samples: K, samples per video.
      num_crops: crops per sample.
      checkpoint: the checkpoint path prefix the scores come from (for a fusion, its inputs').
      step: the checkpoint's global step (FUSED_STEP for a fusion).
      view_scores: float32 [V, K * crops, C] per-view probabilities by view index, or None.
      view_aggregation: how `scores` combine a video's views, one of VIEW_AGGREGATIONS.
    """

    video_ids: np.ndarray
    labels: np.ndarray
    class_names: np.ndarray
    scores: np.ndarray
    subset: str
    stream: str
    num_samples: int
    num_crops: int
    checkpoint: str
    step: int
    view_scores: np.ndarray | None = None
    view_aggregation: str = DEFAULT_VIEW_AGGREGATION

    @property
    def num_views_per_video(self) -> int:
        """K x crops."""
        return self.num_samples * self.num_crops

    def check(self, source: str) -> None:
        """Checks shapes, dtypes and ordering.

        Args:
          source: file or producer named in error messages.

        Raises:
          ValueError: inconsistent shapes, unsorted or repeated video ids, labels out of range,
            or non-finite scores.
        """
        num_videos, num_classes = len(self.video_ids), len(self.class_names)
        if self.scores.shape != (num_videos, num_classes):
            raise ValueError(
                f"{source}: scores have shape {self.scores.shape}, expected "
                f"({num_videos} videos, {num_classes} classes)"
            )
        if self.labels.shape != (num_videos,):
            raise ValueError(f"{source}: {self.labels.shape[0]} labels for {num_videos} videos")
        if num_videos and (self.labels.min() < 0 or self.labels.max() >= num_classes):
            raise ValueError(f"{source}: labels outside [0, {num_classes})")
        if np.any(self.video_ids[1:] <= self.video_ids[:-1]):
            raise ValueError(f"{source}: video ids are not sorted and unique")
        if not np.all(np.isfinite(self.scores)):
            raise ValueError(f"{source}: scores contain NaN or infinity")
        if self.view_aggregation not in VIEW_AGGREGATIONS:
            raise ValueError(
                f"{source}: view aggregation {self.view_aggregation!r} is not one of "
                f"{VIEW_AGGREGATIONS}"
            )
        views = (num_videos, self.num_views_per_video, num_classes)
        if self.view_scores is not None and self.view_scores.shape != views:
            raise ValueError(
                f"{source}: view_scores have shape {self.view_scores.shape}, expected {views}"
            )


def save_scores(path: str, scores: VideoScores) -> None:
    """Writes `scores` to `path` (any tf.io.gfile path) in the format of the module docstring.

    Raises:
      ValueError: `scores` fails `VideoScores.check`.
    """
    scores.check(path)
    arrays = {
        "format_version": np.int64(SCORES_FORMAT_VERSION),
        "video_ids": np.asarray(scores.video_ids, dtype=np.str_),
        "labels": np.asarray(scores.labels, dtype=np.int32),
        "class_names": np.asarray(scores.class_names, dtype=np.str_),
        "scores": np.asarray(scores.scores, dtype=np.float32),
        "subset": np.str_(scores.subset),
        "stream": np.str_(scores.stream),
        "num_samples": np.int64(scores.num_samples),
        "num_crops": np.int64(scores.num_crops),
        "checkpoint": np.str_(scores.checkpoint),
        "step": np.int64(scores.step),
        "view_aggregation": np.str_(scores.view_aggregation),
    }
    if scores.view_scores is not None:
        arrays["view_scores"] = np.asarray(scores.view_scores, dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    # Temp file + rename: an evaluation killed while writing leaves no partial scores.npz.
    with tf.io.gfile.GFile(path + ".tmp", "wb") as f:
        f.write(buffer.getvalue())
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def load_scores(path: str) -> VideoScores:
    """Reads a `scores.npz` written by `save_scores` (never unpickles).

    Raises:
      ScoresFileError: the file is missing, not an npz, of another format version, lacks a key,
        or fails `VideoScores.check`.
    """
    if not tf.io.gfile.exists(path):
        raise ScoresFileError(f"{path}: not found; write it with `eval.py --workdir=...` first")
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError) as e:
        raise ScoresFileError(f"{path}: not a scores.npz written by eval.py ({e})") from e
    missing = [key for key in _REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ScoresFileError(f"{path}: missing {missing}; re-run eval.py to rewrite it")
    if int(arrays["format_version"]) != SCORES_FORMAT_VERSION:
        raise ScoresFileError(
            f"{path}: format version {int(arrays['format_version'])}, this code reads "
            f"{SCORES_FORMAT_VERSION}; re-run eval.py to rewrite it"
        )
    scores = VideoScores(
        video_ids=arrays["video_ids"],
        labels=arrays["labels"].astype(np.int32),
        class_names=arrays["class_names"],
        scores=arrays["scores"],
        subset=str(arrays["subset"]),
        stream=str(arrays["stream"]),
        num_samples=int(arrays["num_samples"]),
        num_crops=int(arrays["num_crops"]),
        checkpoint=str(arrays["checkpoint"]),
        step=int(arrays["step"]),
        view_scores=arrays.get("view_scores"),
        view_aggregation=str(arrays["view_aggregation"]),
    )
    try:
        scores.check(path)
    except ValueError as e:
        raise ScoresFileError(str(e)) from e
    return scores
