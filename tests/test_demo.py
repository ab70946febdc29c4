"""End to end: demo.py drives every real CLI on a small synthetic dataset.

Asserts the artifacts of every stage, that fusion beats each stream (the synthetic classes
need both), and that a re-run skips every completed stage.
"""

import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from preprocessing import ucf101
from tfrecords import manifest as manifest_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
SMALL = [
    "--num_appearances=2",
    "--num_motions=2",
    "--groups=4",  # test group 1, val group 2 (demo.VAL_GROUPS), train groups 3-4
    "--clips_per_group=3",
    "--num_frames=8,24",
    "--config_override=train.num_steps=200",
    "--config_override=train.lr_boundaries=(150,)",
    "--config_override=train.checkpoint_every_steps=100",
    "--config_override=data.eval_num_samples=3",
    "--config_override=data.eval_num_crops=1",
]


def _demo(workspace: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "demo.py", f"--workspace={workspace}", *SMALL],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


@pytest.mark.slow
def test_demo_end_to_end_and_rerun_skips(tmp_path):
    workspace = tmp_path / "demo"
    result = _demo(workspace)
    assert result.returncode == 0, result.stderr[-3000:]

    manifest = json.loads((workspace / "records" / manifest_lib.MANIFEST_FILE).read_text())
    assert manifest["listed"] == manifest["written"]
    assert len(manifest["class_names"]) == 4
    metrics = {
        name: json.loads((workspace / folder / "metrics.json").read_text())
        for name, folder in [
            ("spatial", "runs/spatial/eval"),
            ("temporal", "runs/temporal/eval"),
            ("fused", "fused"),
        ]
    }
    for stream in ("spatial", "temporal"):
        run = workspace / "runs" / stream
        assert list((run / "checkpoints").glob("ckpt-200.index"))
        assert list((run / "train").rglob("events.out.tfevents.*"))
        for name in ("scores.npz", "confusion.png", "results.md"):
            assert (run / "eval" / name).exists()
        scores = np.load(run / "eval" / "scores.npz", allow_pickle=False)
        assert len(scores["video_ids"]) == manifest["written"]["test"]
        assert metrics[stream]["num_views_per_video"] == 3
    # Each stream sees one factor of the 2 x 2 classes; only fusion can name the class.
    fused = metrics["fused"]["top1"]
    assert fused > metrics["spatial"]["top1"] and fused > metrics["temporal"]["top1"]
    assert fused >= 0.75
    assert "| Fused (average) |" in result.stdout

    # The exported models classify one raw held-out .avi through predict.py.
    for stream in ("spatial", "temporal"):
        assert (workspace / "export" / stream / "saved_model.pb").exists()
    (prediction,) = json.loads((workspace / "prediction.json").read_text())
    assert prediction["video"].endswith(".avi") and f"/{ucf101.VIDEOS_DIR}/" in prediction["video"]
    for stream in ("spatial", "temporal", "fused"):
        total = sum(entry["probability"] for entry in prediction[stream])
        assert abs(total - 1.0) < 1e-4
    assert (workspace / "prediction.png").stat().st_size > 1000
    assert "Held-out test video" in result.stdout

    # The watcher evaluated every checkpoint the spatial run kept, on the val subset.
    assert manifest["written"]["val"] == 4 * 3  # one group of 3 clips per class
    watched = workspace / "runs" / "spatial" / "eval_val"
    state = json.loads((watched / "watch_state.json").read_text())
    assert [e["step"] for e in state["evaluated"]] == [100, 200]
    best = json.loads((watched / "best.json").read_text())
    assert "Best spatial checkpoint on val (eval.py --watch, 5 samples x 1 crops" in result.stdout
    assert best["checkpoint"] in result.stdout

    rerun = _demo(workspace)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    skipped = re.findall(r"^\[\d+/12\] .*: up to date, skipped$", rerun.stdout, re.M)
    assert len(skipped) == 12
