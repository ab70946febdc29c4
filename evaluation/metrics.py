"""Video-level metrics from per-video score matrices, computed with scikit-learn.

- top-1: fraction of videos whose arg-max score is the label.
- top-5: fraction of videos whose label is among the 5 highest scores (1.0 by definition
  when there are at most 5 classes).
- mean-class accuracy (as TSN reports it): the mean over classes of per-class recall
  (correct videos of the class / videos of the class). Classes without any evaluated video
  have no recall and are excluded from the mean; `classes_without_videos` lists them.
- loss (`cross_entropy`, what `eval.py --watch` plots): the mean of -ln(score of the label).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as sk_metrics


def predictions(scores: np.ndarray) -> np.ndarray:
    """Arg-max class of every video: scores [V, C] -> int64 [V] (lowest index on ties)."""
    return np.argmax(scores, axis=1)


def top_k_accuracy(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Fraction of videos whose label is among their `k` highest scores.

    Args:
      labels: int [V], 0-based.
      scores: float [V, C].
      k: at least 1; k=1 is the arg-max accuracy.

    Raises:
      ValueError: k < 1 or no videos.
    """
    if k < 1:
        raise ValueError(f"k={k}: must be at least 1")
    if len(labels) == 0:
        raise ValueError("no videos to score")
    num_classes = scores.shape[1]
    if k == 1:
        return float(sk_metrics.accuracy_score(labels, predictions(scores)))
    if k >= num_classes:
        return 1.0
    return float(
        sk_metrics.top_k_accuracy_score(labels, scores, k=k, labels=np.arange(num_classes))
    )


def confusion(labels: np.ndarray, scores: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion counts: int64 [C, C], row = true class, column = arg-max prediction."""
    return sk_metrics.confusion_matrix(
        labels, predictions(scores), labels=np.arange(num_classes)
    ).astype(np.int64)


def mean_class_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean over the classes present in `labels` of per-class recall (see module docstring)."""
    with warnings.catch_warnings():
        # Predictions of classes without videos are errors of the true class; sklearn warns.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(sk_metrics.balanced_accuracy_score(labels, predictions(scores)))


def cross_entropy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean over videos of -ln(score of the true class): labels int [V], scores float [V, C].

    Scores are floored at 1e-7: a 0 would make one confidently wrong video infinite.

    Raises:
      ValueError: no videos.
    """
    if len(labels) == 0:
        raise ValueError("no videos to score")
    true = np.asarray(scores, np.float64)[np.arange(len(labels)), labels]
    return float(np.mean(-np.log(np.maximum(true, 1e-7))))


def compute_metrics(
    labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str]
) -> dict[str, object]:
    """All video-level metrics of one score matrix, JSON-serializable.

    Args:
      labels: int [V], 0-based.
      scores: float [V, C] with C = len(class_names).
      class_names: class names in label order.

    Returns:
      A dict with `top1`, `top5`, `mean_class_accuracy`, `num_videos`, `num_classes`,
      `classes_without_videos` (names), `per_class_accuracy` (name -> recall, None without
      videos) and `per_class_videos` (name -> count).

    Raises:
      ValueError: no videos, or scores whose width differs from the number of class names.
    """
    num_classes = len(class_names)
    if scores.ndim != 2 or scores.shape[1] != num_classes:
        raise ValueError(f"scores of shape {scores.shape} for {num_classes} class names")
    counts = confusion(labels, scores, num_classes)
    per_class_videos = counts.sum(axis=1)
    per_class = {}
    for index, name in enumerate(class_names):
        total = int(per_class_videos[index])
        per_class[str(name)] = float(counts[index, index] / total) if total else None
    return {
        "top1": top_k_accuracy(labels, scores, 1),
        "top5": top_k_accuracy(labels, scores, 5),
        "mean_class_accuracy": mean_class_accuracy(labels, scores),
        "num_videos": len(labels),
        "num_classes": num_classes,
        "classes_without_videos": [
            str(name) for name, n in zip(class_names, per_class_videos, strict=True) if n == 0
        ],
        "per_class_accuracy": per_class,
        "per_class_videos": {
            str(name): int(n) for name, n in zip(class_names, per_class_videos, strict=True)
        },
    }
