"""The model's first layers: images in stored units in, backbone units out.

The input pipeline (and a future SavedModel) hands the model images in the units the records
store: RGB 0..255 in RGB order, flow quantized 0..255 (`tfrecords.schema.quantize_flow`).
Normalizing inside the model means training, evaluation and serving cannot disagree about
colour order or scale (the seed fed BGR at test time to a network trained on RGB).

Both layers are registered Keras layers with a `get_config`, so a saved model reloads without
custom-object plumbing, and both compute in float32 whatever the mixed-precision policy.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfrecords import schema

# Keras applications' `preprocess_input` modes, implemented as layers, with half the range
# each maps RGB 0..255 onto: 'tf' -> [-1, 1]; 'caffe' keeps 0..255 magnitudes (mean removed).
RGB_HALF_RANGE = {"tf": 1.0, "caffe": 255.0 / 2}
RGB_MODES = tuple(RGB_HALF_RANGE)
# Per-channel ImageNet means in BGR order, as `keras.applications.imagenet_utils` (caffe).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="two_stream")
class RgbNormalization(keras.layers.Layer):
    """RGB 0..255 in RGB order -> what a backbone was trained on.

    Modes follow `keras.applications.imagenet_utils.preprocess_input`:
      * `tf`: scale to [-1, 1] (InceptionV3, MobileNetV2, the from-scratch models).
      * `caffe`: RGB -> BGR, then subtract the ImageNet mean per channel (ResNet50).

    Input: [B, H, W, 3] of any real or integer dtype (uint8 works). Output: float32, same
    shape.
    """

    def __init__(self, mode: str, **kwargs):
        if mode not in RGB_MODES:
            raise ValueError(f"RGB normalization mode {mode!r}: expected one of {RGB_MODES}")
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Normalizes a batch of RGB images (see the class docstring)."""
        x = tf.cast(inputs, tf.float32)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        return x[..., ::-1] - tf.constant(CAFFE_BGR_MEAN, tf.float32)

    def get_config(self) -> dict:
        """Returns the layer's constructor arguments."""
        return {**super().get_config(), "mode": self.mode}


def flow_scale(mode: str) -> float:
    """The factor that puts flow in the RGB input range of a backbone of input mode `mode`.

    Flow enters as the backbone's RGB would: the clip bound +-schema.FLOW_BOUND pixels maps to
    the mode's half range, so 'tf' mode gives 1 / 20 (flow in [-1, 1]) and 'caffe' mode
    127.5 / 20 = 6.375 (TSN's units: quantized 0..255 flow minus 128).

    Raises:
      ValueError: `mode` is not one of RGB_MODES.
    """
    if mode not in RGB_HALF_RANGE:
        raise ValueError(f"RGB normalization mode {mode!r}: expected one of {RGB_MODES}")
    return RGB_HALF_RANGE[mode] / schema.FLOW_BOUND


@keras.saving.register_keras_serializable(package="two_stream")
class FlowNormalization(keras.layers.Layer):
    """Quantized flow stack -> scaled pixels of motion, optionally with its mean removed.

    Steps: `schema.dequantize_flow` (0..255 -> [-20, 20] pixels), then, with
    `mean_subtraction`, subtract each channel's spatial mean (Simonyan & Zisserman's mean
    displacement subtraction, which cancels camera motion per frame and direction), then
    multiply by `scale` so the values match the range the first convolution expects (the
    model builder passes `flow_scale` of the backbone's input mode).

    Input: [B, H, W, 2L] of any real or integer dtype, channels [x0, y0, x1, y1, ...].
    Output: float32, same shape.
    """

    def __init__(self, mean_subtraction: bool, scale: float, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean_subtraction = bool(mean_subtraction)
        self.scale = float(scale)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Normalizes a batch of flow stacks (see the class docstring)."""
        x = schema.dequantize_flow(inputs)
        if self.mean_subtraction:
            x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return x * self.scale

    def get_config(self) -> dict:
        """Returns the layer's constructor arguments."""
        return {
            **super().get_config(),
            "mean_subtraction": self.mean_subtraction,
            "scale": self.scale,
        }
