"""Known-answer tests of the video-level metrics on hand-made score matrices."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from evaluation import metrics

# Scores of 4 videos over 7 classes: a descending ramp puts class 0 first ... class 6 last.
RAMP = np.array([7, 6, 5, 4, 3, 2, 1], np.float64) / 28.0
SCORES = np.stack(
    [
        RAMP,  # label 0 at rank 1: top-1 and top-5 hit
        RAMP,  # label 4 at rank 5: top-5 hit only
        RAMP,  # label 5 at rank 6: miss
        np.roll(RAMP, 1),  # label 0 at rank 7 (class 1 first): miss
    ]
)
LABELS = np.array([0, 4, 5, 0])
NAMES = [f"class{i}" for i in range(7)]


def test_top_k_by_hand():
    assert metrics.top_k_accuracy(LABELS, SCORES, 1) == pytest.approx(1 / 4)
    assert metrics.top_k_accuracy(LABELS, SCORES, 5) == pytest.approx(2 / 4)
    assert metrics.top_k_accuracy(LABELS, SCORES, 7) == 1.0


def test_top1_is_argmax_accuracy_with_lowest_index_on_ties():
    scores = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])
    assert metrics.top_k_accuracy(np.array([0, 2]), scores, 1) == 0.5


def test_mean_class_accuracy_by_hand_excludes_classes_without_videos():
    # Per-class recall: class 0 -> 1/2, class 4 -> 0, class 5 -> 0; classes 1,2,3,6 have no
    # videos and are excluded: (0.5 + 0 + 0) / 3.
    assert metrics.mean_class_accuracy(LABELS, SCORES) == pytest.approx(1 / 6)
    result = metrics.compute_metrics(LABELS, SCORES, NAMES)
    assert result["top1"] == pytest.approx(0.25)
    assert result["top5"] == pytest.approx(0.5)
    assert result["mean_class_accuracy"] == pytest.approx(1 / 6)
    assert result["num_videos"] == 4 and result["num_classes"] == 7
    assert result["classes_without_videos"] == ["class1", "class2", "class3", "class6"]
    assert result["per_class_accuracy"]["class0"] == 0.5
    assert result["per_class_accuracy"]["class4"] == 0.0
    assert result["per_class_accuracy"]["class1"] is None
    assert result["per_class_videos"] == {
        "class0": 2,
        "class1": 0,
        "class2": 0,
        "class3": 0,
        "class4": 1,
        "class5": 1,
        "class6": 0,
    }


def test_mean_class_matches_tsn_formula_on_random_scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=200)
    scores = rng.random((200, 10))
    scores[np.arange(200), labels] += 0.3
    cf = confusion_matrix(labels, scores.argmax(1))
    tsn = np.mean(np.diag(cf) / cf.sum(axis=1))  # TSN's test_models.py
    assert metrics.mean_class_accuracy(labels, scores) == pytest.approx(tsn)


def test_top5_with_few_classes_is_one():
    scores = np.array([[0.1, 0.2, 0.3, 0.4]])
    assert metrics.top_k_accuracy(np.array([0]), scores, 5) == 1.0


def test_confusion_counts_rows_true_columns_predicted():
    counts = metrics.confusion(LABELS, SCORES, 7)
    assert counts.shape == (7, 7)
    assert counts[0, 0] == 1 and counts[0, 1] == 1 and counts[4, 0] == 1 and counts[5, 0] == 1
    assert counts.sum() == 4


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="k=0"):
        metrics.top_k_accuracy(LABELS, SCORES, 0)
    with pytest.raises(ValueError, match="no videos"):
        metrics.top_k_accuracy(np.array([], int), np.zeros((0, 7)), 1)
    with pytest.raises(ValueError, match="class names"):
        metrics.compute_metrics(LABELS, SCORES, NAMES[:3])


def test_cross_entropy_by_hand_floors_zero_scores():
    labels = np.array([0, 1])
    scores = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert metrics.cross_entropy(labels, scores) == pytest.approx((np.log(2) + np.log(10)) / 2)
    assert metrics.cross_entropy(np.array([1]), np.array([[1.0, 0.0]])) == pytest.approx(
        -np.log(1e-7)
    )
    with pytest.raises(ValueError, match="no videos"):
        metrics.cross_entropy(np.array([], int), np.zeros((0, 2)))
