"""Known-answer tests of late fusion on hand-made score matrices."""

import dataclasses

import numpy as np
import pytest

from evaluation import fusion, metrics
from evaluation.scores import FUSED_STEP, VideoScores

IDS = np.array(["v_a", "v_b", "v_c", "v_d"])
LABELS = np.array([1, 0, 1, 2], np.int32)
NAMES = np.array(["Zero", "One", "Two"])
SPATIAL = np.array([[0.85, 0.15, 0.00], [0.70, 0.20, 0.10], [0.10, 0.30, 0.60], [0.20, 0.20, 0.60]])
TEMPORAL = np.array(
    [[0.15, 0.75, 0.10], [0.60, 0.30, 0.10], [0.30, 0.40, 0.30], [0.50, 0.10, 0.40]]
)


def _scores(matrix, stream, subset="test", ids=IDS, labels=LABELS, names=NAMES):
    return VideoScores(
        video_ids=ids,
        labels=labels,
        class_names=names,
        scores=matrix.astype(np.float32),
        subset=subset,
        stream=stream,
        num_samples=2,
        num_crops=1,
        checkpoint=f"{stream}/ckpt-1",
        step=1,
    )


SPATIAL_SCORES = _scores(SPATIAL, "spatial")
TEMPORAL_SCORES = _scores(TEMPORAL, "temporal")
INPUTS = [("s.npz", SPATIAL_SCORES), ("t.npz", TEMPORAL_SCORES)]


def test_average_by_hand():
    fused = fusion.average([SPATIAL, TEMPORAL])
    np.testing.assert_allclose(fused[0], [0.50, 0.45, 0.05])
    np.testing.assert_allclose(fused[3], [0.35, 0.15, 0.50])
    # Arg-maxes by hand: [0, 0, 2, 2] -> v_b and v_d right.
    assert list(metrics.predictions(fused)) == [0, 0, 2, 2]
    assert metrics.top_k_accuracy(LABELS, fused, 1) == 0.5
    assert metrics.top_k_accuracy(LABELS, fused, 2) == 1.0
    # Recall per class: 1/1, 0/2, 1/1.
    assert metrics.mean_class_accuracy(LABELS, fused) == pytest.approx(2 / 3)


def test_weighted_by_hand_changes_the_argmax_of_v_a():
    fused = fusion.weighted([SPATIAL, TEMPORAL], [1, 1.5])  # weights 0.4, 0.6
    np.testing.assert_allclose(fused[0], [0.43, 0.51, 0.06])
    np.testing.assert_allclose(fused[2], [0.22, 0.36, 0.42])
    assert list(metrics.predictions(fused)) == [1, 0, 2, 2]
    assert metrics.top_k_accuracy(LABELS, fused, 1) == 0.75
    # Recall per class: 1/1, 1/2, 1/1.
    assert metrics.mean_class_accuracy(LABELS, fused) == pytest.approx(5 / 6)


def test_fuse_returns_fused_video_scores():
    fused = fusion.fuse(INPUTS, "weighted", [1, 1.5])
    assert fused.stream == "fused" and fused.subset == "test"
    np.testing.assert_array_equal(fused.video_ids, IDS)
    np.testing.assert_allclose(fused.scores[0], [0.43, 0.51, 0.06], rtol=1e-6)
    assert fused.checkpoint == "spatial: spatial/ckpt-1; temporal: temporal/ckpt-1"
    assert fused.step == FUSED_STEP  # each input's step is in the fusion's metrics.json
    assert fusion.fuse(INPUTS, "average").scores[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"video_ids": np.array(["v_a", "v_b", "v_c", "v_e"])}, "different videos"),
        ({"labels": np.array([1, 0, 2, 2], np.int32)}, "disagree on the labels"),
        ({"class_names": np.array(["Zero", "Two", "One"])}, "different class lists"),
        ({"subset": "train"}, "subsets"),
        ({"num_samples": 25}, "views per video"),
        ({"view_aggregation": "vote"}, "aggregate views differently"),
    ],
)
def test_mismatched_inputs_are_refused(change, message):
    other = dataclasses.replace(TEMPORAL_SCORES, **change)
    with pytest.raises(fusion.FusionError, match=message) as error:
        fusion.fuse([("s.npz", SPATIAL_SCORES), ("t.npz", other)], "average")
    assert "t.npz" in str(error.value) and "s.npz" in str(error.value)


def test_fewer_ids_named_in_message():
    other = dataclasses.replace(
        TEMPORAL_SCORES, video_ids=IDS[:3], labels=LABELS[:3], scores=TEMPORAL[:3]
    )
    with pytest.raises(
        fusion.FusionError, match=r"3 vs 4; 0 only in t.npz.*1 only in s.npz \(e.g. \[.v_d.\]\)"
    ):
        fusion.check_compatible([("s.npz", SPATIAL_SCORES), ("t.npz", other)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "max"}, r"^fusion method 'max': must be one of \('average', "),
        ({"method": "weighted"}, r"^weighted fusion needs weights, one per score file \(2\)"),
        (
            {"method": "weighted", "weights": [1, 2, 3]},
            r"^fusion weights \[1, 2, 3\]: 3 values for 2",
        ),
        ({"method": "weighted", "weights": [1, -1]}, r"^fusion weights \[1, -1\]: must be >= 0"),
        (
            {"method": "average", "weights": [1, 2]},
            r"^fusion weights \[1, 2\]: only used by weighted fusion, not average",
        ),
        (
            {"method": "average", "train_inputs": INPUTS},
            r"^training score files \['s.npz', 't.npz'\]: only used by learned fusion",
        ),
        (
            {"method": "learned"},
            "^learned fusion needs training-subset score files, one per stream",
        ),
    ],
)
def test_bad_fusion_arguments(kwargs, message):
    with pytest.raises(fusion.FusionError, match=message):
        fusion.fuse(INPUTS, **kwargs)
    with pytest.raises(fusion.FusionError, match="at least two"):
        fusion.fuse(INPUTS[:1], "average")


