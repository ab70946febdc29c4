"""Backbones trained from scratch: Simonyan's CNN-M-2048 and a tiny CPU-sized CNN.

Both take normalized [B, S, S, C] input (C = 3 for RGB, 2L for flow) and are named
`backbones.BACKBONE_NAME`, like the Keras applications, so the builder and the fine-tuning
code treat every backbone alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from models.backbones import BACKBONE_NAME
from tfrecords.errors import ConfigError

CNN_M_MIN_SIZE = 75


def _conv_bn_relu(x, filters: int, size: int, stride: int, name: str):
    x = keras.layers.Conv2D(filters, size, strides=stride, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _ceil_max_pool(x, name: str):
    """3x3/2 max pooling with Caffe's ceil rounding (pads bottom/right by one if needed).

    The input follows a ReLU, so zero padding never changes a maximum.
    """
    size = x.shape[1]
    if (size - 3) % 2:
        x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name=name)(x)


def cnn_m_2048(image_size: int, channels: int, dropout: float) -> keras.Model:
    """Simonyan & Zisserman's CNN-M-2048, with batch norm where the paper has LRN.

    Layer sizes for 224x224 input (Caffe rounding, as the paper)::

      conv1 96 7x7/2 + BN + ReLU      -> 109x109x96,  pool 3x3/2 -> 54x54
      conv2 256 5x5/2 pad 1 + BN + ReLU -> 26x26x256, pool 3x3/2 -> 13x13
      conv3, conv4, conv5 512 3x3 pad 1 + ReLU -> 13x13x512, pool 3x3/2 -> 6x6x512
      fc6 4096 + ReLU + dropout, fc7 2048 + ReLU   (the shared head adds dropout + softmax)

    Args:
      image_size: input height = width, at least `CNN_M_MIN_SIZE`.
      channels: 3 (RGB) or 2L (flow).
      dropout: dropout rate after fc6 (the paper: 0.9 for the temporal net).

    Returns:
      A model mapping [B, S, S, channels] to [B, 2048] features.

    Raises:
      ValueError: `image_size` below `CNN_M_MIN_SIZE`.
    """
    if image_size < CNN_M_MIN_SIZE:
        raise ConfigError(
            f"config.data.image_size={image_size}: cnn_m_2048 needs at least {CNN_M_MIN_SIZE} "
            "pixels (use config.model.name='tiny' for small demo images)"
        )
    inputs = keras.Input((image_size, image_size, channels))
    x = _conv_bn_relu(inputs, 96, 7, 2, "conv1")
    x = _ceil_max_pool(x, "pool1")
    x = keras.layers.ZeroPadding2D(1, name="conv2_pad")(x)
    x = _conv_bn_relu(x, 256, 5, 2, "conv2")
    x = _ceil_max_pool(x, "pool2")
    for name in ("conv3", "conv4", "conv5"):
        x = keras.layers.Conv2D(512, 3, padding="same", activation="relu", name=name)(x)
    x = _ceil_max_pool(x, "pool5")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(dropout, name="fc6_dropout")(x)
    x = keras.layers.Dense(2048, activation="relu", name="fc7")(x)
    return keras.Model(inputs, x, name=BACKBONE_NAME)


def tiny_cnn(image_size: int, channels: int, widths: Sequence[int]) -> keras.Model:
    """A small CNN for demos and tests: per width, conv 3x3/2 + batch norm + ReLU.

    Args:
      image_size: input height = width.
      channels: 3 (RGB) or 2L (flow).
      widths: filters of each block; each block halves the resolution.

    Returns:
      A model mapping [B, S, S, channels] to [B, S / 2^n, S / 2^n, widths[-1]] (rounded up).

    Raises:
      ValueError: `widths` is empty or holds a non-positive value.
    """
    if not widths or min(widths) < 1:
        raise ConfigError(f"config.model.tiny_widths={tuple(widths)}: need positive widths")
    inputs = keras.Input((image_size, image_size, channels))
    x = inputs
    for index, width in enumerate(widths):
        x = keras.layers.Conv2D(
            width, 3, strides=2, padding="same", use_bias=False, name=f"block{index}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"block{index}_bn")(x)
        x = keras.layers.ReLU(name=f"block{index}_relu")(x)
    return keras.Model(inputs, x, name=BACKBONE_NAME)
