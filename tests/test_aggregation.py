"""Known-answer tests of streaming per-view -> per-video aggregation (mean and vote)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from evaluation import aggregation, metrics
from evaluation.aggregation import AggregationError
from input_pipeline import samples

NUM_CLASSES = 3


def _views_dataset(rows, batch_size):
    """A dataset of the eval_dataset dict form whose 1x1 'images' hold the probabilities.

    Args:
      rows: (video_id, label, view, probabilities [C]) in yield order.
      batch_size: batch size (videos span batches when it does not divide the view count).
    """
    images = np.array([r[3] for r in rows], np.float32).reshape(-1, 1, 1, NUM_CLASSES)
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": images,
            samples.LABEL: np.array([r[1] for r in rows], np.int32),
            samples.VIDEO_ID: np.array([r[0] for r in rows]),
            samples.VIEW: np.array([r[2] for r in rows], np.int32),
        }
    ).batch(batch_size)


def _identity(batch):
    return tf.reshape(batch["image"], [-1, NUM_CLASSES])


# Video v_b comes first in the data; the result is sorted by id.
ROWS = [
    ("v_b", 2, 1, [0.0, 0.0, 1.0]),
    ("v_b", 2, 0, [0.0, 0.5, 0.5]),
    ("v_b", 2, 2, [0.3, 0.0, 0.7]),
    ("v_a", 0, 0, [1.0, 0.0, 0.0]),
    ("v_a", 0, 2, [0.4, 0.6, 0.0]),
    ("v_a", 0, 1, [0.7, 0.1, 0.2]),
]


@pytest.mark.parametrize("batch_size", [1, 2, 4, 6])
def test_aggregation_known_answer_across_batch_boundaries(batch_size):
    ids, labels, scores, views = aggregation.aggregate_views(
        _identity, _views_dataset(ROWS, batch_size), NUM_CLASSES, 3, keep_view_scores=True
    )
    assert ids.tolist() == ["v_a", "v_b"] and ids.dtype.kind == "U"
    assert labels.tolist() == [0, 2]
    np.testing.assert_allclose(scores, [[0.7, 0.7 / 3, 0.2 / 3], [0.1, 0.5 / 3, 2.2 / 3]])
    assert views.shape == (2, 3, NUM_CLASSES)
    np.testing.assert_allclose(views[1, 1], [0.0, 0.0, 1.0])  # stored by view index
    np.testing.assert_allclose(views[0, 2], [0.4, 0.6, 0.0])


# Mean and vote disagree on v_x: two views lean to class 0, one is sure of class 1.
# v_y's views vote 1:1:1; the tie goes to the class with the highest mean, 2.
VOTE_ROWS = [
    ("v_x", 1, 0, [0.6, 0.4, 0.0]),
    ("v_x", 1, 1, [0.6, 0.4, 0.0]),
    ("v_x", 1, 2, [0.0, 1.0, 0.0]),
    ("v_y", 2, 0, [0.5, 0.1, 0.4]),
    ("v_y", 2, 1, [0.1, 0.5, 0.4]),
    ("v_y", 2, 2, [0.2, 0.1, 0.7]),
]


def test_vote_and_mean_known_answer_where_they_disagree():
    dataset = _views_dataset(VOTE_ROWS, 4)
    _, labels, mean, _ = aggregation.aggregate_views(_identity, dataset, NUM_CLASSES, 3)
    _, _, vote, _ = aggregation.aggregate_views(
        _identity, dataset, NUM_CLASSES, 3, view_aggregation="vote"
    )
    np.testing.assert_allclose(mean, [[0.4, 0.6, 0.0], [0.8 / 3, 0.7 / 3, 1.5 / 3]], rtol=1e-6)
    # (votes + mean) / (views + 1): v_x 2:1:0 votes, v_y 1:1:1.
    np.testing.assert_allclose(
        vote, [[0.6, 0.4, 0.0], [(1 + 0.8 / 3) / 4, (1 + 0.7 / 3) / 4, (1 + 1.5 / 3) / 4]]
    )
    np.testing.assert_allclose(vote.sum(axis=1), 1.0, rtol=1e-6)
    assert metrics.predictions(mean).tolist() == [1, 2]
    assert metrics.predictions(vote).tolist() == [0, 2]  # v_x: the majority, not the mean
    assert metrics.top_k_accuracy(labels, mean, 1) == 1.0
    assert metrics.top_k_accuracy(labels, vote, 1) == 0.5
    with pytest.raises(AggregationError, match="view aggregation .median."):
        aggregation.aggregate_views(_identity, dataset, NUM_CLASSES, 3, view_aggregation="median")


def test_a_vote_outweighs_any_mean():
    """One more vote wins even against a mean of 0 vs 1 - 1e-6 (it cannot be 1: it voted)."""
    scores = aggregation.vote_scores(np.array([3, 2]), np.array([0.0, 1.0 - 1e-6]))
    assert scores[0] > scores[1] and scores.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (ROWS[:5], r"v_a: 2 views, expected 3"),
        (ROWS[1:], r"v_b: 2 views, expected 3"),
        ([*ROWS[:2], ROWS[1], *ROWS[3:]], r"v_b: view 0 repeated"),
        ([ROWS[0], ("v_b", 2, 3, [1.0, 0.0, 0.0]), *ROWS[1:]], r"view 3 repeated or outside"),
        ([*ROWS, ROWS[0]], r"v_b: a view after all 3 were seen"),
        ([*ROWS[:5], ("v_a", 1, 1, [0.7, 0.1, 0.2])], r"v_a: label 1 after label 0"),
    ],
)
def test_aggregation_refuses_broken_view_streams(rows, message):
    with pytest.raises(AggregationError, match=message):
        aggregation.aggregate_views(_identity, _views_dataset(rows, 2), NUM_CLASSES, 3)


def test_views_of_videos_may_interleave():
    """Strided RGB chunks spread a video's views over the pass: same scores as contiguous."""
    interleaved = [ROWS[3], ROWS[0], ROWS[4], ROWS[1], ROWS[2], ROWS[5]]
    expected = aggregation.aggregate_views(_identity, _views_dataset(ROWS, 2), NUM_CLASSES, 3)
    got = aggregation.aggregate_views(_identity, _views_dataset(interleaved, 4), NUM_CLASSES, 3)
    for a, b in zip(expected[:3], got[:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_aggregation_refuses_logits_and_wrong_width():
    logits = [(v, label, view, [2.0, -1.0, 0.5]) for v, label, view, _ in ROWS]
    with pytest.raises(AggregationError, match="must end in a softmax"):
        aggregation.aggregate_views(_identity, _views_dataset(logits, 2), NUM_CLASSES, 3)
    with pytest.raises(AggregationError, match=r"expected \(2, 4\)"):
        aggregation.aggregate_views(_identity, _views_dataset(ROWS, 2), 4, 3)


def _dropout_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dropout(0.9)(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_aggregation_of_a_dropout_model_in_inference_mode_is_repeatable():
    model = _dropout_model()
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 4, 4, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(
        {
            "image": images,
            samples.LABEL: np.repeat([1, 0], 4).astype(np.int32),
            samples.VIDEO_ID: np.repeat(["v_y", "v_x"], 4),
            samples.VIEW: np.tile(np.arange(4), 2).astype(np.int32),
        }
    ).batch(3)

    def predict(batch):
        return model(batch["image"], training=False)

    first = aggregation.aggregate_views(predict, dataset, NUM_CLASSES, 4, progress=False)
    second = aggregation.aggregate_views(predict, dataset, NUM_CLASSES, 4, progress=False)
    np.testing.assert_array_equal(first[2], second[2])
    expected = model(images, training=False).numpy().reshape(2, 4, NUM_CLASSES).mean(axis=1)
    np.testing.assert_allclose(first[2], expected[::-1], rtol=1e-6)  # sorted: v_x, v_y
    training_mode = aggregation.aggregate_views(
        lambda batch: model(batch["image"], training=True), dataset, NUM_CLASSES, 4, progress=False
    )
    assert not np.allclose(training_mode[2], first[2])  # dropout matters when left on
