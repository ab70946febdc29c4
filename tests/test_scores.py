"""Tests of the scores.npz format: VideoScores, save and load."""

import dataclasses
import io

import numpy as np
import pytest

from evaluation import scores as scores_lib
from evaluation.scores import VideoScores


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
