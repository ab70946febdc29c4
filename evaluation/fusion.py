"""Late fusion of per-video stream scores (`eval.py --fuse`).

Methods:
- `average`: the mean of the streams' per-video probabilities (the seed, Simonyan's "avg").
- `weighted`: `sum_i w_i s_i / sum_i w_i` (TSN weights spatial:temporal = 1:1.5).
- `learned`: a multinomial logistic regression on the concatenated, per-stream L2-normalised
  scores (Simonyan's SVM fusion, with a linear classifier that yields probabilities). It is
  fit on scores of the *training* subset (`eval.py --subset=train`) and only applied to the
  evaluated subset; test scores are refused as training data. Note that a stream's scores
  on its own training videos are over-confident, as they were in Simonyan's setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from sklearn import linear_model

from evaluation import FUSION_METHODS
from evaluation.scores import FUSED_STEP, VideoScores
from tfrecords.errors import UserError


class FusionError(UserError):
    """Score files that cannot be fused, or fusion arguments that do not fit them."""


def _id_difference(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> str:
    only_a = sorted(str(v) for v in set(a.tolist()) - set(b.tolist()))
    only_b = sorted(str(v) for v in set(b.tolist()) - set(a.tolist()))
    return (
        f"{len(only_a)} only in {name_a} (e.g. {only_a[:3]}), "
        f"{len(only_b)} only in {name_b} (e.g. {only_b[:3]})"
    )


def check_compatible(named: Sequence[tuple[str, VideoScores]]) -> None:
    """Checks that score files describe the same videos, labels, classes, subset and views.

    Args:
      named: (file name for messages, scores) pairs.

    Raises:
      FusionError: fewer than two inputs, or any pair disagreeing on class names, video ids,
        labels, subset, or views per video. The message names both files.
    """
    if len(named) < 2:
        raise FusionError(f"fusion needs at least two score files, got {len(named)}")
    first_name, first = named[0]
    for name, other in named[1:]:
        pair = f"{name} and {first_name}"
        if not np.array_equal(other.class_names, first.class_names):
            raise FusionError(
                f"{pair} have different class lists ({len(other.class_names)} vs "
                f"{len(first.class_names)} classes); evaluate both streams on data directories "
                "written from the same classInd.txt"
            )
        if not np.array_equal(other.video_ids, first.video_ids):
            raise FusionError(
                f"{pair} cover different videos ({len(other.video_ids)} vs "
                f"{len(first.video_ids)}; "
                f"{_id_difference(name, other.video_ids, first_name, first.video_ids)}); "
                "evaluate both streams on the same split and subset"
            )
        if not np.array_equal(other.labels, first.labels):
            wrong = other.video_ids[other.labels != first.labels].tolist()
            raise FusionError(
                f"{pair} disagree on the labels of {len(wrong)} videos (e.g. {wrong[:3]}); "
                "their data directories were written with different class indices"
            )
        if other.subset != first.subset:
            raise FusionError(f"{pair} are of subsets '{other.subset}' and '{first.subset}'")
        if (other.num_samples, other.num_crops) != (first.num_samples, first.num_crops):
            raise FusionError(
                f"{pair} were evaluated with different views per video ("
                f"{other.num_samples}x{other.num_crops} vs {first.num_samples}x"
                f"{first.num_crops}); use the same config.data.eval_num_samples/eval_num_crops"
            )
        if other.view_aggregation != first.view_aggregation:
            raise FusionError(
                f"{pair} aggregate views differently ('{other.view_aggregation}' vs "
                f"'{first.view_aggregation}'); evaluate both with the same view aggregation "
                "(`eval.py --view_aggregation=...`)"
            )


def average(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of the streams' score matrices: S x [V, C] -> [V, C]."""
    return np.mean(np.stack(scores), axis=0)


