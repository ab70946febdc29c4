"""One builder for both streams: normalization, a backbone chosen by config, the shared head.

::

  image [B, S, S, C] in stored units (C = `Stream.channels(L)`: 3 spatial, 2L temporal; any
  dtype, uint8 works)
    -> RgbNormalization (backbone's input mode) | FlowNormalization (flow streams:
       dequantize, mean, `normalization.flow_scale` of the backbone's input mode)
    -> backbone (nested model named 'backbone')
    -> global average pooling (feature maps only) -> dropout -> dense 'logits' (float32)
    -> softmax 'probabilities'
  probabilities [B, num_classes]

Inference is `model(images, training=False)` (dropout off, batch norm on moving averages).
Training with TSN segments needs the class scores before the softmax (`logits_model`);
partial batch norm (`freeze_batch_norm_but_first`) chooses which batch-norm layers adapt.
"""

from __future__ import annotations

import keras
import ml_collections

from models import backbones, scratch
from models.normalization import FlowNormalization, RgbNormalization, flow_scale
from tfrecords import streams
from tfrecords.errors import ConfigError

SCRATCH_MODELS = ("cnn_m_2048", "tiny")
MODEL_NAMES = (*backbones.APPLICATIONS, *SCRATCH_MODELS)
# Input mode of the models trained from scratch: RGB (and flow) in [-1, 1].
SCRATCH_INPUT_MODE = "tf"
LOGITS = "logits"


def input_channels(config: ml_collections.ConfigDict) -> int:
    """Channels of the model input: 3 for the spatial stream, 2L for the temporal one.

    Raises:
      ConfigError: `config.stream` is not a stream (`tfrecords.streams.get`).
    """
    return streams.get(config.stream).channels(config.data.num_flow_frames)


def input_mode(name: str) -> str:
    """The RgbNormalization mode model `name` takes its input in ('tf' or 'caffe').

    An application's is the mode its ImageNet weights were trained with
    (`backbones.APPLICATIONS`); the models trained from scratch use SCRATCH_INPUT_MODE.
    """
    if name in backbones.APPLICATIONS:
        return backbones.APPLICATIONS[name][1]
    return SCRATCH_INPUT_MODE


def min_image_size(model: ml_collections.ConfigDict) -> int:
    """The smallest `config.data.image_size` model `model.name` can take.

    An application's is Keras' own minimum; cnn_m_2048's is `scratch.CNN_M_MIN_SIZE`; the
    tiny CNN's is 2^blocks, below which its last blocks see a 1x1 input.
    """
    if model.name in backbones.APPLICATION_MIN_SIZES:
        return backbones.APPLICATION_MIN_SIZES[model.name]
    if model.name == "cnn_m_2048":
        return scratch.CNN_M_MIN_SIZE
    return 2 ** len(model.tiny_widths)


def check_image_size(config: ml_collections.ConfigDict) -> None:
    """Refuses an input size the model cannot take, before any work.

    Raises:
      ConfigError: `config.data.image_size` below `min_image_size`, naming the key.
    """
    size, smallest = config.data.image_size, min_image_size(config.model)
    if isinstance(size, int) and size < smallest:
        raise ConfigError(
            f"config.data.image_size={size}: model {config.model.name!r} needs at least "
            f"{smallest} pixels; use --config.data.image_size={smallest} or more"
        )


def _backbone(config: ml_collections.ConfigDict, channels: int) -> keras.Model:
    model = config.model
    size = config.data.image_size
    if model.name in backbones.APPLICATIONS:
        return backbones.application_backbone(model.name, size, channels, model.weights)
    if model.weights:
        raise ConfigError(
            f"config.model.weights={model.weights!r}: {model.name} is trained from scratch; "
            "set --config.model.weights=''"
        )
    if model.name == "cnn_m_2048":
        return scratch.cnn_m_2048(size, channels, model.dropout)
    return scratch.tiny_cnn(size, channels, model.tiny_widths)


