"""Known answers of TSN's average consensus on a built model (models/consensus.py)."""

import numpy as np
import tensorflow as tf

from configs import base
from models import build_model, builder, consensus

K, B, CLASSES, SIZE = 3, 2, 5, 16


def _model():
    config = base.get_config()
    config.data.image_size = SIZE
    config.model.name = "tiny"
    config.model.weights = ""
    config.model.tiny_widths = (8, 16)
    return build_model(config, CLASSES)


def _images() -> np.ndarray:
    """[B x K, S, S, 3]: a horizontal ramp whose slope and offset differ per snippet, plus noise."""
    ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)[None, :, None]
    slopes = np.arange(B * K, dtype=np.float32)[:, None, None, None]
    noise = np.random.default_rng(1).uniform(0, 30, (B * K, SIZE, SIZE, 3))
    return (ramp * (30 * slopes + 40) + 5 * slopes + noise).astype(np.float32)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_consensus_is_softmax_of_the_mean_of_logits_computed_one_by_one():
    model, images = _model(), _images()
    logits_model = builder.logits_model(model)
    one_by_one = np.stack(
        [logits_model(images[i : i + 1], training=False).numpy()[0] for i in range(B * K)]
    )
    # The logits model is the model before its softmax.
    np.testing.assert_allclose(_softmax(one_by_one), model(images).numpy(), atol=1e-6)
    expected = _softmax(one_by_one.reshape(B, K, CLASSES).mean(axis=1))
    got = consensus.average_consensus(logits_model(images, training=False), K).numpy()
    assert got.shape == (B, CLASSES)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_each_snippet_receives_one_kth_of_the_consensus_gradient():
    logits = tf.constant(np.random.default_rng(0).normal(size=(B * K, CLASSES)), tf.float32)
    labels = tf.constant([1, 4])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = tf.keras.losses.sparse_categorical_crossentropy(
            labels, consensus.average_consensus(logits, K)
        )
    per_snippet = tape.gradient(loss, logits).numpy().reshape(B, K, CLASSES)
    # The gradient of the same loss with respect to the consensus logits, computed apart.
    mean = tf.constant(logits.numpy().reshape(B, K, CLASSES).mean(axis=1))
    with tf.GradientTape() as tape:
        tape.watch(mean)
        loss = tf.keras.losses.sparse_categorical_crossentropy(labels, tf.nn.softmax(mean))
    per_example = tape.gradient(loss, mean).numpy()
    assert np.abs(per_example).max() > 0.01
    for k in range(K):
        np.testing.assert_allclose(per_snippet[:, k], per_example / K, atol=1e-6)


def test_one_segment_is_the_models_own_output():
    model, images = _model(), _images()
    logits = builder.logits_model(model)(images)
    np.testing.assert_array_equal(consensus.average_consensus(logits, 1), model(images))
