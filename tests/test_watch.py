"""eval.py --watch: the real train.py and watcher processes, and the watch library in-process."""

import json
import logging
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import models
from configs import demo_spatial
from evaluation import watch
from tfrecords import testdata
from tfrecords.manifest import ManifestError
from training import checkpoints

REPO = pathlib.Path(__file__).resolve().parents[1]
NUM_CLASSES = 2


def _video(label: int, group: int, rng: np.random.Generator):
    """Class 0 red, class 1 blue frames (learnable in a few steps); 6 frames, 24x32."""
    rgb = rng.integers(0, 60, (6, 24, 32, 3), dtype=np.uint8)
    rgb[..., 0 if label == 0 else 2] += 180
    flow = [testdata.encode_jpeg(np.full((24, 32), 128, np.uint8))] * 5
    video = testdata.make_video(
        f"v_class{label}_g{group:02d}_c01",
        label,
        [testdata.encode_jpeg(f) for f in rgb],
        flow,
        flow,
        (24, 32),
    )
    return video


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    """Train groups 1-4 and val groups 5-6 of two classes."""
    rng = np.random.default_rng(0)
    path = str(tmp_path_factory.mktemp("records"))
    testdata.write_data_dir(
        path,
        {
            subset: [_video(label, g, rng) for g in groups for label in range(NUM_CLASSES)]
            for subset, groups in (("train", range(1, 5)), ("val", range(5, 7)))
        },
        NUM_CLASSES,
        num_shards=2,
    )
    return path


def _event_steps(directory: str) -> list[int]:
    """Steps of every top1 event in every events file of `directory` (repeats kept)."""
    steps = []
    for path in sorted(tf.io.gfile.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            steps += [int(event.step) for v in event.summary.value if v.tag == "top1"]
    return sorted(steps)


def _tensorboard_top1(directory: str) -> dict[int, float]:
    """top1 by step as TensorBoard's own event reader sees it."""
    accumulator = event_accumulator.EventAccumulator(
        directory, size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors("top1")}


def _overrides(num_steps: int) -> list[str]:
    return [
        f"--config={REPO / 'configs' / 'demo_spatial.py'}",
        "--config.data.image_size=16",
        "--config.data.shuffle_buffer=16",
        "--config.model.tiny_widths=(8,)",
        "--config.train.batch_size=8",
        f"--config.train.num_steps={num_steps}",
        "--config.train.lr_boundaries=()",
        "--config.train.log_every_steps=10",
        "--config.train.checkpoint_every_steps=10",
        "--config.train.max_checkpoints_to_keep=10",
        "--config.eval.watch_num_samples=2",
    ]


def _start(binary: str, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, binary, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 300) -> str:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    return stdout + stderr


def test_watcher_beside_train_evaluates_each_checkpoint_once_across_a_kill(tmp_path, data_dir):
    workdir = str(tmp_path / "run")
    out = watch.watch_dir(workdir, "val")
    paths = [f"--workdir={workdir}", f"--data_dir={data_dir}"]
    watcher_args = [*_overrides(40), *paths, "--watch", "--subset=val", "--watch_timeout=240"]

    # Training stops at step 20 of the watcher's 40: the watcher evaluates 10 and 20, then
    # waits for more, and is killed -9 while it waits.
    train = _start("train.py", [*_overrides(20), *paths])
    watcher = _start("eval.py", watcher_args)
    log = _finish(train)
    assert "--watch --subset=val" in log and f"{out}/" in log  # train.py names the watcher
    state = pathlib.Path(out, watch.STATE_FILE)
    deadline = time.monotonic() + 240
    while watcher.poll() is None and time.monotonic() < deadline:
        if state.exists() and len(json.loads(state.read_text())["evaluated"]) == 2:
            break
        time.sleep(0.1)
    assert watcher.poll() is None, watcher.communicate()[1][-3000:]
    watcher.send_signal(signal.SIGKILL)
    watcher.communicate()
    assert [e.step for e in watch.read_state(out)] == [10, 20]

    # Training resumes to step 40 beside a restarted watcher, which stops by itself at 40.
    train = _start("train.py", [*_overrides(40), *paths])
    watcher = _start("eval.py", watcher_args)
    _finish(train)
    log = _finish(watcher)
    assert "0 evaluated before" not in log and "2 evaluated before" in log

    listed = checkpoints.all_checkpoints(workdir)
    assert [checkpoints.checkpoint_step(p) for p in listed] == [10, 20, 30, 40]
    evaluations = watch.read_state(out)
    assert [e.checkpoint for e in evaluations] == listed  # each exactly once, in order
    assert _event_steps(out) == [10, 20, 30, 40]  # no summary written twice
    top1 = _tensorboard_top1(out)
    assert top1 == pytest.approx({e.step: e.metrics["top1"] for e in evaluations})
    best = json.loads(pathlib.Path(out, watch.BEST_FILE).read_text())
    expected = watch.best_of(evaluations)
    assert (best["checkpoint"], best["step"]) == (expected.checkpoint, expected.step)
    assert best["value"] == pytest.approx(top1[best["step"]])
    assert f"best: {expected.checkpoint}" in log


def _tiny_config(num_steps: int):
    config = demo_spatial.get_config()
    config.data.image_size = 16
    config.model.tiny_widths = (4,)
    config.train.num_steps = num_steps
    config.eval.watch_num_samples = 2
    return config


@pytest.fixture
def saved_steps(tmp_path):
    """A workdir with checkpoints of steps 1, 2, 3 of differently initialised tiny models."""
    workdir = str(tmp_path / "run")
    for step in (1, 2, 3):
        keras.utils.set_random_seed(step)
        model = models.build_model(_tiny_config(3), NUM_CLASSES)
        checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64), model=model)
        manager = tf.train.CheckpointManager(checkpoint, checkpoints.checkpoints_dir(workdir), 5)
        manager.save(checkpoint_number=step)
    return workdir


