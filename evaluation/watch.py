r"""`eval.py --watch`: a sidecar evaluating every checkpoint of a training run as it appears.

    python eval.py --config=C --workdir=W --data_dir=D --watch [--subset=val|test] \
        [--watch_timeout=3600] [--watch_export=DIR]

It waits for checkpoints in `W/checkpoints` (`tf.train.checkpoints_iterator`: it stops when
none appears for `--watch_timeout` seconds) and evaluates, oldest first, every checkpoint the
workdir lists that it has not evaluated, on the quick protocol of the config
(`config.eval.watch_num_samples` samples x `config.eval.watch_num_crops` crops per video; the
full protocol stays plain `eval.py`'s). It runs beside training on the same machine, or on
another reading the same `gs://` workdir, or after training (the listed checkpoints are all
evaluated). Into `W/eval_<subset>/`::

    events.out.tfevents.*  top1, top5, mean_class_accuracy and loss at each checkpoint's step
                           (`tensorboard --logdir=W` plots them next to W/train/)
    watch_state.json       every checkpoint evaluated, with its metrics (written atomically
                           after each evaluation, before anything else)
    best.json              the best so far: highest top-1, ties to the lower loss

With `--watch_export=DIR` each new best is exported to `DIR/<stream>` at once, before
retention (`config.train.max_checkpoints_to_keep`) can delete it. The watcher stops once the
training's last step (`config.train` duration, `training.schedules.duration_steps`) is
evaluated. Killed and restarted, it evaluates only checkpoints newer than the last in
watch_state.json, and rewrites from the state what a kill may have left out (the last
summaries, best.json, the export). A checkpoint deleted by retention before it is read is
skipped with a log line. Loss: the cross-entropy of the video scores
(`evaluation.metrics.cross_entropy`).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import shlex
from collections.abc import Sequence

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from evaluation import DEFAULT_WATCH_SUBSET, DEFAULT_WATCH_TIMEOUT_S, evaluate, export, metrics
from evaluation.aggregation import DEFAULT_VIEW_AGGREGATION
from input_pipeline import datasets
from models import builder
from tfrecords import manifest as manifest_lib
from training import checkpoints, schedules, summaries

WATCH_METRICS = ("top1", "top5", "mean_class_accuracy", "loss")
BEST_METRIC = "top1"
STATE_FILE = "watch_state.json"
BEST_FILE = "best.json"
DEFAULT_TIMEOUT_S = DEFAULT_WATCH_TIMEOUT_S
DEFAULT_SUBSET = DEFAULT_WATCH_SUBSET


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """One evaluated checkpoint: its path prefix, global step and `WATCH_METRICS` values."""

    checkpoint: str
    step: int
    metrics: dict[str, float]


@dataclasses.dataclass(frozen=True)
class WatchResult:
    """What one `watch` call did.

    Attributes:
      evaluated: checkpoints evaluated by this call, in order.
      skipped: checkpoints deleted before they could be read.
      best: the best of all evaluations in the state (None: none yet).
      finished: the training's last step was evaluated (False: the wait timed out).
    """

    evaluated: list[Evaluation]
    skipped: list[str]
    best: Evaluation | None
    finished: bool


def watch_dir(workdir: str, subset: str) -> str:
    """`W/eval_<subset>`, where the watcher writes."""
    return posixpath.join(workdir, f"eval_{subset}")


def quick_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with the eval views set to the watch protocol (`config.eval.watch_*`)."""
    quick = config.copy_and_resolve_references()
    quick.data.eval_num_samples = config.eval.watch_num_samples
    quick.data.eval_num_crops = config.eval.watch_num_crops
    return quick


def best_of(evaluations: Sequence[Evaluation]) -> Evaluation | None:
    """The highest top-1; ties go to the lower loss, then to the earlier checkpoint."""
    best = None
    for e in evaluations:
        key = (e.metrics[BEST_METRIC], -e.metrics["loss"])
        if best is None or key > (best.metrics[BEST_METRIC], -best.metrics["loss"]):
            best = e
    return best


def read_state(directory: str) -> list[Evaluation]:
    """The evaluations recorded in `directory/watch_state.json` (none if it is absent)."""
    path = posixpath.join(directory, STATE_FILE)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path, "r") as f:
        return [Evaluation(**entry) for entry in json.loads(f.read())["evaluated"]]


def _write_json(path: str, value: object) -> None:
    """Writes `value` as JSON atomically (temp file + rename): a kill leaves old or new."""
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps(value, indent=2, sort_keys=True))
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def watch_command(train_argv: Sequence[str], subset: str) -> str:
    """The `eval.py --watch` command for a `train.py` command line (argv[0] first).

    Keeps its --config (with every --config.* override: the watcher needs the run's duration
    and model), --workdir and --data_dir, in either `--flag=value` or `--flag value` form.
    """
    kept, take_next = [], False
    for arg in train_argv[1:]:
        name = arg.split("=", 1)[0]
        if take_next:
            kept.append(arg)
            take_next = False
        elif name in ("--config", "--workdir", "--data_dir") or name.startswith("--config."):
            kept.append(arg)
            take_next = "=" not in arg
    return shlex.join(["python", "eval.py", *kept, "--watch", f"--subset={subset}"])