def _train_scores(rng, noise_stream):
    """Training scores where stream `noise_stream` is noise and the other one is right."""
    labels = np.repeat(np.arange(3), 20).astype(np.int32)
    ids = np.array([f"v_train_{i:03d}" for i in range(60)])
    right = np.full((60, 3), 0.2) + 0.6 * np.eye(3)[labels]
    noise = rng.dirichlet(np.ones(3), size=60)
    spatial = noise if noise_stream == "spatial" else right
    temporal = right if noise_stream == "spatial" else noise
    return [
        ("st.npz", _scores(spatial, "spatial", "train", ids, labels)),
        ("tt.npz", _scores(temporal, "temporal", "train", ids, labels)),
    ]


def test_learned_fusion_fits_on_train_and_follows_the_informative_stream():
    rng = np.random.default_rng(0)
    # Spatial is noise on train: the classifier learns to follow the temporal stream, whose
    # test arg-maxes are [1, 0, 1, 0].
    fused = fusion.fuse(INPUTS, "learned", train_inputs=_train_scores(rng, "spatial"))
    assert fused.scores.shape == (4, 3)
    np.testing.assert_allclose(fused.scores.sum(axis=1), 1.0, rtol=1e-5)
    assert list(metrics.predictions(fused.scores)) == list(TEMPORAL.argmax(axis=1))
    # Temporal is noise on train: it follows spatial, arg-maxes [0, 0, 2, 2].
    fused = fusion.fuse(INPUTS, "learned", train_inputs=_train_scores(rng, "temporal"))
    assert list(metrics.predictions(fused.scores)) == list(SPATIAL.argmax(axis=1))


def test_learned_fusion_refuses_test_scores_as_training_data():
    with pytest.raises(fusion.FusionError, match="never on test"):
        fusion.fuse(INPUTS, "learned", train_inputs=INPUTS)
    train = _train_scores(np.random.default_rng(0), "spatial")
    relabelled = [(n, dataclasses.replace(s, subset="test")) for n, s in train]
    with pytest.raises(fusion.FusionError, match="^spatial training scores: a 'test' score file"):
        fusion.fuse(INPUTS, "learned", train_inputs=relabelled)


def test_learned_fusion_refuses_shared_videos_and_swapped_streams():
    train = _train_scores(np.random.default_rng(0), "spatial")
    with pytest.raises(
        fusion.FusionError,
        match=r"streams \['temporal', 'spatial'\] are not in the order of the evaluated streams "
        r"\['spatial', 'temporal'\]",
    ):
        fusion.fuse(INPUTS, "learned", train_inputs=train[::-1])
    evaluated = [
        (n, dataclasses.replace(s, subset="train")) for n, s in train
    ]  # same videos as training
    with pytest.raises(fusion.FusionError, match="training and evaluated scores share 60 videos"):
        fusion.fuse(evaluated, "learned", train_inputs=train)
    with pytest.raises(fusion.FusionError, match="^1 training score files for 2 evaluated"):
        fusion.fuse(INPUTS, "learned", train_inputs=train[:1])


def test_learned_fusion_refuses_training_scores_of_one_class():
    ids = np.array([f"v_t{i:02d}" for i in range(4)])
    labels = np.ones(4, np.int32)
    train = [
        (name, _scores(matrix, stream, "train", ids, labels))
        for name, matrix, stream in (
            ("st.npz", SPATIAL, "spatial"),
            ("tt.npz", TEMPORAL, "temporal"),
        )
    ]
    with pytest.raises(
        fusion.FusionError, match=r"^training scores cover only the classes \['One'\]; .* two"
    ):
        fusion.fuse(INPUTS, "learned", train_inputs=train)


def test_learned_fusion_classes_absent_from_training_get_zero():
    labels = np.array([0, 1] * 10, np.int32)
    ids = np.array([f"v_t{i:02d}" for i in range(20)])
    matrix = np.full((20, 3), 0.1) + 0.8 * np.eye(3)[labels]
    train = [
        ("st.npz", _scores(matrix, "spatial", "train", ids, labels)),
        ("tt.npz", _scores(matrix, "temporal", "train", ids, labels)),
    ]
    fused = fusion.fuse(INPUTS, "learned", train_inputs=train)
    np.testing.assert_array_equal(fused.scores[:, 2], 0.0)


def test_features_are_l2_normalised_per_stream():
    features = fusion.fusion_features([np.array([[3.0, 4.0]]), np.array([[0.0, 2.0]])])
    np.testing.assert_allclose(features, [[0.6, 0.8, 0.0, 1.0]])
