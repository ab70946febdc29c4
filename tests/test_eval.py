"""End-to-end tests of eval.py: evaluation and fusion through the real CLI."""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import load_config_file

import models
from evaluation import evaluate, scores
from evaluation.scores import VideoScores
from input_pipeline import datasets, resample
from tfrecords import testdata
from training import checkpoints

REPO = pathlib.Path(__file__).resolve().parents[1]
NUM_CLASSES = 3
NUM_SAMPLES, NUM_CROPS = 3, 10
STEP = 7

# A demo config shrunk to seconds: 16x16 inputs, L = 2, 3 samples x 10 crops, dropout 0.5.
CONFIG_TEMPLATE = """
from configs import demo_{stream}


def get_config():
    config = demo_{stream}.get_config()
    config.data.image_size = 16
    config.data.num_flow_frames = 2
    config.data.eval_num_samples = {samples}
    config.data.eval_num_crops = {crops}
    config.model.tiny_widths = (4,)
    config.model.dropout = 0.5
    config.eval.batch_size = 16
    return config
"""

pytestmark = pytest.mark.slow


def _run_all(*commands, check=True):
    """Runs eval.py once per argument list, concurrently (TF start-up dominates)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "eval.py", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    results = []
    for args, process in zip(commands, processes, strict=True):
        stdout, stderr = process.communicate()
        if check and process.returncode != 0:
            raise AssertionError(f"eval.py {args} failed:\n{stderr[-3000:]}")
        results.append(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
    return results


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A data directory (6 test, 6 train videos), and per stream a config and a workdir."""
    root = tmp_path_factory.mktemp("e2e")
    rng = np.random.default_rng(0)

    def video(name, index, label):
        count = 5 + index % 4  # 5..8 frames: the 3 samples overlap and loop
        rgb = [testdata.encode_jpeg(rng.integers(0, 256, (24, 32, 3))) for _ in range(count)]
        flow = [testdata.encode_jpeg(rng.integers(0, 256, (24, 32))) for _ in range(count - 1)]
        return testdata.make_video(name, label, rgb, flow, flow, (24, 32))

    data_dir = str(root / "records")
    testdata.write_data_dir(
        data_dir,
        {
            subset: [video(f"v_{subset}_{i}", i, i % NUM_CLASSES) for i in range(6)]
            for subset in ("train", "test")
        },
        num_classes=NUM_CLASSES,
        num_shards=2,
    )
    streams = {}
    for stream in ("spatial", "temporal"):
        config_path = root / f"{stream}_config.py"
        config_path.write_text(
            CONFIG_TEMPLATE.format(stream=stream, samples=NUM_SAMPLES, crops=NUM_CROPS)
        )
        config = load_config_file(config_path)
        workdir = str(root / stream)
        keras.utils.set_random_seed(1)
        model = models.build_model(config, NUM_CLASSES)
        checkpoint = tf.train.Checkpoint(step=tf.Variable(STEP, dtype=tf.int64), model=model)
        checkpoints.Checkpointer(workdir, tf.distribute.get_strategy(), checkpoint, 1).save(STEP)
        streams[stream] = (str(config_path), workdir, config)
    return data_dir, streams


def _hand_made(path, ids, labels, matrix, stream):
    scores.save_scores(
        str(path),
        VideoScores(
            video_ids=np.array(ids),
            labels=np.array(labels, np.int32),
            class_names=np.array(["Zero", "One", "Two"]),
            scores=np.array(matrix, np.float32),
            subset="test",
            stream=stream,
            num_samples=1,
            num_crops=1,
            checkpoint="hand-made",
            step=0,
        ),
    )
    return str(path)


# The matrices of test_fusion.py: average and weighted 1:1.5 differ on v_a.
IDS, LABELS = ["v_a", "v_b", "v_c", "v_d"], [1, 0, 1, 2]
SPATIAL = [[0.85, 0.15, 0.0], [0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6]]
TEMPORAL = [[0.15, 0.75, 0.1], [0.6, 0.3, 0.1], [0.3, 0.4, 0.3], [0.5, 0.1, 0.4]]


@pytest.fixture(scope="module")
def cli(setup, tmp_path_factory):
    """Every CLI run of this module, started together (TF start-up dominates each run).

    Both streams evaluated on the test subset (spatial with view scores), and hand-made
    score files fused and refused.
    """
    data_dir, streams = setup
    root = tmp_path_factory.mktemp("cli")
    spatial = _hand_made(root / "s.npz", IDS, LABELS, SPATIAL, "spatial")
    temporal = _hand_made(root / "t.npz", IDS, LABELS, TEMPORAL, "temporal")
    other_ids = _hand_made(root / "o.npz", [*IDS[:3], "v_e"], LABELS, TEMPORAL, "temporal")
    model_args = {
        stream: [f"--config={path}", f"--workdir={workdir}", f"--data_dir={data_dir}"]
        for stream, (path, workdir, _) in streams.items()
    }
    runs = dict(
        zip(
            ("spatial", "temporal", "fused", "refused"),
            _run_all(
                [*model_args["spatial"], "--save_view_scores"],
                model_args["temporal"],
                [
                    f"--fuse={spatial},{temporal}",
                    f"--output_dir={root / 'fused'}",
                    "--fusion=weighted",
                    "--fusion_weights=1,1.5",
                ],
                [f"--fuse={spatial},{other_ids}", f"--output_dir={root / 'refused'}"],
                check=False,
            ),
            strict=True,
        )
    )
    for name in ("spatial", "temporal", "fused"):
        assert runs[name].returncode == 0, f"{name}:\n{runs[name].stderr[-3000:]}"
    return root, runs


