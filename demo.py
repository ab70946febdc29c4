r"""`make demo`: the whole system end to end on generated UCF-101-format data.

    .venv/bin/python demo.py --workspace=workspace/demo

Stages, each the real command a user would type (printed before it runs):

1. `python -m synthetic`: a synthetic UCF-101-format dataset (lists, .avi, 340x256 JPEG
   frames, quantized flow) whose A x M classes need both streams.
2. `python -m preprocessing.check --root`: the dataset check a user runs on a download.
3. `python -m preprocessing --source=frames --val_groups=1`: the Beam job (DirectRunner) ->
   TFRecords, one training group per class held out as the val subset.
4. `train.py` with `configs/demo_spatial.py`, then `configs/demo_temporal.py`; then
   `eval.py --watch --subset=val` on the spatial run: the sidecar evaluator, run after
   training here (it evaluates every checkpoint the run kept), TensorBoard summaries in
   `runs/spatial/eval_val/` and the best checkpoint in its best.json.
5. `eval.py` on each stream (demo protocol: `data.eval_num_samples` x `data.eval_num_crops`
   views per test video, 25 x 10 by default as Simonyan & Zisserman).
6. `eval.py --fuse`: average fusion, and the results table (Spatial / Temporal / Fused).
7. `export.py` of each stream, then `predict.py` on one held-out test video (the
   shortest with a full flow stack): the raw .avi decoded, its TV-L1 flow computed (the
   archives' algorithm the temporal stream was trained on), top classes per stream and fused.

Re-running skips a stage whose outputs are complete and valid and whose command (and every
upstream stage's command) is unchanged; an interrupted training run resumes from its last
checkpoint. Each `--config_override=KEY=VALUE` (e.g. `--config_override=train.num_steps=100`)
is passed as `--config.KEY=VALUE` to train.py and eval.py of both streams.
"""

from __future__ import annotations

import sys

from tfrecords import startup

# TensorFlow loads with the imports below: quietly, unless --verbose (tfrecords/startup.py).
startup.quiet()
startup.import_tensorflow()

import dataclasses
import hashlib
import json
import posixpath
import subprocess
import time
from collections.abc import Callable, Sequence

import tensorflow as tf
from absl import flags

from configs import demo_temporal
from evaluation import export_metadata, reports, watch
from preprocessing import ucf101
from synthetic import generate
from tfrecords import manifest as manifest_lib
from tfrecords import output_checks
from tfrecords.errors import UserError, run_binary
from tfrecords.streams import STREAMS
from training import checkpoints

_WORKSPACE = flags.DEFINE_string("workspace", "workspace/demo", "Where every output goes.")
_NUM_APPEARANCES = flags.DEFINE_integer("num_appearances", 3, "A: appearances (spatial cue).")
_NUM_MOTIONS = flags.DEFINE_integer("num_motions", 3, "M: motions (temporal cue).")
_GROUPS = flags.DEFINE_integer("groups", 7, "Groups per class (UCF-101 has 25).")
_CLIPS_PER_GROUP = flags.DEFINE_integer("clips_per_group", 3, "Clips per group.")
_NUM_FRAMES = flags.DEFINE_string("num_frames", "8,64", "LO,HI RGB frames per clip.")
_OVERRIDES = flags.DEFINE_multi_string(
    "config_override", [], "key=value config override for train.py and eval.py (repeatable)."
)

VAL_GROUPS = 1  # training groups per class the Beam job holds out as the val subset
PREDICTION_FILE = "prediction.json"
PREDICTION_SHEET = "prediction.png"


class StageError(UserError):
    """A stage's command failed, or left incomplete outputs (its own output says why)."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the demo: a command and the check that its outputs are complete."""

    name: str
    command: list[str]
    outputs_valid: Callable[[], bool]


def _stamp_path(workspace: str, name: str) -> str:
    return posixpath.join(workspace, ".stages", f"{name}.sha256")


