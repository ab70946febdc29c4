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
import ml_collections
import tensorflow as tf

from models import builder
from tfrecords import manifest as manifest_lib
from training import checkpoints

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


def export_checkpoint(
    config: ml_collections.ConfigDict,
    workdir: str,
    data_dir: str,
    checkpoint: str,
    export_dir: str,
) -> str:
    """Restores a checkpoint of `workdir` and exports it to `export_dir/<config.stream>`.

    Args:
      config: the stream's experiment config.
      workdir: the train.py workdir.
      data_dir: data directory whose manifest gives the class names.
      checkpoint: checkpoint path prefix; '' takes the latest.
      export_dir: parent directory of the per-stream SavedModels.

    Returns:
      The SavedModel directory.

    Raises:
      CheckpointError: no checkpoint, or one that does not fit the config's model.
      ManifestError: no usable manifest in `data_dir`.
    """
    manifest = manifest_lib.read_manifest(data_dir, check_shards=False)
    model = checkpoints.restore_model(config, workdir, manifest.num_classes, checkpoint or None)
    return export_saved_model(
        model,
        posixpath.join(export_dir, config.stream),
        manifest.class_names,
        config.data.image_size,
        builder.input_channels(config),
    )
