"""Keras applications backbones, their weights, and TSN cross-modality initialisation.

A backbone here is a Keras application without its top: [B, S, S, C] normalized images in,
a [B, h, w, D] feature map out (the shared head in `models/builder.py` pools it). Weights:

* `'imagenet'`: Keras downloads the `*_notop.h5` file into `~/.keras/models/` (needs network
  once; afterwards the cached file is used offline).
* a path (local or `gs://`) to weights of the same backbone without top: Keras's
  `*_notop.h5` download, or a file written by `backbone.save_weights('x.weights.h5')` or
  `backbone.save('x.keras')`.
* `''`: random initialisation.

Weights are always for 3-channel RGB input. A flow backbone (2L input channels) takes them
through TSN's cross-modality initialisation: every layer is copied except the first
convolution, whose kernel is averaged over its 3 input channels and replicated 2L times.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import warnings
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tfrecords.errors import ConfigError, UserError

# name -> (constructor, RgbNormalization mode its weights were trained with).
APPLICATIONS: dict[str, tuple[Callable[..., keras.Model], str]] = {
    "inception_v3": (keras.applications.InceptionV3, "tf"),
    "resnet50": (keras.applications.ResNet50, "caffe"),
    "mobilenet_v2": (keras.applications.MobileNetV2, "tf"),
}
# The smallest input side each application accepts (keras.applications' `min_size`).
APPLICATION_MIN_SIZES = {"inception_v3": 75, "resnet50": 32, "mobilenet_v2": 32}
IMAGENET = "imagenet"
BACKBONE_NAME = "backbone"


class BackboneWeightsError(UserError):
    """`config.model.weights` cannot be loaded (no network, missing or foreign file)."""


def _construct(name: str, input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    constructor, _ = APPLICATIONS[name]
    with warnings.catch_warnings():
        # Keras warns for every channel count but 1 or 3; 2L flow channels are intended.
        warnings.filterwarnings("ignore", message="This model usually expects")
        return constructor(
            include_top=False, weights=weights, input_shape=input_shape, name=BACKBONE_NAME
        )


def _imagenet_backbone(name: str, image_size: int) -> keras.Model:
    try:
        return _construct(name, (image_size, image_size, 3), IMAGENET)
    except Exception as e:
        # keras.utils.get_file wraps network failures in a bare Exception whose context is
        # the urllib error; anything else is not a download problem and propagates as is.
        cause = e if isinstance(e, OSError) else e.__context__
        if not isinstance(cause, OSError):
            raise
        raise BackboneWeightsError(
            f"config.model.weights='imagenet': could not download the {name} ImageNet weights "
            f"({e}). Without network access, fetch that file on a machine that has it and "
            f"either copy it into ~/.keras/models/ or pass its path with "
            f"--config.model.weights=/path/to/{name}_notop.h5 (use "
            f"--config.model.weights='' to train from random initialisation)."
        ) from e


def _file_backbone(name: str, image_size: int, path: str) -> keras.Model:
    if not tf.io.gfile.exists(path):
        raise BackboneWeightsError(
            f"config.model.weights={path!r}: no such file. Give 'imagenet', '' (random "
            f"initialisation) or the path of {name} weights without top (.h5, .weights.h5 "
            "or .keras)."
        )
    backbone = _construct(name, (image_size, image_size, 3), None)
    try:
        with tempfile.TemporaryDirectory() as local_dir:
            local = path
            if "://" in path:  # h5py reads local files only: copy gs:// and the like first
                local = os.path.join(local_dir, posixpath.basename(path))
                tf.io.gfile.copy(path, local)
            backbone.load_weights(local)
    except (ValueError, OSError, KeyError) as e:
        raise BackboneWeightsError(
            f"config.model.weights={path!r}: not weights of a {name} backbone without top "
            f"for 3-channel input ({e}). Save them with `backbone.save_weights(...)` from "
            f"keras.applications with include_top=False, or use Keras's {name} *_notop.h5."
        ) from e
    return backbone


def cross_modality_kernel(kernel: np.ndarray, channels: int) -> np.ndarray:
    """TSN cross-modality initialisation of a first-convolution kernel.

    Args:
      kernel: [kh, kw, 3, filters] RGB kernel.
      channels: input channels of the new kernel (2L for flow).

    Returns:
      [kh, kw, channels, filters]: every input channel holds the mean of the 3 RGB filters.
    """
    mean = np.mean(kernel, axis=2, keepdims=True)
    return np.repeat(mean, channels, axis=2)


def transfer_cross_modality(source: keras.Model, target: keras.Model) -> None:
    """Copies an RGB backbone's weights into the same backbone built for more channels.

    Layers are matched in order (auto-generated layer names differ between two builds).
    The first layer with weights must be a Conv2D: its kernel goes through
    `cross_modality_kernel`; every other tensor is copied unchanged.

    Raises:
      ValueError: the two models are not the same architecture.
    """
    source_layers = [layer for layer in source.layers if layer.weights]
    target_layers = [layer for layer in target.layers if layer.weights]
    if len(source_layers) != len(target_layers):
        raise ValueError(
            f"{source.name} has {len(source_layers)} layers with weights, {target.name} has "
            f"{len(target_layers)}: not the same architecture"
        )
    first = target_layers[0]
    if not isinstance(first, keras.layers.Conv2D):
        raise ValueError(f"first layer with weights of {target.name} is not a Conv2D: {first}")
    channels = first.kernel.shape[2]
    for index, (src, dst) in enumerate(zip(source_layers, target_layers, strict=True)):
        weights = src.get_weights()
        if index == 0:
            weights[0] = cross_modality_kernel(weights[0], channels)
        dst.set_weights(weights)


def application_backbone(name: str, image_size: int, channels: int, weights: str) -> keras.Model:
    """Builds a Keras application backbone without top, named `BACKBONE_NAME`.

    Args:
      name: a key of `APPLICATIONS`.
      image_size: input height = width.
      channels: 3 (RGB) or 2L (flow, cross-modality initialised when weights are given).
      weights: 'imagenet', a weights file path, or '' for random initialisation.

    Returns:
      A model mapping normalized [B, S, S, channels] to a [B, h, w, D] feature map.

    Raises:
      ValueError: unknown `name`.
      BackboneWeightsError: the weights cannot be obtained or do not fit (the message says
        how to provide a local file).
    """
    if name not in APPLICATIONS:
        raise ConfigError(f"config.model.name={name!r}: not one of {sorted(APPLICATIONS)}")
    shape = (image_size, image_size, channels)
    if not weights:
        return _construct(name, shape, None)
    if weights == IMAGENET:
        rgb = _imagenet_backbone(name, image_size)
    else:
        rgb = _file_backbone(name, image_size, weights)
    if channels == 3:
        return rgb
    backbone = _construct(name, shape, None)
    transfer_cross_modality(rgb, backbone)
    return backbone
