"""Tests of the library entry points of eval.py on hand-made score files."""

import json

import numpy as np
import pytest

from evaluation import evaluate, scores
from evaluation.scores import VideoScores


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
