"""Tests of the library entry points of eval.py on hand-made score files."""

import dataclasses
import json

import keras
import numpy as np
import pytest
from conftest import tiny_eval_config

import models
from evaluation import aggregation, evaluate, scores
from evaluation.scores import VideoScores
from tfrecords import testdata


def _scores(matrix, stream):
    return VideoScores(
        video_ids=np.array(["v_a", "v_b", "v_c", "v_d"]),
        labels=np.array([1, 0, 1, 2], np.int32),
        class_names=np.array(["Zero", "One", "Two"]),
        scores=np.array(matrix, np.float32),
        subset="test",
        stream=stream,
        num_samples=2,
        num_crops=1,
        checkpoint=f"{stream}/ckpt-1",
        step=1,
    )


# The matrices of test_fusion.py: average and weighted 1:1.5 differ on v_a.
SPATIAL_SCORES = _scores(
    [[0.85, 0.15, 0.00], [0.70, 0.20, 0.10], [0.10, 0.30, 0.60], [0.20, 0.20, 0.60]], "spatial"
)
TEMPORAL_SCORES = _scores(
    [[0.15, 0.75, 0.10], [0.60, 0.30, 0.10], [0.30, 0.40, 0.30], [0.50, 0.10, 0.40]], "temporal"
)


def test_row_names_disambiguate_repeated_streams():
    assert evaluate.row_names(["spatial", "temporal"]) == ["Spatial", "Temporal"]
    assert evaluate.row_names(["spatial", "spatial"]) == ["Spatial #1", "Spatial #2"]


def test_fuse_files_writes_reports_and_table(tmp_path):
    paths = [str(tmp_path / "s.npz"), str(tmp_path / "t.npz")]
    scores.save_scores(paths[0], SPATIAL_SCORES)
    scores.save_scores(paths[1], TEMPORAL_SCORES)
    out = tmp_path / "fused"
    result, table = evaluate.fuse_files(paths, str(out), "weighted", [1, 1.5])
    assert table.splitlines()[2:] == [
        "| Spatial | 50.0% | 100.0% | 66.7% | 4 |",
        "| Temporal | 75.0% | 100.0% | 66.7% | 4 |",
        "| Fused (weighted 1:1.5) | 75.0% | 100.0% | 83.3% | 4 |",
    ]
    written = json.loads((out / "metrics.json").read_text())
    assert written == result
    assert written["top1"] == 0.75 and written["stream"] == "fused"
    assert written["fusion"] == "weighted" and written["fusion_weights"] == [1, 1.5]
    assert [i["top1"] for i in written["inputs"]] == [0.5, 0.75]
    assert written["num_views_per_video"] == 2
    fused = scores.load_scores(str(out / "scores.npz"))
    np.testing.assert_allclose(fused.scores[0], [0.43, 0.51, 0.06], rtol=1e-6)
    results = (out / "results.md").read_text()
    assert "| Fused (weighted 1:1.5) | 75.0%" in results and "s.npz" in results
    assert (out / "confusion.png").stat().st_size > 0


