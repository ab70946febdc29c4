"""Tests of the scores.npz format and of streaming per-view -> per-video aggregation."""

import dataclasses
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

from evaluation import metrics
from evaluation import scores as scores_lib
from evaluation.scores import AggregationError, VideoScores
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
    ids, labels, scores, views = scores_lib.aggregate_views(
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
    _, labels, mean, _ = scores_lib.aggregate_views(_identity, dataset, NUM_CLASSES, 3)
    _, _, vote, _ = scores_lib.aggregate_views(
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
        scores_lib.aggregate_views(_identity, dataset, NUM_CLASSES, 3, view_aggregation="median")


def test_a_vote_outweighs_any_mean():
    """One more vote wins even against a mean of 0 vs 1 - 1e-6 (it cannot be 1: it voted)."""
    scores = scores_lib.vote_scores(np.array([3, 2]), np.array([0.0, 1.0 - 1e-6]))
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
        scores_lib.aggregate_views(_identity, _views_dataset(rows, 2), NUM_CLASSES, 3)


def test_views_of_videos_may_interleave():
    """Strided RGB chunks spread a video's views over the pass: same scores as contiguous."""
    interleaved = [ROWS[3], ROWS[0], ROWS[4], ROWS[1], ROWS[2], ROWS[5]]
    expected = scores_lib.aggregate_views(_identity, _views_dataset(ROWS, 2), NUM_CLASSES, 3)
    got = scores_lib.aggregate_views(_identity, _views_dataset(interleaved, 4), NUM_CLASSES, 3)
    for a, b in zip(expected[:3], got[:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_aggregation_refuses_logits_and_wrong_width():
    logits = [(v, label, view, [2.0, -1.0, 0.5]) for v, label, view, _ in ROWS]
    with pytest.raises(AggregationError, match="must end in a softmax"):
        scores_lib.aggregate_views(_identity, _views_dataset(logits, 2), NUM_CLASSES, 3)
    with pytest.raises(AggregationError, match=r"expected \(2, 4\)"):
        scores_lib.aggregate_views(_identity, _views_dataset(ROWS, 2), 4, 3)


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

    first = scores_lib.aggregate_views(predict, dataset, NUM_CLASSES, 4, progress=False)
    second = scores_lib.aggregate_views(predict, dataset, NUM_CLASSES, 4, progress=False)
    np.testing.assert_array_equal(first[2], second[2])
    expected = model(images, training=False).numpy().reshape(2, 4, NUM_CLASSES).mean(axis=1)
    np.testing.assert_allclose(first[2], expected[::-1], rtol=1e-6)  # sorted: v_x, v_y
    training_mode = scores_lib.aggregate_views(
        lambda batch: model(batch["image"], training=True), dataset, NUM_CLASSES, 4, progress=False
    )
    assert not np.allclose(training_mode[2], first[2])  # dropout matters when left on


def _video_scores(**changes):
    base = VideoScores(
        video_ids=np.array(["v_a", "v_b"]),
        labels=np.array([0, 2], np.int32),
        class_names=np.array(["A", "B", "Ü"]),
        scores=np.array([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]], np.float32),
        subset="test",
        stream="spatial",
        num_samples=2,
        num_crops=1,
        checkpoint="/w/ckpt-5",
        step=5,
        view_scores=np.zeros((2, 2, 3), np.float32),
    )
    return dataclasses.replace(base, **changes)


def test_save_load_round_trip_without_pickle(tmp_path):
    path = str(tmp_path / "scores.npz")
    original = _video_scores()
    scores_lib.save_scores(path, original)
    with np.load(path, allow_pickle=False) as npz:
        assert npz["video_ids"].dtype.kind == "U" and npz["class_names"].dtype.kind == "U"
        assert str(npz["subset"]) == "test"
    loaded = scores_lib.load_scores(path)
    for field in dataclasses.fields(VideoScores):
        a, b = getattr(original, field.name), getattr(loaded, field.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert loaded.num_views_per_video == 2
    scores_lib.save_scores(path, _video_scores(view_scores=None, view_aggregation="vote"))
    loaded = scores_lib.load_scores(path)
    assert loaded.view_scores is None and loaded.view_aggregation == "vote"
    # A file without the key is refused, naming it (format 2 always records it).
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files if key != "view_aggregation"}
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(
        scores_lib.ScoresFileError, match=r"old.npz: missing \['view_aggregation'\]"
    ):
        scores_lib.load_scores(str(tmp_path / "old.npz"))


def test_save_refuses_inconsistent_scores(tmp_path):
    path = str(tmp_path / "scores.npz")
    with pytest.raises(ValueError, match="not sorted and unique"):
        scores_lib.save_scores(path, _video_scores(video_ids=np.array(["v_b", "v_a"])))
    with pytest.raises(ValueError, match=r"shape \(2, 2\), expected \(2 videos, 3 classes\)"):
        scores_lib.save_scores(path, _video_scores(scores=np.zeros((2, 2), np.float32)))
    with pytest.raises(ValueError, match="labels outside"):
        scores_lib.save_scores(path, _video_scores(labels=np.array([0, 3], np.int32)))
    with pytest.raises(ValueError, match="view_scores"):
        scores_lib.save_scores(path, _video_scores(view_scores=np.zeros((2, 3, 3))))


def test_load_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="missing.npz: not found"):
        scores_lib.load_scores(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="garbage.npz: not a scores.npz"):
        scores_lib.load_scores(str(garbage))
    partial = tmp_path / "partial.npz"
    np.savez(partial, scores=np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"partial.npz: missing \['format_version'"):
        scores_lib.load_scores(str(partial))
    pickled = tmp_path / "pickled.npz"
    buffer = io.BytesIO()
    np.savez(buffer, video_ids=np.array([{"a": 1}], dtype=object))
    pickled.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="pickled.npz: not a scores.npz"):
        scores_lib.load_scores(str(pickled))