def weighted(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted mean `sum_i w_i s_i / sum_i w_i`: S x [V, C] and S weights -> [V, C].

    Raises:
      FusionError: the number of weights is not the number of streams, a weight is negative,
        or all weights are zero.
    """
    if len(weights) != len(scores):
        raise FusionError(
            f"fusion weights {list(weights)}: {len(weights)} values for {len(scores)} score "
            "files; give one weight per score file"
        )
    w = np.asarray(weights, np.float64)
    if np.any(w < 0) or w.sum() <= 0:
        raise FusionError(f"fusion weights {list(weights)}: must be >= 0 and not all zero")
    return np.tensordot(w / w.sum(), np.stack(scores), axes=1)


def fusion_features(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Per-stream L2-normalised scores, concatenated: S x [V, C] -> [V, S*C]."""
    blocks = []
    for block in scores:
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        blocks.append(block / np.maximum(norms, 1e-12))
    return np.concatenate(blocks, axis=1)


def learned(
    train: Sequence[VideoScores],
    evaluated: Sequence[VideoScores],
    regularization: float = 1.0,
) -> np.ndarray:
    """Fits a logistic regression on training-subset scores and scores the evaluated videos.

    Args:
      train: per-stream scores of the training subset (same stream order as `evaluated`).
      evaluated: per-stream scores of the evaluated subset.
      regularization: inverse L2 strength (scikit-learn's `C`).

    Returns:
      float [V, C] class probabilities of the evaluated videos; classes absent from the
      training scores get probability 0.

    Raises:
      FusionError: training scores not of subset 'train', sharing videos with the evaluated
        scores, of another stream order, or with fewer than two classes.
    """
    if len(train) != len(evaluated):
        raise FusionError(f"{len(train)} training score files for {len(evaluated)} streams")
    for fit_on, apply_to in zip(train, evaluated, strict=True):
        if fit_on.subset != "train":
            raise FusionError(
                f"{fit_on.stream} training scores: a '{fit_on.subset}' score file; learned "
                "fusion is fit on the training subset only (write it with "
                "`eval.py --subset=train`), never on test"
            )
        if fit_on.stream != apply_to.stream:
            raise FusionError(
                f"training score streams {[s.stream for s in train]} are not in the order of "
                f"the evaluated streams {[s.stream for s in evaluated]}; list them in the same "
                "order"
            )
    shared = sorted(set(train[0].video_ids.tolist()) & set(evaluated[0].video_ids.tolist()))
    if shared:
        raise FusionError(
            f"training and evaluated scores share {len(shared)} videos (e.g. {shared[:3]}); "
            "fit on the training subset and evaluate on the test subset"
        )
    labels = train[0].labels
    if len(np.unique(labels)) < 2:
        present = [str(train[0].class_names[i]) for i in np.unique(labels)]
        raise FusionError(
            f"training scores cover only the classes {present}; learned fusion needs training "
            "scores of at least two classes"
        )
    classifier = linear_model.LogisticRegression(C=regularization, max_iter=1000)
    classifier.fit(fusion_features([s.scores for s in train]), labels)
    probabilities = classifier.predict_proba(fusion_features([s.scores for s in evaluated]))
    full = np.zeros((len(evaluated[0].video_ids), len(evaluated[0].class_names)))
    full[:, classifier.classes_] = probabilities
    return full


def fuse(
    inputs: Sequence[tuple[str, VideoScores]],
    method: str,
    weights: Sequence[float] = (),
    train_inputs: Sequence[tuple[str, VideoScores]] = (),
) -> VideoScores:
    """Fuses compatible stream scores into one `VideoScores` of stream 'fused'.

    Args:
      inputs: (file name, scores) of the evaluated subset, one per stream.
      method: one of FUSION_METHODS.
      weights: one weight per input for 'weighted'; empty otherwise.
      train_inputs: (file name, scores) of the training subset for 'learned'; empty otherwise.

    Raises:
      FusionError: an unknown method, arguments of another method, or incompatible inputs
        (see `check_compatible`, `weighted`, `learned`).
    """
    if method not in FUSION_METHODS:
        raise FusionError(f"fusion method '{method}': must be one of {FUSION_METHODS}")
    if weights and method != "weighted":
        raise FusionError(
            f"fusion weights {list(weights)}: only used by weighted fusion, not {method}"
        )
    if train_inputs and method != "learned":
        raise FusionError(
            f"training score files {[name for name, _ in train_inputs]}: only used by learned "
            f"fusion, not {method}"
        )
    check_compatible(inputs)
    streams = [scores for _, scores in inputs]
    matrices = [s.scores.astype(np.float64) for s in streams]
    if method == "average":
        fused = average(matrices)
    elif method == "weighted":
        if not weights:
            raise FusionError(
                f"weighted fusion needs weights, one per score file ({len(inputs)}), e.g. 1,1.5"
            )
        fused = weighted(matrices, weights)
    else:
        if not train_inputs:
            raise FusionError(
                "learned fusion needs training-subset score files, one per stream (write "
                "them with `eval.py --subset=train`)"
            )
        if len(train_inputs) != len(inputs):
            raise FusionError(
                f"{len(train_inputs)} training score files for {len(inputs)} evaluated score "
                "files; give one per stream, in the same order"
            )
        check_compatible(train_inputs)
        fused = learned([s for _, s in train_inputs], streams)
    first = streams[0]
    return dataclasses.replace(
        first,
        scores=fused.astype(np.float32),
        stream="fused",
        checkpoint="; ".join(f"{s.stream}: {s.checkpoint}" for s in streams),
        step=FUSED_STEP,
        view_scores=None,
    )
