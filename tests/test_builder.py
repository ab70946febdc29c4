import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import base, demo_spatial, demo_temporal
from models import backbones, build_model, builder, normalization, scratch
from tfrecords.errors import ConfigError

# Backbone feature shapes for 224x224 input.
FEATURES_224 = {
    "inception_v3": (5, 5, 2048),
    "resnet50": (7, 7, 2048),
    "mobilenet_v2": (7, 7, 1280),
    "cnn_m_2048": (2048,),
    "tiny": (28, 28, 64),
}


def _config(stream: str, name: str, size: int = 224):
    config = base.get_config()
    config.stream = stream
    config.model.name = name
    config.model.weights = ""
    config.data.image_size = size
    return config


@pytest.mark.parametrize(
    "stream, channels, name",
    [("spatial", 3, name) for name in sorted(FEATURES_224) if name != "cnn_m_2048"]
    + [("temporal", 20, name) for name in sorted(FEATURES_224)],
)
def test_every_model_builds_for_224(stream, channels, name):
    model = build_model(_config(stream, name), num_classes=101)
    assert model.input_shape == (None, 224, 224, channels)
    assert model.output_shape == (None, 101)
    backbone = builder.get_backbone(model)
    assert backbone.output_shape == (None, *FEATURES_224[name])
    if name == "cnn_m_2048":  # the paper's sizes (Caffe rounding)
        assert backbone.get_layer("pool1").output.shape == (None, 54, 54, 96)
        assert backbone.get_layer("pool5").output.shape == (None, 6, 6, 512)


@pytest.mark.parametrize("get_config, channels", [(demo_spatial, 3), (demo_temporal, 20)])
def test_demo_models_run_on_stored_units_eagerly_and_in_tf_data(get_config, channels):
    config = get_config.get_config()
    size = config.data.image_size
    model = build_model(config, num_classes=9)
    assert model.input_shape == (None, size, size, channels)
    images = np.random.default_rng(0).integers(0, 256, (3, size, size, channels), np.uint8)
    eager = model(images, training=False).numpy()
    assert eager.shape == (3, 9)
    np.testing.assert_allclose(eager.sum(axis=1), 1.0, rtol=1e-5)
    # Inference is deterministic (dropout off).
    np.testing.assert_array_equal(model(images, training=False).numpy(), eager)
    mapped = tf.data.Dataset.from_tensors(images).map(lambda x: model(x, training=False))
    np.testing.assert_allclose(next(iter(mapped)).numpy(), eager, rtol=1e-5, atol=1e-6)


# The flow scales configs/base.py and configs/temporal.py stated by hand before they were
# derived: 1/20 for 'tf'-mode models, 255/40 (TSN's units) for the 'caffe'-mode ResNet50.
HAND_COMPUTED_FLOW_SCALE = {
    "inception_v3": 255.0 / 40.0 / 127.5,
    "resnet50": 255.0 / 40.0,
    "mobilenet_v2": 255.0 / 40.0 / 127.5,
    "cnn_m_2048": 0.05,
    "tiny": 0.05,
}


@pytest.mark.parametrize("name", builder.MODEL_NAMES)
def test_derived_flow_scale_equals_the_hand_computed_one(name):
    # Equal as floats, so FlowNormalization's outputs are unchanged bit for bit.
    assert normalization.flow_scale(builder.input_mode(name)) == HAND_COMPUTED_FLOW_SCALE[name]


def test_temporal_model_normalizes_flow_with_the_derived_scale():
    model = build_model(_config("temporal", "tiny", 32), 4)
    layer = model.get_layer("normalize_flow")
    assert isinstance(layer, normalization.FlowNormalization)
    assert layer.scale == 0.05 and layer.mean_subtraction
    spatial = build_model(_config("spatial", "tiny", 32), 4).get_layer("normalize_rgb")
    assert isinstance(spatial, normalization.RgbNormalization) and spatial.mode == "tf"


def test_dropout_is_active_only_in_training():
    config = _config("spatial", "tiny", 32)
    config.model.dropout = 0.5
    model = build_model(config, 4)
    images = np.full((8, 32, 32, 3), 200, np.uint8)
    keras.utils.set_random_seed(0)
    assert not np.allclose(model(images, training=True), model(images, training=True))
    np.testing.assert_array_equal(model(images, training=False), model(images, training=False))


