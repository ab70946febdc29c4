"""Tests of the SavedModel export: uint8 signature, same probabilities as Keras, class names."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from evaluation import export

NAMES = ["ApplyEyeMakeup", "Archery", "YoYo"]


def _model(channels):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, channels))
    x = keras.layers.Rescaling(1 / 255.0, offset=-0.5)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.9)(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture(scope="module", params=[3, 20], ids=["spatial", "temporal"])
def exported(request, tmp_path_factory):
    model = _model(request.param)
    path = str(tmp_path_factory.mktemp("export") / "model")
    export.export_saved_model(model, path, NAMES, 8, request.param)
    return model, tf.saved_model.load(path), path, request.param


def test_reloaded_model_gives_the_keras_probabilities(exported):
    model, loaded, _, channels = exported
    frames = np.random.default_rng(0).integers(0, 256, (5, 8, 8, channels)).astype(np.uint8)
    serve = loaded.signatures["serving_default"]
    served = serve(frames=tf.constant(frames))["probabilities"].numpy()
    expected = model(frames.astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-6, atol=1e-7)
    # The same signature inside a tf.data map, one example at a time.
    mapped = tf.data.Dataset.from_tensor_slices(frames).map(
        lambda f: serve(frames=f[tf.newaxis])["probabilities"][0]
    )
    np.testing.assert_allclose(np.stack(list(mapped)), expected, rtol=1e-6, atol=1e-7)


def test_signature_takes_uint8_of_the_stream_shape(exported):
    _, loaded, _, channels = exported
    spec = loaded.signatures["serving_default"].structured_input_signature[1]["frames"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 8, 8, channels]
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):
        loaded.signatures["serving_default"](frames=tf.zeros([1, 8, 8, channels], tf.float32))


def test_class_names_in_signature_and_file(exported):
    _, loaded, path, _ = exported
    names = loaded.signatures["class_names"]()["class_names"].numpy()
    assert [n.decode() for n in names] == NAMES
    assert tf.io.gfile.GFile(f"{path}/class_names.txt").read().splitlines() == NAMES


def test_output_width_must_match_class_names(tmp_path):
    with pytest.raises(ValueError, match="3 outputs but the manifest lists 2"):
        export.export_saved_model(_model(3), str(tmp_path / "m"), NAMES[:2], 8, 3)