def test_eval_scores_every_test_video_once_with_k_by_crops_views(setup, cli):
    out = pathlib.Path(setup[1]["spatial"][1]) / "eval"
    result = cli[1]["spatial"]
    written = scores.load_scores(str(out / "scores.npz"))
    assert written.video_ids.tolist() == [f"v_test_{i}" for i in range(6)]
    assert written.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert written.view_scores.shape == (6, NUM_SAMPLES * NUM_CROPS, NUM_CLASSES)
    np.testing.assert_allclose(written.view_scores.mean(axis=1), written.scores, rtol=1e-5)
    assert written.subset == "test" and written.stream == "spatial"
    checkpoint = f"{setup[1]['spatial'][1]}/checkpoints/ckpt-{STEP}"
    assert written.checkpoint == checkpoint and written.step == STEP
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["checkpoint"] == checkpoint and metrics["step"] == STEP
    for key in ("top1", "top5", "mean_class_accuracy", "per_class_accuracy"):
        assert key in metrics
    assert metrics["num_videos"] == 6 and metrics["num_views_per_video"] == 30
    assert metrics["top5"] == 1.0  # 3 classes
    results = (out / "results.md").read_text()
    assert "| Spatial |" in results and "3 samples x 10 crops = 30 views" in results
    assert (out / "confusion.png").stat().st_size > 1000
    assert "video" in result.stderr  # the progress bar over videos


def test_eval_is_in_inference_mode_and_matches_the_restored_model(setup, cli):
    """The dropout model's CLI scores equal the restored Keras model's inference scores."""
    data_dir, streams = setup
    config_path, workdir, config = streams["temporal"]
    written = scores.load_scores(f"{workdir}/eval/scores.npz")
    model = checkpoints.restore_model(config, workdir, NUM_CLASSES)
    config.eval.batch_size = 30  # 3 samples of 10 views: a video per batch
    batches = list(datasets.eval_dataset(config, data_dir, "test"))
    assert all(np.size(b["label"]) == 30 for b in batches)
    expected = [
        model(
            resample.model_input(b["windows"], config.data.image_size, flow=True),
            training=False,
        )
        .numpy()
        .mean(axis=0)
        for b in batches
    ]
    ids = [b["video_id"].numpy()[0, 0].decode() for b in batches]
    order = np.argsort(ids)
    np.testing.assert_allclose(written.scores, np.array(expected)[order], rtol=1e-5, atol=1e-6)


def test_train_subset_goes_to_eval_train_and_missing_checkpoint_is_named(setup, tmp_path):
    data_dir, streams = setup
    _, workdir, config = streams["spatial"]
    evaluate.evaluate_checkpoint(config, workdir, data_dir, "train", progress=False)
    written = scores.load_scores(f"{workdir}/eval_train/scores.npz")
    assert written.subset == "train" and len(written.video_ids) == 6
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint"):
        evaluate.evaluate_checkpoint(config, str(tmp_path), data_dir, "test")


def test_fuse_cli_prints_the_table_and_writes_reports(cli):
    root, runs = cli
    assert runs["fused"].stdout.splitlines() == [
        "| | Top-1 | Top-5 | Mean class | Videos |",
        "|---|---:|---:|---:|---:|",
        "| Spatial | 50.0% | 100.0% | 66.7% | 4 |",
        "| Temporal | 75.0% | 100.0% | 66.7% | 4 |",
        "| Fused (weighted 1:1.5) | 75.0% | 100.0% | 83.3% | 4 |",
    ]
    metrics = json.loads((root / "fused" / "metrics.json").read_text())
    assert metrics["fusion"] == "weighted" and metrics["top1"] == 0.75
    for name in ("scores.npz", "confusion.png", "results.md"):
        assert (root / "fused" / name).exists()


def test_fuse_cli_refuses_mismatched_ids_with_a_clear_message(cli):
    root, runs = cli
    refused = runs["refused"]
    assert refused.returncode == 1
    assert "cover different videos" in refused.stderr and "v_e" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (root / "refused").exists()


def test_fusing_the_evaluated_streams(setup, tmp_path, cli):
    paths = [f"{workdir}/eval/scores.npz" for _, workdir, _ in setup[1].values()]
    result, table = evaluate.fuse_files(paths, str(tmp_path), "weighted", [1, 1.5])
    fused = scores.load_scores(str(tmp_path / "scores.npz"))
    spatial, temporal = (scores.load_scores(p) for p in paths)
    np.testing.assert_allclose(
        fused.scores, 0.4 * spatial.scores + 0.6 * temporal.scores, rtol=1e-5
    )
    assert result["num_views_per_video"] == 30 and result["num_videos"] == 6
    assert "| Fused (weighted 1:1.5) |" in table
