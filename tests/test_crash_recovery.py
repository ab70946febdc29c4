"""Crash tests (issue 10): kill -9 the Beam job, train.py and eval.py midway, then re-run.

Each binary runs in a subprocess that is SIGKILLed (no handler runs, as on an OOM kill or a
lost VM); the re-run then has to produce complete, correct output, losing at most the work
since the last checkpoint. Re-runs that need no CLI run in-process (TensorFlow start-up is
~8 s per subprocess).
"""

import dataclasses
import importlib.util
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import frames_job_config
from test_train import _events_steps, write_data_dir

import models
from configs import demo_spatial
from evaluation import evaluate, scores
from preprocessing import outputs, pipeline
from preprocessing.job_config import DEFAULT_RGB_CHUNKS
from tfrecords import manifest as manifest_lib
from tfrecords import testdata
from training import checkpoints, experiment, summaries

REPO = pathlib.Path(__file__).resolve().parents[1]
DEADLINE_S = 240

pytestmark = pytest.mark.slow


def _start(args: list[str]) -> subprocess.Popen:
    """Starts `python *args` in the repo, in its own process group, stderr piped."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


class _Stderr:
    """Collects a process's stderr in a thread (tqdm writes '\\r', not lines)."""

    def __init__(self, process: subprocess.Popen):
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            self._chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")