def announcement(train_argv: Sequence[str], workdir: str, data_dir: str) -> str:
    """The line train.py logs: where the watcher writes and the command that starts it."""
    manifest = manifest_lib.read_manifest(data_dir, check_shards=False)
    subset = DEFAULT_SUBSET if DEFAULT_SUBSET in manifest.written else "test"
    hint = ""
    if subset != DEFAULT_SUBSET:
        hint = " (no val subset: write one with `python -m preprocessing --val_groups=3 ...`)"
    return (
        f"to watch {subset} accuracy while training{hint}, run in another shell: "
        f"{watch_command(train_argv, subset)}  -- it writes {watch_dir(workdir, subset)}/ "
        f"(TensorBoard next to train/: tensorboard --logdir={workdir})"
    )


class _Watcher:
    """The state of one watch: what is evaluated, the summary writer, the best so far."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        workdir: str,
        data_dir: str,
        manifest: manifest_lib.Manifest,
        subset: str,
        export_dir: str,
        view_aggregation: str,
        strategy: tf.distribute.Strategy,
    ):
        self.config, self.workdir, self.data_dir, self.subset = config, workdir, data_dir, subset
        self.export_dir, self.view_aggregation = export_dir, view_aggregation
        self.strategy = strategy
        self.quick = quick_config(config)
        self.out = watch_dir(workdir, subset)
        tf.io.gfile.makedirs(self.out)
        self.state = read_state(self.out)
        self.writer = tf.summary.create_file_writer(self.out)
        self.manifest = manifest

    def repair(self) -> None:
        """Writes what a kill after the state write may have left out (see module docstring)."""
        logged = summaries.read_scalars(self.workdir, posixpath.basename(self.out))
        for e in self.state:
            if e.step not in logged.get(BEST_METRIC, {}):
                logging.info("%s: summaries missing (killed?), written from the state", e.step)
                self._write_summaries(e)
        best = best_of(self.state)
        if best is not None and self._read_best() != best.checkpoint:
            self._new_best(best)

    def _read_best(self) -> str | None:
        path = posixpath.join(self.out, BEST_FILE)
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "r") as f:
            return json.loads(f.read())["checkpoint"]

    def _write_summaries(self, e: Evaluation) -> None:
        with self.writer.as_default(step=e.step):
            for name in WATCH_METRICS:
                tf.summary.scalar(name, e.metrics[name])
        self.writer.flush()

    def _new_best(self, best: Evaluation) -> None:
        """Exports `best` (if asked), then writes best.json: a kill in between re-exports."""
        logging.info(
            "best so far: %s (%s %.4f)", best.checkpoint, BEST_METRIC, best.metrics[BEST_METRIC]
        )
        if self.export_dir:
            self._export(best.checkpoint)
        data = self.quick.data
        _write_json(
            posixpath.join(self.out, BEST_FILE),
            {
                "checkpoint": best.checkpoint,
                "step": best.step,
                "metric": BEST_METRIC,
                "value": best.metrics[BEST_METRIC],
                "metrics": best.metrics,
                "subset": self.subset,
                "protocol": f"{data.eval_num_samples} samples x {data.eval_num_crops} crops, "
                f"{self.view_aggregation}",
            },
        )

    def _export(self, checkpoint: str) -> None:
        if not checkpoints.checkpoint_exists(checkpoint):
            logging.warning("%s: deleted before it could be exported; export skipped", checkpoint)
            return
        path = export.export_checkpoint(
            self.config, self.workdir, self.data_dir, checkpoint, self.export_dir
        )
        logging.info("exported the best checkpoint to %s", path)

    def open(self, path: str) -> tuple[keras.Model, int] | None:
        """Restores checkpoint `path`: (model, step), or None if retention deleted it first."""
        if not checkpoints.checkpoint_exists(path):
            logging.info("%s: deleted (retention) before it was read; skipped", path)
            return None
        try:
            with self.strategy.scope():
                model = checkpoints.restore_model(
                    self.config, self.workdir, self.manifest.num_classes, path
                )
            return model, checkpoints.checkpoint_step(path)
        except (checkpoints.CheckpointError, tf.errors.NotFoundError):
            if checkpoints.checkpoint_exists(path):
                raise
            logging.info("%s: deleted (retention) while it was read; skipped", path)
            return None

    def score(self, path: str, model: keras.Model, step: int) -> Evaluation:
        """`WATCH_METRICS` of `model` on the subset, with the quick protocol."""
        scores = evaluate.score_model(
            model,
            self.quick,
            self.data_dir,
            self.subset,
            path,
            step,
            progress=False,
            view_aggregation=self.view_aggregation,
            strategy=self.strategy,
        )
        names = list(scores.class_names)
        computed = metrics.compute_metrics(scores.labels, scores.scores, names)
        values = {name: float(computed[name]) for name in WATCH_METRICS if name != "loss"}
        values["loss"] = metrics.cross_entropy(scores.labels, scores.scores)
        return Evaluation(path, step, values)

    def record(self, e: Evaluation) -> None:
        """State first (the source of truth), then summaries, then best.json and export."""
        previous = best_of(self.state)
        self.state.append(e)
        _write_json(
            posixpath.join(self.out, STATE_FILE),
            {"subset": self.subset, "evaluated": [dataclasses.asdict(x) for x in self.state]},
        )
        self._write_summaries(e)
        logging.info(
            "step %d: %s",
            e.step,
            ", ".join(f"{name} {e.metrics[name]:.4f}" for name in WATCH_METRICS),
        )
        if best_of(self.state) is not previous:
            self._new_best(e)


def watch(
    config: ml_collections.ConfigDict,
    workdir: str,
    data_dir: str,
    subset: str = DEFAULT_SUBSET,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    export_dir: str = "",
    view_aggregation: str = DEFAULT_VIEW_AGGREGATION,
    strategy: tf.distribute.Strategy | None = None,
) -> WatchResult:
    """Evaluates each new checkpoint of `workdir` until the last step (module docstring).

    Args:
      config: the run's experiment config, with the same overrides as train.py's (its
        duration says which step is the last).
      workdir: the train.py workdir (local or gs://).
      data_dir: its data directory; `subset` must be in its manifest.
      subset: 'val' (training groups held out, `python -m preprocessing --val_groups`) or
        'test'.
      timeout_s: stop when no new checkpoint appears for this long.
      export_dir: export each new best to `export_dir/<stream>`; '' exports nothing.
      view_aggregation: 'mean' or 'vote' of a video's views.
      strategy: the replicas each checkpoint is scored on (`evaluate.score_model`); None:
        the default strategy.

    Raises:
      ManifestError: no manifest, or no `subset` in it (naming the flag that writes it).
      CheckpointError: a checkpoint that does not fit the config's model.
      ConfigError: a config value (duration, data) that cannot be used.
    """
    datasets.sample_spec(config)  # the config first: a bad value stops before any I/O
    builder.check_image_size(config)
    manifest = manifest_lib.read_manifest(data_dir)
    if subset not in manifest.written:
        raise manifest_lib.ManifestError(
            f"{posixpath.join(data_dir, manifest_lib.MANIFEST_FILE)}: no '{subset}' subset "
            f"(written: {sorted(manifest.written)}); write a val subset with `python -m "
            "preprocessing --val_groups=3 ...` or watch --subset=test"
        )
    total = schedules.duration_steps(
        config.train, "num", manifest.written.get(datasets.TRAIN_SUBSET, 0), required=True
    )
    watcher = _Watcher(
        config,
        workdir,
        data_dir,
        manifest,
        subset,
        export_dir,
        view_aggregation,
        strategy or tf.distribute.get_strategy(),
    )
    watcher.repair()
    evaluated: list[Evaluation] = []
    skipped: list[str] = []
    last = max((e.step for e in watcher.state), default=-1)
    # By name (ckpt-N): the same checkpoint whether --workdir is spelt relative or absolute.
    done = {posixpath.basename(e.checkpoint) for e in watcher.state}
    finished = last >= total
    logging.info(
        "watching %s for checkpoints up to step %d (%d evaluated before), writing %s",
        checkpoints.checkpoints_dir(workdir),
        total,
        len(watcher.state),
        watcher.out,
    )
    if not finished:
        for _ in tf.train.checkpoints_iterator(
            checkpoints.checkpoints_dir(workdir), timeout=timeout_s
        ):
            for path in checkpoints.all_checkpoints(workdir):
                if posixpath.basename(path) in done or path in skipped:
                    continue
                opened = watcher.open(path)
                if opened is None:
                    skipped.append(path)
                    continue
                done.add(posixpath.basename(path))
                model, step = opened
                if step <= last:
                    logging.info("%s: step %d, not after step %d; skipped", path, step, last)
                    continue
                e = watcher.score(path, model, step)
                watcher.record(e)
                evaluated.append(e)
                last = e.step
                if last >= total:
                    finished = True
                    break
            if finished:
                break
        else:
            logging.info("no new checkpoint for %.0f s; stopping at step %d", timeout_s, last)
    watcher.writer.close()
    best = best_of(watcher.state)
    if best is not None:
        logging.info(
            "best: %s, step %d, %s %.4f",
            best.checkpoint,
            best.step,
            BEST_METRIC,
            best.metrics[BEST_METRIC],
        )
    return WatchResult(evaluated, skipped, best, finished)