def test_fuse_files_names_unreadable_file(tmp_path):
    path = str(tmp_path / "s.npz")
    scores.save_scores(path, SPATIAL_SCORES)
    with pytest.raises(ValueError, match="nothere.npz: not found"):
        evaluate.fuse_files([path, str(tmp_path / "nothere.npz")], str(tmp_path), "average")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Test videos of 3 classes with 5..9 frames (short ones loop) and varied pixels."""
    rng = np.random.default_rng(0)

    def video(index, label, subset):
        count = 5 + index
        rgb = [testdata.encode_jpeg(rng.integers(0, 256, (24, 32, 3))) for _ in range(count)]
        flow = [testdata.encode_jpeg(rng.integers(0, 256, (24, 32))) for _ in range(count - 1)]
        return testdata.make_video(f"v_{subset}_{index}", label, rgb, flow, flow, (24, 32))

    path = str(tmp_path_factory.mktemp("data"))
    testdata.write_data_dir(
        path,
        {"test": [video(i, i % 3, "test") for i in range(5)]},
        num_classes=3,
        num_shards=2,
    )
    return path


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_evaluate_model_scores_every_video_once_with_all_views(data_dir, tmp_path, stream):
    config = tiny_eval_config(stream)
    keras.utils.set_random_seed(0)
    model = models.build_model(config, 3)
    out = tmp_path / "eval"
    result = evaluate.evaluate_model(
        model, config, data_dir, "test", str(out), "W/checkpoints/ckpt-7", 7, keep_view_scores=True
    )
    written = scores.load_scores(str(out / "scores.npz"))
    assert written.video_ids.tolist() == [f"v_test_{i}" for i in range(5)]
    assert written.labels.tolist() == [0, 1, 2, 0, 1]
    assert written.view_scores.shape == (5, 30, 3)  # K x crops views, by view index
    assert written.num_views_per_video == 30 and written.stream == stream
    np.testing.assert_allclose(written.view_scores.mean(axis=1), written.scores, rtol=1e-5)
    assert result["num_videos"] == 5 and result["num_views_per_video"] == 30
    assert result["checkpoint"] == "W/checkpoints/ckpt-7" and result["step"] == 7
    assert written.checkpoint == "W/checkpoints/ckpt-7" and written.step == 7
    assert result["num_videos_failed"] == 0
    for name in ("metrics.json", "confusion.png", "results.md"):
        assert (out / name).exists()
    # Inference mode: the dropout model gives identical scores on a second run.
    evaluate.evaluate_model(model, config, data_dir, "test", str(tmp_path / "again"), "c", 1)
    again = scores.load_scores(str(tmp_path / "again" / "scores.npz"))
    np.testing.assert_array_equal(again.scores, written.scores)


def test_vote_aggregation_is_recorded_in_scores_and_reports(data_dir, tmp_path):
    config = tiny_eval_config("spatial")
    keras.utils.set_random_seed(0)
    model = models.build_model(config, 3)
    out = tmp_path / "vote"
    result = evaluate.evaluate_model(
        model,
        config,
        data_dir,
        "test",
        str(out),
        "c",
        1,
        keep_view_scores=True,
        view_aggregation="vote",
    )
    written = scores.load_scores(str(out / "scores.npz"))
    views = written.view_scores
    votes = np.eye(3)[views.argmax(axis=2)].sum(axis=1)
    expected = aggregation.vote_scores(votes, views.mean(axis=1))
    np.testing.assert_allclose(written.scores, expected, rtol=1e-5)
    assert written.view_aggregation == "vote" and result["view_aggregation"] == "vote"
    assert json.loads((out / "metrics.json").read_text())["view_aggregation"] == "vote"
    assert "each view votes" in (out / "results.md").read_text()


def test_fuse_files_learned_fits_on_train_files(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(30, dtype=np.int32) % 3
    train = VideoScores(
        video_ids=np.array([f"t{i:02d}" for i in range(30)]),
        labels=labels,
        class_names=np.array(["Zero", "One", "Two"]),
        scores=rng.dirichlet(np.ones(3), size=30).astype(np.float32),  # spatial: noise
        subset="train",
        stream="spatial",
        num_samples=2,
        num_crops=1,
        checkpoint="s",
        step=1,
    )
    informative = (0.2 + 0.6 * np.eye(3)[labels]).astype(np.float32)
    paths = {
        "s": SPATIAL_SCORES,
        "t": TEMPORAL_SCORES,
        "st": train,
        "tt": dataclasses.replace(train, stream="temporal", scores=informative),
    }
    for name, value in paths.items():
        scores.save_scores(str(tmp_path / f"{name}.npz"), value)
    path = {name: str(tmp_path / f"{name}.npz") for name in paths}
    result, table = evaluate.fuse_files(
        [path["s"], path["t"]],
        str(tmp_path / "out"),
        "learned",
        train_score_paths=[path["st"], path["tt"]],
    )
    # The classifier follows the temporal stream: arg-maxes [1, 0, 1, 0] -> 3 of 4 right.
    assert result["top1"] == 0.75 and result["train_inputs"] == [path["st"], path["tt"]]
    assert "| Fused (learned) | 75.0%" in table
    assert "fit on the training subset" in (tmp_path / "out" / "results.md").read_text()
