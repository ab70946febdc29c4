"""SavedModel export of one stream: uint8 frames in the stored format -> class probabilities.

The models normalize internally (configs/base.py), so serving takes exactly what the
records store and the input pipeline emits: spatial `uint8 [B, H, W, 3]` RGB, temporal
`uint8 [B, H, W, 2L]` flow stacks quantized as stored (x and y interleaved, zero motion ~128).

A SavedModel directory::

    saved_model.pb, variables/   signatures:
      serving_default   frames uint8 [B, H, W, C] -> probabilities float32 [B, num_classes]
      class_names       () -> class_names string [num_classes]
    class_names.txt               one class name per line, in label order

Reload with `tf.saved_model.load(path)`; `loaded.signatures['serving_default'](frames=...)`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

import keras
import tensorflow as tf

SERVING_INPUT = "frames"
SERVING_OUTPUT = "probabilities"
CLASS_NAMES_FILE = "class_names.txt"


class _Serving(tf.Module):
    """What the SavedModel tracks: the Keras model and the class names."""

    def __init__(self, model: keras.Model, class_names: Sequence[str]):
        super().__init__()
        self.model = model
        self.class_names = tf.Variable(list(class_names), trainable=False, dtype=tf.string)


def export_saved_model(
    model: keras.Model,
    export_dir: str,
    class_names: Sequence[str],
    image_size: int,
    channels: int,
) -> str:
    """Writes `model` as a SavedModel with a uint8 serving signature.

    Args:
      model: float32 [B, H, W, channels] in stored units -> probabilities [B, C].
      export_dir: SavedModel directory (any tf.io.gfile path; created, overwritten).
      class_names: C class names in label order.
      image_size: H = W of the model input.
      channels: 3 (spatial RGB) or 2L (temporal flow stack).

    Returns:
      `export_dir`.

    Raises:
      ValueError: the model's output width is not len(class_names).
    """
    outputs = model.output_shape[-1]
    if outputs != len(class_names):
        raise ValueError(
            f"the model has {outputs} outputs but the manifest lists {len(class_names)} "
            "classes; export with the --data_dir the model was trained on"
        )
    serving = _Serving(model, class_names)
    spec = tf.TensorSpec([None, image_size, image_size, channels], tf.uint8, SERVING_INPUT)

    @tf.function(input_signature=[spec])
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = serving.model(tf.cast(frames, tf.float32), training=False)
        return {SERVING_OUTPUT: probabilities}

    @tf.function(input_signature=[])
    def names() -> dict[str, tf.Tensor]:
        return {"class_names": serving.class_names.read_value()}

    tf.saved_model.save(
        serving, export_dir, signatures={"serving_default": serve, "class_names": names}
    )
    with tf.io.gfile.GFile(posixpath.join(export_dir, CLASS_NAMES_FILE), "w") as f:
        f.write("".join(f"{name}\n" for name in class_names))
    return export_dir
