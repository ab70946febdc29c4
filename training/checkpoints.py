"""What a workdir holds, and how to save and restore it.

::

    W/config.json                 the resolved config of the latest run (flags applied)
    W/checkpoints/ckpt-<step>.*   tf.train.Checkpoint: step, model, optimizer
    W/train/events.out.tfevents.* TensorBoard summaries

A checkpoint's objects: `step` (int64 global step), `model` (the Keras model of
`models.build_model`) and `optimizer`. `restore_model` reads only `model`.
"""

from __future__ import annotations

import json
import posixpath

import keras
import ml_collections
import tensorflow as tf

from models import build_model
from tfrecords.errors import UserError
from training import CHECKPOINTS
from training import strategy as strategy_lib

CONFIG_FILE = "config.json"
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


class CheckpointError(UserError):
    """A workdir has no checkpoint, or one that does not fit the model being built."""


def checkpoints_dir(workdir: str) -> str:
    """The directory of a workdir's checkpoints."""
    return posixpath.join(workdir, CHECKPOINTS)


def latest_checkpoint(workdir: str) -> str | None:
    """Path prefix of the workdir's newest checkpoint, or None if it has none."""
    return tf.train.latest_checkpoint(checkpoints_dir(workdir))


def all_checkpoints(workdir: str) -> list[str]:
    """Path prefixes of the checkpoints `W/checkpoints/checkpoint` lists, oldest first.

    `Checkpointer` keeps the newest `config.train.max_checkpoints_to_keep` and deletes older
    ones as it saves, so a listed checkpoint may be gone by the time a reader opens it.
    """
    state = tf.train.get_checkpoint_state(checkpoints_dir(workdir))
    return list(state.all_model_checkpoint_paths) if state is not None else []


def checkpoint_exists(path: str) -> bool:
    """Whether the index and data files of checkpoint `path` (a prefix) are all there."""
    return bool(tf.io.gfile.glob(path + ".index")) and bool(tf.io.gfile.glob(path + ".data-*"))


def checkpoint_step(path: str) -> int:
    """The global step stored in a checkpoint (path prefix, e.g. W/checkpoints/ckpt-100)."""
    return int(tf.train.load_variable(path, STEP_KEY))


def save_config(config: ml_collections.ConfigDict, workdir: str) -> str:
    """Writes `W/config.json` (indented, keys sorted); returns its path."""
    tf.io.gfile.makedirs(workdir)
    path = posixpath.join(workdir, CONFIG_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    return path


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """Reads the config a training run saved in `W/config.json`.

    Raises:
      CheckpointError: the workdir has no config.json.
    """
    path = posixpath.join(workdir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise CheckpointError(
            f"{path}: not found; {workdir} is not a training run's workdir (train.py writes "
            f"{CONFIG_FILE} there when it starts)"
        )
    with tf.io.gfile.GFile(path, "r") as f:
        return ml_collections.ConfigDict(json.loads(f.read()))


def _resolve(workdir: str, checkpoint: str | None) -> str:
    if checkpoint is not None:
        if not tf.io.gfile.glob(checkpoint + ".index"):
            raise CheckpointError(
                f"checkpoint {checkpoint!r}: no {checkpoint}.index; give a path prefix such "
                f"as {checkpoints_dir(workdir)}/ckpt-1000"
            )
        return checkpoint
    path = latest_checkpoint(workdir)
    if path is None:
        raise CheckpointError(
            f"{checkpoints_dir(workdir)}: no checkpoint. Train first with "
            f"`python train.py --config=... --workdir={workdir} --data_dir=...`."
        )
    return path


def restore_model(
    config: ml_collections.ConfigDict,
    workdir: str,
    num_classes: int,
    checkpoint: str | None = None,
) -> keras.Model:
    """Builds the model of `config` and loads a checkpoint's model weights into it.

    The model is built without backbone weights (`config.model.weights` is ignored: the
    checkpoint holds every weight), in float32 whatever policy trained it.

    Args:
      config: the training config (e.g. `load_config(workdir)` or the same config file).
      workdir: the training workdir.
      num_classes: the manifest's number of classes.
      checkpoint: a checkpoint path prefix; None takes the workdir's latest.

    Returns:
      The model with restored weights; run inference with `model(images, training=False)`.

    Raises:
      CheckpointError: no such checkpoint, or it does not match the model `config` builds.
    """
    path = _resolve(workdir, checkpoint)
    config = config.copy_and_resolve_references()
    config.model.weights = ""
    model = build_model(config, num_classes)
    try:
        tf.train.Checkpoint(model=model).restore(
            path
        ).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as e:
        raise CheckpointError(
            f"{path}: does not match the {model.name} model this config builds with "
            f"{num_classes} classes ({e}); use the config the run saved in "
            f"{posixpath.join(workdir, CONFIG_FILE)}"
        ) from e
    return model


class Checkpointer:
    """Saves and restores a run's `tf.train.Checkpoint` in its workdir.

    Under multi-worker training every worker saves (the variables are synced by
    collectives), but only the chief into `W/checkpoints`; the others write to a private
    directory deleted right after, as the TF multi-worker guide prescribes. All restore
    from `W/checkpoints`, so the workdir must be shared (e.g. gs://).
    """

    def __init__(
        self,
        workdir: str,
        strategy: tf.distribute.Strategy,
        checkpoint: tf.train.Checkpoint,
        max_to_keep: int,
    ):
        self._workdir = workdir
        self._checkpoint = checkpoint
        self._chief = strategy_lib.is_chief(strategy)
        directory = checkpoints_dir(workdir)
        if not self._chief:
            task_type, task_id = strategy_lib.task_of(strategy)
            directory = posixpath.join(workdir, f"tmp_checkpoints_{task_type}_{task_id}")
        self._directory = directory
        self._manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep)

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint of the workdir; returns its path (None: fresh run).

        Raises:
          CheckpointError: the checkpoint does not match the objects of this run.
        """
        path = latest_checkpoint(self._workdir)
        if path is None:
            return None
        try:
            self._checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError) as e:
            raise CheckpointError(
                f"{path}: does not match this run's model or optimizer ({e}). Resume with "
                f"the config saved in {posixpath.join(self._workdir, CONFIG_FILE)}, or train "
                "in a new workdir."
            ) from e
        return path

    def save(self, step: int) -> str:
        """Saves the checkpoint numbered `step`; returns its path (the chief's)."""
        path = self._manager.save(checkpoint_number=step)
        if not self._chief:
            tf.io.gfile.rmtree(self._directory)
        return path
