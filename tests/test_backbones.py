import urllib.request

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import backbones

SIZE = 32  # MobileNetV2's smallest input: fast to build


def _first_conv(model: keras.Model) -> np.ndarray:
    return next(layer for layer in model.layers if layer.weights).get_weights()[0]


def _rgb_backbone() -> keras.Model:
    keras.utils.set_random_seed(1)
    return backbones.application_backbone("mobilenet_v2", SIZE, 3, "")


def test_cross_modality_kernel_known_answer():
    kernel = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 2, 3, 4)
    out = backbones.cross_modality_kernel(kernel, 20)
    assert out.shape == (2, 2, 20, 4)
    # kernel[i, j, c, f] = 24 i + 12 j + 4 c + f: the mean over c is 24 i + 12 j + 4 + f.
    expected = 24 * np.arange(2)[:, None, None] + 12 * np.arange(2)[None, :, None]
    expected = expected + 4 + np.arange(4)[None, None, :]
    for channel in range(20):
        np.testing.assert_allclose(out[:, :, channel, :], expected)


def _assert_same_weights(got: keras.Model, want: keras.Model, skip_first: bool = False) -> None:
    pairs = list(zip(got.weights, want.weights, strict=True))
    for a, b in pairs[1:] if skip_first else pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("filename, remote", [("rgb.keras", False), ("rgb.h5", True)])
def test_weights_file_formats_local_and_remote(tmp_path, filename, remote):
    source = _rgb_backbone()
    path = str(tmp_path / filename)
    source.save(path)  # .keras archive, or legacy HDF5 (the format of Keras downloads)
    if remote:  # TF's in-memory filesystem stands in for gs://
        remote_path = f"ram://{tmp_path.name}/{filename}"
        tf.io.gfile.copy(path, remote_path)
        path = remote_path
    _assert_same_weights(backbones.application_backbone("mobilenet_v2", SIZE, 3, path), source)


def test_local_weights_file_rgb_and_cross_modality(tmp_path):
    source = _rgb_backbone()
    path = str(tmp_path / "rgb.weights.h5")
    source.save_weights(path)
    _assert_same_weights(backbones.application_backbone("mobilenet_v2", SIZE, 3, path), source)

    flow = backbones.application_backbone("mobilenet_v2", SIZE, 20, path)
    first = _first_conv(flow)
    assert first.shape[2] == 20
    mean = _first_conv(source).mean(axis=2)
    for channel in range(20):
        np.testing.assert_allclose(first[:, :, channel, :], mean, rtol=1e-6, atol=1e-7)
    _assert_same_weights(flow, source, skip_first=True)  # every other tensor copied as is


def test_imagenet_without_network_says_how_to_use_a_local_file(tmp_path, monkeypatch):
    # An empty Keras cache and a proxy that refuses connections: no way to get the file.
    monkeypatch.setattr(keras.src.backend.config, "_KERAS_DIR", str(tmp_path))
    dead = urllib.request.ProxyHandler(
        {"http": "http://127.0.0.1:9", "https": "http://127.0.0.1:9"}
    )
    monkeypatch.setattr(urllib.request, "_opener", urllib.request.build_opener(dead))
    with pytest.raises(backbones.BackboneWeightsError) as error:
        backbones.application_backbone("mobilenet_v2", SIZE, 3, "imagenet")
    message = str(error.value)
    assert "config.model.weights='imagenet'" in message
    assert "--config.model.weights=/path/to/" in message
    assert "~/.keras/models" in message


def test_missing_weights_file(tmp_path):
    path = str(tmp_path / "nope.h5")
    with pytest.raises(backbones.BackboneWeightsError, match="no such file"):
        backbones.application_backbone("mobilenet_v2", SIZE, 3, path)


def test_foreign_weights_file(tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    with pytest.raises(backbones.BackboneWeightsError, match="not weights of a mobilenet_v2"):
        backbones.application_backbone("mobilenet_v2", SIZE, 3, path)


def test_unknown_backbone():
    with pytest.raises(ValueError, match="config.model.name='vgg16'"):
        backbones.application_backbone("vgg16", SIZE, 3, "")


def test_transfer_rejects_other_architecture():
    source = _rgb_backbone()
    inputs = keras.Input((SIZE, SIZE, 20))
    target = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="not the same architecture"):
        backbones.transfer_cross_modality(source, target)