def test_builder_passes_weights_path_to_the_backbone(tmp_path):
    # Loading and cross-modality copying are tested in test_backbones.py.
    config = _config("temporal", "mobilenet_v2", 32)
    config.model.weights = str(tmp_path / "missing.weights.h5")
    with pytest.raises(backbones.BackboneWeightsError, match="missing.weights.h5"):
        build_model(config, 5)


def test_set_backbone_trainable_phases():
    model = build_model(_config("spatial", "tiny", 32), 4)
    head = {"logits/kernel", "logits/bias"}
    builder.set_backbone_trainable(model, False)
    assert {v.path for v in model.trainable_variables} == head
    builder.set_backbone_trainable(model, True, "block1_relu")
    trainable = {v.path for v in model.trainable_variables} - head
    assert trainable and all(path.startswith("block2") for path in trainable)
    builder.set_backbone_trainable(model, True)
    assert len(model.trainable_variables) == len(head) + 3 * 3  # conv kernel, gamma, beta
    with pytest.raises(ValueError, match="finetune_after_layer='mixed8'"):
        builder.set_backbone_trainable(model, True, "mixed8")


def test_mixed_precision_model_outputs_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_model(_config("temporal", "tiny", 32), 4)
        out = model(np.full((2, 32, 32, 20), 128, np.uint8), training=False)
    finally:
        keras.config.set_dtype_policy(previous)
    assert out.dtype == tf.float32


@pytest.mark.parametrize(
    "change, match",
    [
        ({"model.name": "vgg16"}, "config.model.name='vgg16'"),
        ({"stream": "audio"}, "config.stream='audio'"),
        ({"model.name": "cnn_m_2048", "data.image_size": 64}, "at least 75"),
        ({"model.weights": "imagenet"}, "trained from scratch"),
        ({"model.dropout": 1.0}, "config.model.dropout=1.0"),
        ({"model.tiny_widths": ()}, "tiny_widths"),
    ],
)
def test_bad_configs_name_the_key(change, match):
    config = _config("spatial", "tiny", 32)
    for key, value in change.items():
        section, _, field = key.rpartition(".")
        (config[section] if section else config)[field] = value
    with pytest.raises(ValueError, match=match):
        build_model(config, 4)


def test_cnn_m_minimum_size_builds():
    model = scratch.cnn_m_2048(scratch.CNN_M_MIN_SIZE, 3, 0.5)
    assert model.output_shape == (None, 2048)


def test_partial_bn_leaves_the_application_backbones_first_batch_norm_training():
    model = build_model(_config("temporal", "mobilenet_v2", 32), 4)
    builder.set_backbone_trainable(model, True)
    builder.freeze_batch_norm_but_first(model)
    layers = builder.get_backbone(model).layers
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) > 40
    # The one that adapts normalizes the first convolution (the cross-modality one).
    assert [layer.name for layer in norms if layer.trainable] == ["bn_Conv1"]
    assert layers[layers.index(norms[0]) - 1].name == "Conv1"
    assert all(layer.trainable for layer in layers if layer not in norms)


@pytest.mark.parametrize("name", sorted(backbones.APPLICATIONS))
def test_application_min_sizes_are_keras_own(name):
    """Keras refuses one pixel less than APPLICATION_MIN_SIZES (before building anything)."""
    assert set(backbones.APPLICATION_MIN_SIZES) == set(backbones.APPLICATIONS)
    size = backbones.APPLICATION_MIN_SIZES[name]
    constructor, _ = backbones.APPLICATIONS[name]
    with pytest.raises(ValueError, match=f"Input size must be at least {size}x{size}"):
        constructor(include_top=False, weights=None, input_shape=(size - 1, size - 1, 3))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"data.image_size": 2},
            "config.data.image_size=2: model 'tiny' needs at least 8 pixels; use "
            "--config.data.image_size=8 or more",
        ),
        ({"data.image_size": 8}, None),  # three blocks: 8 -> 4 -> 2 -> 1
        (
            {"model.name": "cnn_m_2048", "data.image_size": 74},
            "config.data.image_size=74: model 'cnn_m_2048' needs at least 75 pixels",
        ),
        (
            {"model.name": "resnet50", "data.image_size": 31},
            "config.data.image_size=31: model 'resnet50' needs at least 32 pixels",
        ),
    ],
)
def test_image_size_below_the_model_minimum_is_a_config_error(overrides, message):
    config = demo_temporal.get_config()
    for key, value in overrides.items():
        section, field = key.split(".")
        config[section][field] = value
    if message is None:
        builder.check_image_size(config)
        return
    with pytest.raises(ConfigError) as error:
        builder.check_image_size(config)
    assert str(error.value).startswith(message)