def run_stages(stages: Sequence[Stage], workspace: str) -> dict[str, float]:
    """Runs each stage unless its stamp matches and its outputs are valid.

    A stage's stamp hashes its command and the previous stage's stamp, so changing one
    stage re-runs everything after it.

    Returns:
      Wall seconds per stage (0.0 for skipped stages).

    Raises:
      StageError: a command failed (its exit code and the command are in the message).
    """
    tf.io.gfile.makedirs(posixpath.join(workspace, ".stages"))
    timings, chain = {}, ""
    for number, stage in enumerate(stages, start=1):
        chain = hashlib.sha256((chain + "\0".join(stage.command)).encode()).hexdigest()
        stamp = _stamp_path(workspace, stage.name)
        header = f"[{number}/{len(stages)}] {stage.name}"
        done = tf.io.gfile.exists(stamp) and _read(stamp) == chain and stage.outputs_valid()
        if done:
            print(f"{header}: up to date, skipped", flush=True)
            timings[stage.name] = 0.0
            continue
        print(f"{header}: {' '.join(stage.command)}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(stage.command, check=False)
        if result.returncode != 0:
            raise StageError(
                f"stage '{stage.name}' failed with exit code {result.returncode}: "
                f"{' '.join(stage.command)}"
            )
        if not stage.outputs_valid():
            raise StageError(f"stage '{stage.name}' finished but its outputs are incomplete")
        timings[stage.name] = time.perf_counter() - start
        with tf.io.gfile.GFile(stamp, "w") as f:
            f.write(chain)
    return timings


def _read(path: str) -> str:
    with tf.io.gfile.GFile(path) as f:
        return f.read()


def _records_valid(data_dir: str) -> bool:
    try:
        manifest = manifest_lib.read_manifest(data_dir)
    except manifest_lib.ManifestError:
        return False
    return manifest.listed == manifest.written


def _trained(workdir: str) -> bool:
    """True when the run's last checkpoint is at its configured final step."""
    path = checkpoints.latest_checkpoint(workdir)
    if path is None:
        return False
    config = checkpoints.load_config(workdir)
    return config.train.num_steps > 0 and checkpoints.checkpoint_step(path) >= (
        config.train.num_steps
    )


def _watched(workdir: str) -> bool:
    """True when the watcher evaluated the run's latest checkpoint (and wrote best.json)."""
    directory = watch.watch_dir(workdir, watch.DEFAULT_SUBSET)
    evaluated = {e.checkpoint for e in watch.read_state(directory)}
    best = tf.io.gfile.exists(posixpath.join(directory, watch.BEST_FILE))
    return best and checkpoints.latest_checkpoint(workdir) in evaluated


def _evaluated(eval_dir: str, workdir: str, data_dir: str) -> bool:
    """True when eval metrics exist for the latest checkpoint and every written test clip."""
    path = posixpath.join(eval_dir, reports.METRICS_FILE)
    if not (tf.io.gfile.exists(path) and _records_valid(data_dir)):
        return False
    metrics = json.loads(_read(path))
    written = manifest_lib.read_manifest(data_dir).written["test"]
    latest = checkpoints.latest_checkpoint(workdir)
    return metrics["num_videos"] == written and metrics["checkpoint"] == latest


def held_out_clip() -> generate.SyntheticClip:
    """The split-1 test clip `predict.py` classifies: the shortest with a full flow stack."""
    low, high = (int(n) for n in _NUM_FRAMES.value.split(","))
    spec = generate.SyntheticSpec(
        num_appearances=_NUM_APPEARANCES.value,
        num_motions=_NUM_MOTIONS.value,
        groups=_GROUPS.value,
        clips_per_group=_CLIPS_PER_GROUP.value,
        num_frames=(low, high),
    )
    test_groups = generate.split_test_groups(spec.groups, 1)
    stack = demo_temporal.get_config().data.num_flow_frames + 1  # L flow frames: L + 1 RGB
    clips = [c for c in generate.plan(spec) if c.group in test_groups]
    long_enough = [c for c in clips if c.num_frames >= stack] or clips
    return min(long_enough, key=lambda c: (c.num_frames, c.video_id))


def build_stages(workspace: str) -> list[Stage]:
    """The demo's stages for the flags given (see the module docstring)."""
    python = sys.executable
    root = posixpath.join(workspace, "ucf101")
    lists = posixpath.join(root, ucf101.SPLITS_DIR)
    records = posixpath.join(workspace, "records")
    fused = posixpath.join(workspace, "fused")
    overrides = [f"--config.{item}" for item in _OVERRIDES.value]
    stages = [
        Stage(
            "generate synthetic UCF-101",
            [
                python, "-m", "synthetic", f"--output_dir={root}",
                f"--num_appearances={_NUM_APPEARANCES.value}",
                f"--num_motions={_NUM_MOTIONS.value}", f"--groups={_GROUPS.value}",
                f"--clips_per_group={_CLIPS_PER_GROUP.value}",
                f"--num_frames={_NUM_FRAMES.value}",
            ],
            lambda: tf.io.gfile.exists(posixpath.join(lists, ucf101.CLASS_INDEX_FILE)),
        ),
        Stage(
            "check the dataset",
            [python, "-m", "preprocessing.check", f"--root={root}"],
            lambda: True,
        ),
        Stage(
            "Beam job -> TFRecords",
            [
                python, "-m", "preprocessing", f"--root={root}", "--source=frames",
                f"--output_dir={records}", f"--val_groups={VAL_GROUPS}",
                "--runner=DirectRunner",
            ],
            lambda: _records_valid(records),
        ),
    ]  # fmt: skip
    for stream in STREAMS:
        config = f"configs/demo_{stream}.py"
        workdir = posixpath.join(workspace, "runs", stream)
        common = [f"--config={config}", f"--workdir={workdir}", f"--data_dir={records}"]
        stages.append(
            Stage(
                f"train {stream}",
                [python, "train.py", *common, *overrides],
                lambda workdir=workdir: _trained(workdir),
            )
        )
    spatial = posixpath.join(workspace, "runs", "spatial")
    stages.append(
        Stage(
            "watch spatial on val",
            [
                python, "eval.py", "--config=configs/demo_spatial.py", f"--workdir={spatial}",
                f"--data_dir={records}", "--watch", "--subset=val", "--watch_timeout=60",
                *overrides,
            ],
            lambda: _watched(spatial),
        )
    )  # fmt: skip
    for stream in STREAMS:
        config = f"configs/demo_{stream}.py"
        workdir = posixpath.join(workspace, "runs", stream)
        eval_dir = posixpath.join(workdir, "eval")
        common = [f"--config={config}", f"--workdir={workdir}", f"--data_dir={records}"]
        stages.append(
            Stage(
                f"evaluate {stream}",
                [python, "eval.py", *common, *overrides],
                lambda eval_dir=eval_dir, workdir=workdir: _evaluated(eval_dir, workdir, records),
            )
        )
    scores = [posixpath.join(workspace, "runs", s, "eval", "scores.npz") for s in STREAMS]
    stages.append(
        Stage(
            "fuse",
            [python, "eval.py", f"--fuse={','.join(scores)}", f"--output_dir={fused}"],
            lambda: tf.io.gfile.exists(posixpath.join(fused, reports.METRICS_FILE)),
        )
    )
    exports = posixpath.join(workspace, "export")
    for stream in STREAMS:
        config = f"configs/demo_{stream}.py"
        workdir = posixpath.join(workspace, "runs", stream)
        written_last = posixpath.join(exports, stream, export_metadata.METADATA_FILE)
        stages.append(
            Stage(
                f"export {stream}",
                [
                    python, "export.py", f"--config={config}", f"--workdir={workdir}",
                    f"--data_dir={records}", f"--export_dir={exports}", *overrides,
                ],
                lambda written_last=written_last: tf.io.gfile.exists(written_last),
            )
        )  # fmt: skip
    clip = held_out_clip()
    video = posixpath.join(root, ucf101.VIDEOS_DIR, clip.class_name, f"{clip.video_id}.avi")
    prediction = posixpath.join(workspace, PREDICTION_FILE)
    stages.append(
        Stage(
            f"predict {clip.video_id}.avi",
            [
                python, "predict.py", f"--video={video}",
                f"--spatial_model={posixpath.join(exports, 'spatial')}",
                f"--temporal_model={posixpath.join(exports, 'temporal')}",
                f"--output_json={prediction}",
                f"--sheet={posixpath.join(workspace, PREDICTION_SHEET)}",
            ],
            lambda: tf.io.gfile.exists(prediction),
        )
    )  # fmt: skip
    return stages


def summary(workspace: str, timings: dict[str, float]) -> str:
    """The closing text: results table, stage times and where every artifact is."""
    rows = []
    for name, folder in (
        *((s.capitalize(), posixpath.join(workspace, "runs", s, "eval")) for s in STREAMS),
        ("Fused (average)", posixpath.join(workspace, "fused")),
    ):
        rows.append((name, json.loads(_read(posixpath.join(folder, reports.METRICS_FILE)))))
    times = "\n".join(f"  {seconds:7.1f} s  {name}" for name, seconds in timings.items())
    runs = posixpath.join(workspace, "runs")
    data_files = f"{manifest_lib.MANIFEST_FILE}, {manifest_lib.FAILURES_FILE}"
    (predicted,) = json.loads(_read(posixpath.join(workspace, PREDICTION_FILE)))
    clip = held_out_clip()
    guesses = ", ".join(
        f"{stream} {predicted[stream][0]['class']} ({predicted[stream][0]['probability']:.0%})"
        for stream in (*STREAMS, "fused")
    )
    watched = watch.watch_dir(posixpath.join(runs, "spatial"), watch.DEFAULT_SUBSET)
    best = json.loads(_read(posixpath.join(watched, watch.BEST_FILE)))
    return f"""
{reports.metrics_table(rows)}

Best spatial checkpoint on val (eval.py --watch, {best["protocol"]}): {best["checkpoint"]}
(step {best["step"]}, top-1 {best["value"]:.3f})

Held-out test video {predicted["video"]} (class {clip.class_name}), predict.py top-1:
{guesses}

Stage wall times (0.0 = up to date, skipped):
{times}

Artifacts:
  dataset (UCF-101 format)  {workspace}/ucf101/
  TFRecords + manifest      {workspace}/records/ ({data_files})
  checkpoints               {runs}/spatial/checkpoints/, {runs}/temporal/checkpoints/
  TensorBoard               tensorboard --logdir={runs} (train/ and, spatial, eval_val/)
  per-stream reports        {runs}/<stream>/eval/ (scores.npz, metrics.json, confusion.png,
                            results.md)
  fused report              {workspace}/fused/ (metrics.json, confusion.png, results.md)
  exported models           {workspace}/export/spatial/, {workspace}/export/temporal/
  prediction                {workspace}/{PREDICTION_FILE}, {workspace}/{PREDICTION_SHEET}
"""


def main(argv: Sequence[str]) -> None:
    """Runs the stages, then prints the results table and where everything was written."""
    del argv  # run_binary refuses positional arguments
    workspace = _WORKSPACE.value
    output_checks.check_output_dir(workspace, "--workspace")
    timings = run_stages(build_stages(workspace), workspace)
    print(summary(workspace, timings), flush=True)


if __name__ == "__main__":
    run_binary(main)
