"""What predict.py does around the Predictor (`evaluation.predict_files`).

On a hand-made Prediction with known scores; the models themselves run in tests/test_predict.py.
"""

import dataclasses
import json

import numpy as np
import pytest

from evaluation import predict_files
from evaluation.predictor import PredictError, Prediction
from optical_flow.video_frames import VideoError

PREDICTION = Prediction(
    video="clips/clip.avi",
    class_names=("A", "B", "C"),
    scores={
        "spatial": np.array([0.2, 0.5, 0.3], np.float32),
        "temporal": np.array([0.6, 0.1, 0.3], np.float32),
        "fused": np.array([0.4, 0.3, 0.3], np.float32),
    },
    frames=40,
    seconds={"decode": 1.234, "flow": 2.5, "model": 0.5},
    flow_algorithm="dis",
    flow_pairs=20,
    num_views={"spatial": 250, "temporal": 250},
)

TABLE = """\
clips/clip.avi: 40 frames; decode 1.23 s, dis flow 2.50 s (20 of 39 pairs), model 0.50 s \
(views: spatial 250, temporal 250)
| # | Spatial | Temporal | Fused |
|---:|---|---|---|
| 1 | B 50.0% | A 60.0% | A 40.0% |
| 2 | C 30.0% | C 30.0% | B 30.0% |"""


def test_format_table_top_k_per_stream_ties_in_label_order():
    assert predict_files.format_table(PREDICTION, top_k=2) == TABLE


def test_sheet_notes_give_the_protocol_the_flow_and_a_warning_when_it_differs():
    same = dataclasses.replace(
        PREDICTION,
        protocol={"spatial": (25, 10), "temporal": (25, 10)},
        trained_flow_algorithm="dis",
    )
    assert predict_files.sheet_notes(same) == (
        ["protocol: 25 samples x 10 crops", "flow: dis"],
        "",
    )
    other = dataclasses.replace(
        same, protocol={"spatial": (25, 10), "temporal": (5, 1)}, trained_flow_algorithm="tvl1"
    )
    assert predict_files.sheet_notes(other) == (
        ["protocol: spatial 25 samples x 10 crops, temporal 5 samples x 1 crops", "flow: dis"],
        "warning: flow computed with dis, the temporal model learnt from tvl1 flow: its scores "
        "differ from eval.py's",
    )


def test_sheet_path_names_one_sheet_per_video_when_there_are_several():
    assert predict_files.sheet_path("out/s.png", "dir/clip.avi", several=False) == "out/s.png"
    assert predict_files.sheet_path("out/s.png", "dir/clip.avi", several=True) == "out/s_clip.png"


def test_expand_videos_expands_patterns_sorted_and_keeps_plain_paths(tmp_path):
    for name in ("b.avi", "a.avi", "c.mp4"):
        (tmp_path / name).write_bytes(b"")
    paths = predict_files.expand_videos([str(tmp_path / "*.avi"), "x.mp4"])
    assert paths == [str(tmp_path / "a.avi"), str(tmp_path / "b.avi"), "x.mp4"]
    with pytest.raises(PredictError, match=r"video pattern '.*\*\.mkv': matches no file"):
        predict_files.expand_videos([str(tmp_path / "*.mkv")])
    with pytest.raises(PredictError, match="no videos: give video files or glob patterns"):
        predict_files.expand_videos([])


class _FakePredictor:
    """Returns PREDICTION for every video but 'bad.avi', which is not a video."""

    def predict(self, path: str, num_previews: int) -> Prediction:
        if path == "bad.avi":
            raise VideoError("bad.avi: not a video")
        return dataclasses.replace(PREDICTION, video=path)


def test_predict_files_echoes_tables_writes_json_and_counts_failures(tmp_path):
    echoed = []
    output = tmp_path / "predictions.json"
    failed = predict_files.predict_files(
        _FakePredictor(), ["one.avi", "bad.avi", "two.avi"], 1, str(output), echo=echoed.append
    )
    assert failed == 1
    assert [table.split(":")[0] for table in echoed] == ["one.avi", "two.avi"]
    entries = json.loads(output.read_text())
    assert [e["video"] for e in entries] == ["one.avi", "two.avi"]
    assert entries[0]["fused"][0] == {"class": "A", "probability": pytest.approx(0.4)}
    with pytest.raises(PredictError, match="top_k=0: use a positive integer"):
        predict_files.predict_files(_FakePredictor(), ["one.avi"], 0)


def test_predict_files_keeps_an_existing_json_when_every_video_fails(tmp_path):
    output = tmp_path / "predictions.json"
    output.write_text('[{"video": "earlier run"}]')
    failed = predict_files.predict_files(
        _FakePredictor(), ["bad.avi"], 1, str(output), echo=lambda _: None
    )
    assert failed == 1
    assert output.read_text() == '[{"video": "earlier run"}]'
    missing = tmp_path / "none.json"
    predict_files.predict_files(_FakePredictor(), ["bad.avi"], 1, str(missing), echo=print)
    assert not missing.exists()
