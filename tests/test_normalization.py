import keras
import numpy as np
import pytest
import tensorflow as tf

from models.normalization import (
    RGB_HALF_RANGE,
    RGB_MODES,
    FlowNormalization,
    RgbNormalization,
    flow_scale,
)
from tfrecords import schema


def _rgb_batch() -> np.ndarray:
    return np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3) * 3


@pytest.mark.parametrize(
    "mode, reference",
    [
        ("tf", keras.applications.inception_v3.preprocess_input),
        ("caffe", keras.applications.resnet50.preprocess_input),
        ("tf", keras.applications.mobilenet_v2.preprocess_input),
    ],
)
def test_rgb_matches_keras_preprocess_input(mode, reference):
    images = _rgb_batch()
    expected = reference(images.astype(np.float32).copy())
    layer = RgbNormalization(mode)
    np.testing.assert_allclose(layer(images).numpy(), expected, atol=1e-4)
    mapped = tf.data.Dataset.from_tensors(images).map(layer)
    np.testing.assert_allclose(next(iter(mapped)).numpy(), expected, atol=1e-4)


def test_rgb_known_values():
    pixel = np.array([[[[0, 127.5, 255]]]], np.float32)
    np.testing.assert_allclose(RgbNormalization("tf")(pixel).numpy(), [[[[-1, 0, 1]]]])
    # caffe: BGR order, ImageNet BGR mean subtracted.
    np.testing.assert_allclose(
        RgbNormalization("caffe")(pixel).numpy(),
        [[[[255 - 103.939, 127.5 - 116.779, 0 - 123.68]]]],
        atol=1e-4,
    )


@pytest.mark.parametrize("mode", RGB_MODES)
def test_half_range_is_what_each_mode_makes_of_rgb(mode):
    # Black and white per channel: the mode maps 0..255 onto a span of twice the half range.
    pixels = np.array([[[[0, 0, 0]], [[255, 255, 255]]]], np.float32)
    black, white = RgbNormalization(mode)(pixels).numpy()[0, :, 0]
    np.testing.assert_allclose(white - black, 2 * RGB_HALF_RANGE[mode], rtol=1e-6)


def test_flow_scale_maps_the_clip_bound_to_the_modes_half_range():
    # Known answers: the scales the configs used to state by hand.
    assert flow_scale("tf") == 0.05 == 1 / 20
    assert flow_scale("caffe") == 6.375 == 255.0 / 40.0
    with pytest.raises(ValueError, match="torch"):
        flow_scale("torch")
    # The clip bound (quantized 255, zero mean removed) lands on the half range.
    bound = np.full((1, 1, 1, 2), 255, np.uint8)
    for mode in RGB_MODES:
        out = FlowNormalization(False, flow_scale(mode))(bound).numpy()
        np.testing.assert_allclose(out, RGB_HALF_RANGE[mode], rtol=1e-6)


def test_rgb_rejects_unknown_mode():
    with pytest.raises(ValueError, match="torch"):
        RgbNormalization("torch")


def test_flow_dequantizes_subtracts_mean_and_scales():
    # Channel 0 (x): quantized 0 and 255 -> -20 and +20 px, mean 0.
    # Channel 1 (y): constant 255 -> +20 px everywhere, mean 20 -> 0 after subtraction.
    flow = np.zeros((1, 1, 2, 2), np.uint8)
    flow[0, 0, :, 0] = [0, 255]
    flow[0, 0, :, 1] = 255
    with_mean = FlowNormalization(mean_subtraction=True, scale=0.5)
    without = FlowNormalization(mean_subtraction=False, scale=0.5)
    np.testing.assert_allclose(with_mean(flow).numpy()[0, 0], [[-10, 0], [10, 0]], atol=1e-5)
    np.testing.assert_allclose(without(flow).numpy()[0, 0], [[-10, 10], [10, 10]], atol=1e-5)
    mapped = tf.data.Dataset.from_tensors(flow).map(with_mean)
    np.testing.assert_allclose(next(iter(mapped)).numpy(), with_mean(flow).numpy())


def test_flow_inverts_schema_quantization():
    pixels = np.array([-20.0, -3.0, 0.0, 7.5, 20.0], np.float32).reshape(1, 1, 5, 1)
    quantized = schema.quantize_flow(pixels)
    restored = FlowNormalization(mean_subtraction=False, scale=1.0)(quantized).numpy()
    np.testing.assert_allclose(restored, pixels, atol=20.0 / 255.0 + 1e-6)


def test_layers_serialize():
    for layer in (RgbNormalization("caffe"), FlowNormalization(True, 0.05)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert clone.get_config() == layer.get_config()


def test_compute_in_float32_under_mixed_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        out = FlowNormalization(True, 0.05)(np.full((1, 2, 2, 2), 130, np.uint8))
    finally:
        keras.config.set_dtype_policy(previous)
    assert out.dtype == tf.float32
