"""Streaming aggregation of per-view softmax scores into one score per video.

A video's views are aggregated one of two ways (`VIEW_AGGREGATIONS`, `eval.py
--view_aggregation`): 'mean' (the default) averages their probabilities; 'vote' is the share
of the views whose arg-max is each class, ties broken by the mean: `vote_scores`.
`aggregate_views` runs a model over an eval dataset in one pass, in any order of videos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf
import tqdm

from evaluation import DEFAULT_VIEW_AGGREGATION as DEFAULT_VIEW_AGGREGATION
from evaluation import VIEW_AGGREGATIONS
from input_pipeline import samples
from tfrecords.errors import UserError

# A row of probabilities sums to 1 up to float32 rounding over C classes.
_PROBABILITY_SUM_TOLERANCE = 1e-3


class AggregationError(UserError):
    """The eval dataset broke the one-pass, K x crops views per video contract."""


def check_view_aggregation(view_aggregation: str) -> None:
    """Raises AggregationError if `view_aggregation` is not one of VIEW_AGGREGATIONS."""
    if view_aggregation not in VIEW_AGGREGATIONS:
        raise AggregationError(
            f"view aggregation {view_aggregation!r}: use one of {VIEW_AGGREGATIONS}"
        )


def vote_scores(votes: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """A video's vote: `(votes + mean) / (views + 1)`, a distribution over classes.

    As if the mean joined the views as one more, fractional voter: a class with more votes
    scores higher whatever the means (a vote outweighs any mean below 1), classes with as many
    votes are ordered by their mean score, and the row sums to 1.

    Args:
      votes: [..., C] views whose arg-max is each class (a row sums to the number of views).
      mean: [..., C] the views' mean probabilities.

    Returns:
      float64 [..., C].
    """
    votes = np.asarray(votes, np.float64)
    return (votes + mean) / (votes.sum(axis=-1, keepdims=True) + 1.0)


def _check_probabilities(probabilities: np.ndarray, batch_size: int, num_classes: int) -> None:
    if probabilities.shape != (batch_size, num_classes):
        raise AggregationError(
            f"the model returned shape {probabilities.shape} for a batch of {batch_size}; "
            f"expected ({batch_size}, {num_classes}) (one probability per class of the manifest)"
        )
    sums = probabilities.sum(axis=1)
    if not np.all(np.isfinite(probabilities)) or np.any(
        np.abs(sums - 1.0) > _PROBABILITY_SUM_TOLERANCE
    ):
        raise AggregationError(
            f"the model's outputs are not probabilities (row sums {sums.min():.4f}.."
            f"{sums.max():.4f}); the model must end in a softmax"
        )


class _Aggregator:
    """Running per-video sums over a stream of views, in any order across videos."""

    def __init__(
        self,
        num_classes: int,
        num_views: int,
        keep_view_scores: bool,
        bar: tqdm.tqdm,
        view_aggregation: str = DEFAULT_VIEW_AGGREGATION,
    ):
        self._num_classes = num_classes
        self._num_views = num_views
        self._keep = keep_view_scores
        self._bar = bar
        self._vote = view_aggregation == "vote"
        # video id -> (label, video scores [C], view scores [num_views, C] or None)
        self.finished: dict[str, tuple[int, np.ndarray, np.ndarray | None]] = {}
        # video id -> (label, sums [C], votes [C], views seen [num_views], view scores or None)
        self._open: dict[
            str, tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]
        ] = {}

    def close(self) -> None:
        """Checks that every video that started got all its views.

        Raises:
          AggregationError: naming the first incomplete video.
        """
        for video_id, (_, _, _, seen, _) in sorted(self._open.items()):
            raise AggregationError(
                f"video {video_id}: {int(seen.sum())} views, expected {self._num_views} "
                "(K x crops); the eval dataset must yield every view of a video exactly once"
            )

    def add(self, video_id: str, label: int, view: int, row: np.ndarray) -> None:
        """Adds one view's probabilities [C]; a video is finished with its last view."""
        if video_id in self.finished:
            raise AggregationError(
                f"video {video_id}: a view after all {self._num_views} were seen; each view "
                "must come once in one pass"
            )
        if video_id not in self._open:
            views = (
                np.zeros((self._num_views, self._num_classes), np.float32) if self._keep else None
            )
            self._open[video_id] = (
                label,
                np.zeros(self._num_classes, np.float64),
                np.zeros(self._num_classes, np.int64),
                np.zeros(self._num_views, bool),
                views,
            )
        first_label, total, votes, seen, views = self._open[video_id]
        if label != first_label:
            raise AggregationError(f"video {video_id}: label {label} after label {first_label}")
        if not 0 <= view < self._num_views or seen[view]:
            raise AggregationError(
                f"video {video_id}: view {view} repeated or outside [0, {self._num_views})"
            )
        seen[view] = True
        total += row
        votes[np.argmax(row)] += 1
        if views is not None:
            views[view] = row
        if seen.all():
            del self._open[video_id]
            mean = total / self._num_views
            scores = vote_scores(votes, mean) if self._vote else mean
            self.finished[video_id] = (label, scores, views)
            self._bar.update(1)