def _kill_when(process: subprocess.Popen, ready, what: str) -> None:
    """SIGKILLs `process`'s group once `ready()` is true; fails if it ended first."""
    deadline = time.monotonic() + DEADLINE_S
    while not ready():
        assert process.poll() is None, f"ended (status {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} after {DEADLINE_S} s"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def _shard_bytes(out: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tfrecord"))}


def test_killed_beam_job_rerun_is_identical_and_partial_output_never_read(synthetic_root, tmp_path):
    root, out = pathlib.Path(synthetic_root), tmp_path / "records"
    config = frames_job_config(root, out, num_shards=2)
    options = PipelineOptions(["--runner=DirectRunner"])
    clean = pipeline.run(config, options)  # a complete earlier run the killed one overwrites
    clean_shards = _shard_bytes(out)
    failures = (out / manifest_lib.FAILURES_FILE).read_bytes()

    process = _start(
        [
            "-m",
            "preprocessing",
            f"--root={root}",
            "--split=1",
            f"--output_dir={out}",
            "--num_shards=2",
            "--runner=DirectRunner",
        ]
    )
    staging = out / outputs.STAGING_DIR
    _Stderr(process)
    # <subset>/<modality>/<id>-<chunk>.tfrecord: a staged record, not a temp shard.
    _kill_when(process, lambda: any(staging.glob("*/*/*.tfrecord")), "a staged record")
    # Killed midway: no manifest, so no reader takes the old shards or the partial ones.
    with pytest.raises(manifest_lib.ManifestError, match="not found"):
        manifest_lib.read_manifest(str(out))
    assert staging.exists()

    rerun = pipeline.run(config, options)
    assert rerun.manifest == clean.manifest
    assert _shard_bytes(out) == clean_shards
    assert (out / manifest_lib.FAILURES_FILE).read_bytes() == failures
    assert not staging.exists()
    assert rerun.manifest.rgb_chunks == {"train": DEFAULT_RGB_CHUNKS, "test": 1}
    assert {s.path for s in rerun.manifest.shards} == set(clean_shards)
    assert len(clean_shards) == 2 * 2 * 2  # (train, test) x (rgb, flow) x --num_shards=2
    for subset, listed in rerun.manifest.listed.items():
        for modality in ("rgb", "flow"):
            records = sum(
                s.num_records
                for s in rerun.manifest.shards
                if (s.subset, s.modality) == (subset, modality)
            )
            per_video = rerun.manifest.records_per_video(subset, modality)
            assert records == listed * per_video == rerun.manifest.written[subset] * per_video


def _train_config(workdir: pathlib.Path, data_dir: str, total: int, every: int):
    """train.py's flags, and the same config built in-process."""
    overrides = {
        "data.image_size": 16,
        "data.shuffle_buffer": 16,
        "model.tiny_widths": (8, 16),
        "train.batch_size": 8,
        "train.reference_batch_size": 8,  # the demo's lr, unscaled
        "train.num_steps": total,
        "train.lr_boundaries": (total - 20,),
        "train.log_every_steps": 1,
        "train.checkpoint_every_steps": every,
    }
    flags = [f"--config.{key}={value}".replace(" ", "") for key, value in overrides.items()]
    command = [
        "train.py",
        f"--config={REPO / 'configs' / 'demo_spatial.py'}",
        f"--workdir={workdir}",
        f"--data_dir={data_dir}",
        *flags,
    ]
    config = demo_spatial.get_config()
    for key, value in overrides.items():
        block, name = key.split(".")
        setattr(config[block], name, value)
    return command, config


def test_killed_train_resumes_from_the_last_checkpoint(tmp_path):
    data_dir = write_data_dir(str(tmp_path))
    workdir = tmp_path / "run"
    total, every = 100, 20
    command, config = _train_config(workdir, data_dir, total, every)

    def saved_step() -> int:
        path = checkpoints.latest_checkpoint(str(workdir))
        return checkpoints.checkpoint_step(path) if path else 0

    first = _start(command)
    _Stderr(first)
    _kill_when(first, lambda: saved_step() >= 2 * every, "a second checkpoint")
    stopped = saved_step()
    assert 2 * every <= stopped < total and stopped % every == 0

    result = experiment.train_on_data_dir(
        config, str(workdir), data_dir, tf.distribute.get_strategy()
    )
    assert (result.initial_step, result.step) == (stopped, total)
    assert saved_step() == total
    runs = _events_steps(str(workdir))
    # The killed run logged at least up to its checkpoint; the re-run continues right after it.
    assert runs[0][:stopped] == list(range(1, stopped + 1))
    assert runs[-1] == list(range(stopped + 1, total + 1))
    loss = summaries.read_scalars(str(workdir))["loss"]
    early = np.mean([loss[s] for s in range(1, 6)])
    resumed = np.mean([loss[s] for s in range(stopped + 1, stopped + 6)])
    assert resumed < 0.8 * early, (early, resumed)  # continues, does not restart from scratch


EVAL_CONFIG = """
from configs import demo_spatial


def get_config():
    config = demo_spatial.get_config()
    config.data.image_size = 16
    config.data.eval_num_samples = 10
    config.data.eval_num_crops = 10
    config.model.tiny_widths = (4,)
    config.eval.batch_size = 50
    return config
"""
# Enough videos that the rest of the pass outlasts a kill delayed by a busy machine (12 were
# once all scored between the first progress line and the kill).
NUM_TEST = 48


def _load_config(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location("crash_eval_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def test_killed_eval_leaves_no_partial_scores_and_rerun_is_complete(tmp_path):
    rng = np.random.default_rng(0)
    videos = [
        testdata.make_video(
            f"v_test_{i:02d}",
            i % 2,
            [testdata.encode_jpeg(rng.integers(0, 256, (24, 32, 3))) for _ in range(6)],
            [testdata.encode_jpeg(rng.integers(0, 256, (24, 32))) for _ in range(5)],
            [testdata.encode_jpeg(rng.integers(0, 256, (24, 32))) for _ in range(5)],
            (24, 32),
        )
        for i in range(NUM_TEST)
    ]
    data_dir = str(tmp_path / "records")
    testdata.write_data_dir(data_dir, {"test": videos}, num_classes=2, num_shards=2)
    config_path = tmp_path / "config.py"
    config_path.write_text(EVAL_CONFIG)
    config = _load_config(config_path)
    workdir = str(tmp_path / "run")
    keras.utils.set_random_seed(1)
    checkpoint = tf.train.Checkpoint(
        step=tf.Variable(5, dtype=tf.int64), model=models.build_model(config, 2)
    )
    checkpoints.Checkpointer(workdir, tf.distribute.get_strategy(), checkpoint, 1).save(5)

    process = _start(
        ["eval.py", f"--config={config_path}", f"--workdir={workdir}", f"--data_dir={data_dir}"]
    )
    stderr = _Stderr(process)

    def midway() -> bool:  # tqdm's count of videos done, some but not all
        counts = re.findall(rf"\b(\d+)/{NUM_TEST}\b", stderr.text)
        return any(0 < int(count) < NUM_TEST for count in counts)

    _kill_when(process, midway, "a video evaluated")
    report = pathlib.Path(evaluate.default_output_dir(workdir, "test"))
    assert not (report / scores.SCORES_FILE).exists()

    metrics = evaluate.evaluate_checkpoint(config, workdir, data_dir, "test", progress=False)
    assert metrics["num_videos"] == NUM_TEST
    result = scores.load_scores(str(report / scores.SCORES_FILE))
    assert sorted(result.video_ids.tolist()) == [v.video_id for v in videos]
    assert result.num_views_per_video == 100
    assert not any(report.glob("*.tmp"))


def test_scores_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing scores.npz leaves the previous file, never a partial one."""
    path = tmp_path / scores.SCORES_FILE
    base = scores.VideoScores(
        video_ids=np.array(["v_a"]),
        labels=np.array([0], np.int32),
        class_names=np.array(["A", "B"]),
        scores=np.array([[0.9, 0.1]], np.float32),
        subset="test",
        stream="spatial",
        num_samples=1,
        num_crops=1,
        checkpoint="first",
        step=1,
    )
    scores.save_scores(str(path), base)

    def crash(*unused_args, **unused_kwargs):
        raise OSError("killed")

    monkeypatch.setattr(tf.io.gfile, "rename", crash)
    with pytest.raises(OSError, match="killed"):
        scores.save_scores(str(path), dataclasses.replace(base, checkpoint="second"))
    assert scores.load_scores(str(path)).checkpoint == "first"