def build_model(config: ml_collections.ConfigDict, num_classes: int) -> keras.Model:
    """Builds the stream `config.stream` with backbone `config.model.name`.

    Reads `config.stream`, `config.data.image_size`, `config.data.num_flow_frames` and
    `config.model.{name, weights, dropout, mean_flow_subtraction, tiny_widths}`.

    Args:
      config: an experiment config (configs/*.py).
      num_classes: output size (the data directory manifest's `num_classes`).

    Returns:
      An uncompiled model [B, S, S, C] (stored units) -> [B, num_classes] float32
      probabilities.

    Raises:
      ValueError: unknown stream or model name, bad sizes, or weights given for a model
        trained from scratch.
      models.backbones.BackboneWeightsError: backbone weights cannot be loaded.
    """
    if config.model.name not in MODEL_NAMES:
        raise ConfigError(f"config.model.name={config.model.name!r}: not one of {MODEL_NAMES}")
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: need at least 2 classes")
    if not 0.0 <= config.model.dropout < 1.0:
        raise ConfigError(f"config.model.dropout={config.model.dropout}: must be in [0, 1)")
    check_image_size(config)
    stream = streams.get(config.stream)
    channels = stream.channels(config.data.num_flow_frames)
    mode = input_mode(config.model.name)
    size = config.data.image_size
    inputs = keras.Input((size, size, channels), name="image")
    if stream.flow:
        x = FlowNormalization(
            config.model.mean_flow_subtraction, flow_scale(mode), name="normalize_flow"
        )(inputs)
    else:
        x = RgbNormalization(mode, name="normalize_rgb")(inputs)
    x = _backbone(config, channels)(x)
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(config.model.dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name=LOGITS)(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=f"{config.stream}_{config.model.name}")


def logits_model(model: keras.Model) -> keras.Model:
    """The class scores before the softmax of a model from `build_model`, sharing its layers.

    Returns:
      A model [B, S, S, C] -> float32 [B, num_classes] logits.
    """
    return keras.Model(model.input, model.get_layer(LOGITS).output, name=f"{model.name}_logits")


def get_backbone(model: keras.Model) -> keras.Model:
    """Returns the nested backbone of a model from `build_model`."""
    return model.get_layer(backbones.BACKBONE_NAME)


def set_backbone_trainable(model: keras.Model, trainable: bool, after_layer: str = "") -> None:
    """Chooses which backbone layers train (the head always trains).

    Frozen batch-norm layers run on their moving averages (Keras semantics), as fine-tuning
    wants.

    Args:
      model: a model from `build_model`.
      trainable: False freezes the whole backbone (the head-only phase of fine-tuning).
      after_layer: with `trainable`, train only the backbone layers after this one (e.g.
        'mixed8' trains InceptionV3's top two blocks, as the seed); '' trains all.

    Raises:
      ValueError: `after_layer` is not a layer of the backbone.
    """
    backbone = get_backbone(model)
    names = [layer.name for layer in backbone.layers]
    first = 0
    if trainable and after_layer:
        if after_layer not in names:
            raise ConfigError(
                f"config.train.finetune_after_layer={after_layer!r}: not a layer of "
                f"{model.name}'s backbone; its last layers are {names[-8:]}"
            )
        first = names.index(after_layer) + 1
    backbone.trainable = trainable
    # Each layer explicitly: a container's flag does not reset layers frozen one by one.
    for index, layer in enumerate(backbone.layers):
        layer.trainable = trainable and index >= first


def freeze_batch_norm_but_first(model: keras.Model) -> None:
    """TSN's partial batch norm: every backbone batch-norm layer but the first is frozen.

    A frozen layer (Keras 3 `trainable=False`) normalizes with its moving statistics even in
    training and neither updates them nor trains its scale and offset, as TSN's PyTorch
    port does (`m.eval()` and `requires_grad = False` on weight and bias). The first layer
    in the backbone's layer order keeps the trainability `set_backbone_trainable` gave it:
    trained, it re-estimates its statistics on the new input (flow, a new image domain).
    Call after `set_backbone_trainable`; train functions built afterwards see the change.
    """
    layers = [
        layer
        for layer in get_backbone(model).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in layers[1:]:
        layer.trainable = False
