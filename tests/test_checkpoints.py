import os

import numpy as np
import pytest
import tensorflow as tf

from configs import base
from models import build_model
from training import checkpoints


def _config():
    config = base.get_config()
    config.data.image_size = 16
    config.model.name = "tiny"
    config.model.weights = ""
    config.model.tiny_widths = (4,)
    return config


def _save(workdir: str, config, num_classes: int, step: int) -> tuple[str, object]:
    model = build_model(config, num_classes)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64), model=model)
    path = tf.train.CheckpointManager(checkpoint, checkpoints.checkpoints_dir(workdir), 3).save(
        checkpoint_number=step
    )
    return path, model


def test_restore_model_latest_and_given(tmp_path):
    workdir = str(tmp_path)
    first, _ = _save(workdir, _config(), 3, 5)
    latest, model = _save(workdir, _config(), 3, 9)
    assert checkpoints.latest_checkpoint(workdir) == latest
    assert (checkpoints.checkpoint_step(first), checkpoints.checkpoint_step(latest)) == (5, 9)
    config = _config()
    config.model.weights = "imagenet"  # ignored: the checkpoint holds every weight
    restored = checkpoints.restore_model(config, workdir, 3)
    for a, b in zip(restored.weights, model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    older = checkpoints.restore_model(_config(), workdir, 3, checkpoint=first)
    assert not np.array_equal(older.weights[0].numpy(), model.weights[0].numpy())


def test_restore_model_errors_name_the_fix(tmp_path):
    workdir = str(tmp_path)
    _save(workdir, _config(), 3, 1)
    with pytest.raises(checkpoints.CheckpointError, match="config the run saved"):
        checkpoints.restore_model(_config(), workdir, 7)  # other head size
    missing = os.path.join(checkpoints.checkpoints_dir(workdir), "ckpt-99")
    with pytest.raises(checkpoints.CheckpointError, match="ckpt-99.index"):
        checkpoints.restore_model(_config(), workdir, 3, checkpoint=missing)


def test_config_round_trip(tmp_path):
    config = _config()
    config.train.lr_boundaries = (3, 7)
    checkpoints.save_config(config, str(tmp_path / "w"))
    loaded = checkpoints.load_config(str(tmp_path / "w"))
    assert loaded.model.name == "tiny" and list(loaded.train.lr_boundaries) == [3, 7]
    missing = os.path.join(str(tmp_path), checkpoints.CONFIG_FILE)
    with pytest.raises(checkpoints.CheckpointError) as error:
        checkpoints.load_config(str(tmp_path))
    assert str(error.value).startswith(
        f"{missing}: not found; {tmp_path} is not a training run's workdir"
    )