def test_deleted_checkpoint_is_skipped_and_a_rerun_repairs_without_evaluating(
    saved_steps, data_dir, tmp_path, caplog
):
    workdir = saved_steps
    second = f"{checkpoints.checkpoints_dir(workdir)}/ckpt-2"
    for path in tf.io.gfile.glob(second + ".*"):
        tf.io.gfile.remove(path)  # as retention would, after the list named it
    out = watch.watch_dir(workdir, "val")
    export_dir = str(tmp_path / "export")
    with caplog.at_level(logging.INFO):
        result = watch.watch(_tiny_config(3), workdir, data_dir, "val", 30, export_dir)
    assert [e.step for e in result.evaluated] == [1, 3] and result.skipped == [second]
    assert f"{second}: deleted (retention) before it was read; skipped" in caplog.text
    assert result.finished and result.best == watch.best_of(result.evaluated)
    assert _event_steps(out) == [1, 3]
    metadata = json.loads(pathlib.Path(export_dir, "spatial", "export.json").read_text())
    assert result.best.checkpoint in metadata["checkpoint"]

    # A kill after the state write: summaries and best.json missing. A re-run writes them
    # from the state and evaluates nothing.
    for path in tf.io.gfile.glob(os.path.join(out, "events.out.*")):
        tf.io.gfile.remove(path)
    os.remove(os.path.join(out, watch.BEST_FILE))
    again = watch.watch(_tiny_config(3), workdir, data_dir, "val", 30)
    assert again.evaluated == [] and again.finished
    assert _tensorboard_top1(out) == pytest.approx(
        {e.step: e.metrics["top1"] for e in result.evaluated}
    )
    best = json.loads(pathlib.Path(out, watch.BEST_FILE).read_text())
    assert best["checkpoint"] == result.best.checkpoint


def test_missing_subset_names_the_flag_that_writes_it(saved_steps, data_dir):
    with pytest.raises(ManifestError, match=r"no 'test' subset .*--val_groups=3"):
        watch.watch(_tiny_config(3), saved_steps, data_dir, "test", 1)


def test_best_is_the_highest_top1_then_the_lower_loss_then_the_earlier():
    def e(step, top1, loss):
        return watch.Evaluation(f"ckpt-{step}", step, {"top1": top1, "loss": loss})

    runs = [e(1, 0.5, 1.0), e(2, 0.7, 0.9), e(3, 0.7, 0.8), e(4, 0.7, 0.8), e(5, 0.6, 0.1)]
    assert watch.best_of(runs).step == 3
    assert watch.best_of([]) is None


def test_watch_command_keeps_config_overrides_workdir_and_data_dir():
    argv = [
        "train.py",
        "--config=configs/spatial.py",
        "--config.train.num_steps=10",
        "--workdir",
        "W dir",
        "--data_dir=D",
        "--strategy=mirrored",
    ]
    assert watch.watch_command(argv, "val") == (
        "python eval.py --config=configs/spatial.py --config.train.num_steps=10 --workdir "
        "'W dir' --data_dir=D --watch --subset=val"
    )


def test_quick_config_sets_the_watch_views():
    config = _tiny_config(3)
    quick = watch.quick_config(config)
    assert (quick.data.eval_num_samples, quick.data.eval_num_crops) == (2, 1)
    assert (config.data.eval_num_samples, config.data.eval_num_crops) == (25, 10)