def aggregate_views(
    predict_fn: Callable[[Mapping[str, object]], tf.Tensor | np.ndarray],
    dataset: Iterable[Mapping[str, object]],
    num_classes: int,
    num_views: int,
    num_videos: int | None = None,
    keep_view_scores: bool = False,
    progress: bool = True,
    view_aggregation: str = DEFAULT_VIEW_AGGREGATION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Aggregates per-view probabilities into per-video scores, streaming over one pass.

    Only the running sums of videos whose views are still coming are held (plus their views'
    scores when kept), never the images: whole-video records give one open video at a time,
    strided RGB chunks a video's views spread over the pass.

    Args:
      predict_fn: a batch -> probabilities [N, num_classes] of its N views, in the order of
        its flattened `samples.VIDEO_ID`, run in inference mode.
      dataset: batches (`input_pipeline.datasets.eval_views`) with `samples.LABEL` (int),
        `samples.VIDEO_ID` (string) and `samples.VIEW` (int) of any shape with N elements
        in all (e.g. [b, V]); each view of each video once.
      num_classes: C.
      num_views: views every video must have (K x crops).
      num_videos: expected number of videos, for the progress bar only.
      keep_view_scores: also return every view's probabilities.
      progress: show a tqdm progress bar over videos.
      view_aggregation: 'mean' of the views' probabilities, or their 'vote' (`vote_scores`).

    Returns:
      (video_ids unicode [V], labels int32 [V], scores float32 [V, C], view_scores float32
      [V, num_views, C] or None), sorted by video id.

    Raises:
      AggregationError: a video with another number of views than `num_views`, a view index
        repeated or outside [0, num_views), a label changing within a video, or model outputs
        that are not [N, C] probabilities.
    """
    if num_views < 1:
        raise ValueError(f"num_views={num_views}: must be at least 1")
    check_view_aggregation(view_aggregation)
    with tqdm.tqdm(total=num_videos, unit="video", desc="eval", disable=not progress) as bar:
        aggregator = _Aggregator(num_classes, num_views, keep_view_scores, bar, view_aggregation)
        for batch in dataset:
            video_ids = [v.decode() for v in np.ravel(batch[samples.VIDEO_ID])]
            probabilities = np.asarray(predict_fn(batch), dtype=np.float32)
            _check_probabilities(probabilities, len(video_ids), num_classes)
            for video_id, label, view, row in zip(
                video_ids,
                np.ravel(batch[samples.LABEL]).tolist(),
                np.ravel(batch[samples.VIEW]).tolist(),
                probabilities,
                strict=True,
            ):
                aggregator.add(video_id, label, view, row)
        aggregator.close()
    finished = aggregator.finished
    ordered = sorted(finished)
    scores = np.array([finished[v][1] for v in ordered], np.float32).reshape(-1, num_classes)
    view_scores = None
    if keep_view_scores:
        view_scores = np.array([finished[v][2] for v in ordered], np.float32).reshape(
            -1, num_views, num_classes
        )
    return (
        np.array(ordered, dtype=np.str_),
        np.array([finished[v][0] for v in ordered], np.int32),
        scores,
        view_scores,
    )
