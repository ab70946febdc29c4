import os
import sys
from unittest import mock

import pytest
from absl import flags
from ml_collections import config_flags

from configs import spatial, temporal
from input_pipeline import datasets
from models import builder
from training import loop, schedules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [
    "spatial.py",
    "spatial.py:tsn",
    "temporal.py",
    "temporal.py:tsn",
    "temporal.py:inception_v3",
    "temporal.py:resnet50",
    "temporal.py:mobilenet_v2",
    "demo_spatial.py",
    "demo_temporal.py",
]


def _load(name: str, *overrides: str):
    """Loads a config as train.py does, with command-line overrides."""
    argv = ["train.py", f"--config={os.path.join(REPO, 'configs', name)}", *overrides]
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, flag_values=flag_values, lock_config=True)
    # config_flags reads the overrides from sys.argv.
    with mock.patch.object(sys, "argv", argv):
        flag_values(argv)
    return flag_values.config


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_loads_and_its_values_are_usable(name):
    config = _load(name)
    assert config.model.name in builder.MODEL_NAMES
    channels = builder.input_channels(config)
    assert channels == (3 if config.stream == "spatial" else 2 * config.data.num_flow_frames)
    datasets.sample_spec(config)  # the input pipeline accepts the data block
    loop.check_train_config(config.train, num_replicas=1)
    total = schedules.duration_steps(config.train, "num", 9537, required=True)
    head = schedules.duration_steps(config.train, "head_only", 9537, required=False)
    assert head < total
    schedules.learning_rate_schedule(config.train, head)


def test_paper_settings():
    temporal = _load("temporal.py")
    assert (temporal.model.name, temporal.data.num_flow_frames) == ("cnn_m_2048", 10)
    assert temporal.train.optimizer == "sgd" and temporal.train.momentum == 0.9
    assert temporal.train.learning_rate == 1e-2 and temporal.train.lr_decay_factor == 0.1
    assert temporal.train.batch_size == temporal.train.reference_batch_size == 256
    spatial = _load("spatial.py")
    assert spatial.train.head_only_steps > 0 and spatial.train.finetune_after_layer == "mixed8"


# The learning rate each config runs at its own batch: what it was before learning rates were
# given per reference batch (the demos' numbers must not move).
@pytest.mark.parametrize(
    "name, learning_rate",
    [
        ("spatial.py", 1e-3),
        ("spatial.py:tsn", 1.25e-4),
        ("temporal.py:tsn", 6.25e-4),
        ("temporal.py", 1e-2),
        ("temporal.py:inception_v3", 1.25e-3),
        ("temporal.py:resnet50", 1.25e-3),
        ("temporal.py:mobilenet_v2", 1.25e-3),
        ("demo_spatial.py", 0.05),
        ("demo_temporal.py", 0.05),
    ],
)
def test_learning_rate_at_each_configs_own_batch(name, learning_rate):
    train = _load(name).train
    assert schedules.scaled_learning_rate(train, "learning_rate") == learning_rate


def test_backbone_variants_give_tsns_rate_at_its_batch():
    train = _load("temporal.py:resnet50").train
    assert (train.learning_rate, train.reference_batch_size, train.batch_size) == (5e-3, 256, 64)


@pytest.mark.parametrize("name", ["demo_spatial.py", "demo_temporal.py"])
def test_demo_configs_are_cpu_sized(name):
    config = _load(name)
    assert config.model.name == "tiny" and config.model.weights == ""
    assert config.data.image_size <= 112


def test_every_value_is_overridable_from_the_command_line():
    config = _load(
        "demo_temporal.py",
        "--config.train.batch_size=8",
        "--config.train.lr_boundaries=(10,20)",
        "--config.model.name=resnet50",
        "--config.data.num_flow_frames=5",
    )
    assert config.train.batch_size == 8
    assert tuple(config.train.lr_boundaries) == (10, 20)
    assert config.model.name == "resnet50"
    assert builder.input_channels(config) == 10


def test_unknown_temporal_variant():
    with pytest.raises(ValueError, match="temporal.py:vgg16"):
        temporal.get_config("vgg16")


@pytest.mark.parametrize(
    "name, dropout, flow_frames, boundaries, steps",
    [
        # TSN at batch 256: RGB x0.1 after 2,000 and 4,000 of 4,500 iterations, flow after
        # 12,000 and 18,000 of 20,000; here at batch 32, 8 times the steps (same examples).
        ("spatial.py:tsn", 0.8, 10, (16000, 32000), 36000),
        ("temporal.py:tsn", 0.7, 5, (96000, 144000), 160000),
    ],
)
def test_tsn_recipe(name, dropout, flow_frames, boundaries, steps):
    config = _load(name)
    assert (config.data.num_segments, config.train.partial_bn) == (3, True)
    assert (config.model.name, config.model.weights) == ("inception_v3", "imagenet")
    assert config.model.dropout == dropout and config.data.num_flow_frames == flow_frames
    assert tuple(config.train.lr_boundaries) == boundaries and config.train.num_steps == steps
    assert config.train.head_only_steps == 0 and config.train.finetune_after_layer == ""
    assert (config.data.eval_num_samples, config.data.eval_num_crops) == (25, 10)
    for other in ("spatial.py", "temporal.py", "temporal.py:resnet50"):
        assert (_load(other).data.num_segments, _load(other).train.partial_bn) == (1, False)


def test_unknown_spatial_variant():
    with pytest.raises(ValueError, match="spatial.py:tns"):
        spatial.get_config("tns")
