"""SavedModel export of one stream: frames in the stored format -> class probabilities.

The models normalize internally (configs/base.py), so serving takes exactly what the
records store and the input pipeline emits: spatial RGB, temporal flow stacks quantized as
stored (x and y interleaved, zero motion ~128), channels last: C = 3 (RGB) or 2L (x_0, y_0,
x_1, y_1, ...: the model's channel order).

An export directory (`export.py --export_dir=DIR` writes `DIR/<stream>/`)::

    saved_model.pb, variables/   signatures:
      serving_default       frames uint8 [B, S, S, C] -> probabilities float32 [B, num_classes]
      serving_float         frames float32 [B, S, S, C] in stored units (0..255) -> the same
      serving_sample        frames uint8 [H, W, C], one sample at its stored size
                            -> probabilities float32 [V, num_classes] (each view),
                               mean_probabilities float32 [num_classes] (their mean),
                               boxes int32 [V, 4], flips bool [V] (the views cut)
      serving_sample_views  frames uint8 [H, W, C], boxes int32 [V, 4], flips bool [V]
                            -> the same outputs
      class_names           () -> class_names string [num_classes]
    class_names.txt               one class name per line, in label order
    export.json                   how the evaluation cut the model's views
                                  (evaluation/export_metadata.py)

`serving_default` is for crops a caller cut itself. `serving_float` takes what
`input_pipeline.resample.model_input` returns, the bilinear views eval.py feeds the Keras
model unrounded, so `evaluation.predictor` reproduces eval.py's scores exactly (rounding the
views to uint8 would change them slightly).

The sample signatures carry the evaluation's preprocessing, so a server needs nothing of this
project: they take one sample's decoded frames (spatial: one RGB frame; temporal: the 2L flow
planes of L consecutive flow frames stacked on the last axis) at their stored size, at most
`frame_size`, the training data's largest frame (smaller frames are zero-padded as eval.py
pads them; larger ones are refused). A new video's frames are resized by the training data's
rule (`optical_flow.video_frames.archive_frame_size`, short side 256, aspect ratio kept), so
a video of another aspect ratio than the training data's widest (16:9 on UCF-101's 4:3) is
wider than `frame_size`: `evaluation.predictor` scores it (it runs `serving_float` on views
cut from the frame's own size), the sample signatures refuse it. `serving_sample` cuts the
evaluation's V = eval_num_crops views from the frame's size as `samples.decode_eval` does
(`crops.eval_crop_params`: squares of side eval_crop_scale x the short side; centre,
top-left, top-right, bottom-left, bottom-right, then the same five mirrored);
`serving_sample_views` cuts the boxes given, (offset_y, offset_x, height, width) inside the
frame, mirrored where `flips` (flow: x negated). Both then run `resample.model_input` and the
model in one XLA-compiled function, as eval.py's step does. A video's scores are the mean of
`mean_probabilities` over its K samples (README.md, "Serving the SavedModel").

`export.json` (`evaluation.export_metadata`) is written last, from the training config and
the data directory's manifest: a directory with it is a complete export.

Reload with `tf.saved_model.load(path)`; `loaded.signatures['serving_sample'](frames=...)`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from evaluation import DEFAULT_EXPORT_DIR as DEFAULT_EXPORT_DIR
from evaluation import export_metadata
from input_pipeline import crops, datasets, resample
from models import builder
from tfrecords import manifest as manifest_lib
from tfrecords import streams
from training import checkpoints

SERVING_INPUT = "frames"
SERVING_OUTPUT = "probabilities"
DEFAULT_SIGNATURE = "serving_default"
FLOAT_SIGNATURE = "serving_float"
# One sample's frames at their stored size -> the probabilities of the views cut from them.
SAMPLE_SIGNATURE = "serving_sample"
SAMPLE_VIEWS_SIGNATURE = "serving_sample_views"
BOXES = "boxes"
FLIPS = "flips"
MEAN_OUTPUT = "mean_probabilities"
CLASS_NAMES_SIGNATURE = "class_names"
CLASS_NAMES_FILE = "class_names.txt"


class _Serving(tf.Module):
    """What the SavedModel tracks: the Keras model and the class names."""

    def __init__(self, model: keras.Model, class_names: Sequence[str]):
        super().__init__()
        self.model = model
        self.class_names = tf.Variable(list(class_names), trainable=False, dtype=tf.string)


def _view_checks(
    frames: tf.Tensor, boxes: tf.Tensor, flips: tf.Tensor, frame_size: tuple[int, int]
) -> list[tf.Operation]:
    """In-graph checks of a sample signature's inputs (outside XLA, which drops asserts).

    Args:
      frames: uint8 [H, W, C].
      boxes: int32 [V, 4], (offset_y, offset_x, height, width).
      flips: bool [V].
      frame_size: (height, width) of the export's frame buffer.
    """
    hw = tf.shape(frames)[:2]
    top, left, height, width = tf.unstack(boxes, axis=-1)
    inside = tf.reduce_all(
        (top >= 0)
        & (left >= 0)
        & (height >= 1)
        & (width >= 1)
        & (top + height <= hw[0])
        & (left + width <= hw[1])
    )
    return [
        tf.debugging.assert_less_equal(
            hw,
            tf.constant(frame_size, tf.int32),
            # No apostrophes: TF's assertion message escapes them.
            message=f"frames larger than {export_metadata.METADATA_FILE} frame_size "
            f"{list(frame_size)} (height, width), the largest frame of the training data: this "
            "signature takes frames up to it; predict.py scores larger ones",
        ),
        tf.debugging.assert_equal(
            tf.shape(boxes)[0],
            tf.shape(flips)[0],
            message="boxes [V, 4] and flips [V] differ in V: give one flip per box",
        ),
        tf.debugging.assert_positive(tf.shape(boxes)[0], message="no views: give at least one box"),
        tf.debugging.assert_equal(
            inside,
            True,
            message="a box (offset_y, offset_x, height, width) is empty or outside the frames: "
            "give boxes inside [0, H) x [0, W)",
        ),
    ]


def _sample_signatures(
    serving: _Serving, metadata: export_metadata.ExportMetadata
) -> dict[str, Callable]:
    """`SAMPLE_SIGNATURE` and `SAMPLE_VIEWS_SIGNATURE` (see the module docstring)."""
    size, channels = metadata.image_size, metadata.num_channels
    flow = streams.get(metadata.stream).flow
    frame_size = metadata.frame_size
    frames_spec = tf.TensorSpec([None, None, channels], tf.uint8, SERVING_INPUT)

    @tf.function(jit_compile=True)
    def score(windows: resample.Windows) -> tuple[tf.Tensor, tf.Tensor]:
        # eval.py's step for one sample, compiled as a whole: cut, mirror, resize, cast, model.
        probabilities = serving.model(resample.model_input(windows, size, flow), training=False)
        return probabilities, tf.reduce_mean(probabilities, axis=0)

    def serve(frames: tf.Tensor, boxes: tf.Tensor, flips: tf.Tensor) -> dict[str, tf.Tensor]:
        with tf.control_dependencies(_view_checks(frames, boxes, flips, frame_size)):
            hw = tf.shape(frames)[:2]
        # Zero-padded to the export's frame size as eval.py's batches are: one shape, so XLA
        # compiles once per number of views. Windows [1, T=1, H, W, c=C]: with T = 1 the
        # channels are already in the model's order (flow: x_0, y_0, x_1, ...).
        padding = [[0, frame_size[0] - hw[0]], [0, frame_size[1] - hw[1]], [0, 0]]
        padded = tf.ensure_shape(tf.pad(frames, padding), [*frame_size, channels])
        probabilities, mean = score(
            resample.Windows(padded[tf.newaxis, tf.newaxis], boxes[tf.newaxis], flips[tf.newaxis])
        )
        return {SERVING_OUTPUT: probabilities, MEAN_OUTPUT: mean, BOXES: boxes, FLIPS: flips}

    @tf.function(input_signature=[frames_spec])
    def serve_sample(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        views = crops.eval_crop_params(
            tf.shape(frames)[:2], metadata.eval_crop_scale, metadata.eval_num_crops
        )
        return serve(frames, views.boxes(), views.flip)

    @tf.function(
        input_signature=[
            frames_spec,
            tf.TensorSpec([None, 4], tf.int32, BOXES),
            tf.TensorSpec([None], tf.bool, FLIPS),
        ]
    )
    def serve_sample_views(
        frames: tf.Tensor, boxes: tf.Tensor, flips: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        return serve(frames, boxes, flips)

    return {SAMPLE_SIGNATURE: serve_sample, SAMPLE_VIEWS_SIGNATURE: serve_sample_views}


def export_saved_model(
    model: keras.Model, export_dir: str, metadata: export_metadata.ExportMetadata
) -> str:
    """Writes `model` as a SavedModel with the module docstring's signatures + export.json.

    Args:
      model: float32 [B, S, S, C] in stored units -> probabilities [B, len(class_names)].
      export_dir: SavedModel directory (any tf.io.gfile path; created, overwritten).
      metadata: the stream's export.json (S, C, the frame size, the evaluation views and the
        class names come from it).

    Returns:
      `export_dir`.

    Raises:
      ValueError: the model's output width is not the number of class names.
    """
    class_names = metadata.class_names
    outputs = model.output_shape[-1]
    if outputs != len(class_names):
        raise ValueError(
            f"the model has {outputs} outputs but the manifest lists {len(class_names)} "
            "classes; export with the data directory the model was trained on"
        )
    serving = _Serving(model, class_names)
    shape = [None, metadata.image_size, metadata.image_size, metadata.num_channels]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.uint8, SERVING_INPUT)])
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = serving.model(tf.cast(frames, tf.float32), training=False)
        return {SERVING_OUTPUT: probabilities}

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, SERVING_INPUT)])
    def serve_float(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        return {SERVING_OUTPUT: serving.model(frames, training=False)}

    @tf.function(input_signature=[])
    def names() -> dict[str, tf.Tensor]:
        return {CLASS_NAMES_SIGNATURE: serving.class_names.read_value()}

    signatures = {
        DEFAULT_SIGNATURE: serve,
        FLOAT_SIGNATURE: serve_float,
        **_sample_signatures(serving, metadata),
        CLASS_NAMES_SIGNATURE: names,
    }
    level = logging.get_absl_logger().level
    try:
        tf.saved_model.save(serving, export_dir, signatures=signatures)
    finally:
        # tf.saved_model.save leaves absl's logger at WARNING (autotrackable.py restores TF's
        # verbosity, not absl's): the caller's later INFO lines would go unseen.
        logging.get_absl_logger().setLevel(level)
    with tf.io.gfile.GFile(posixpath.join(export_dir, CLASS_NAMES_FILE), "w") as f:
        f.write("".join(f"{name}\n" for name in class_names))
    # Last: a directory with export.json is a complete export.
    with tf.io.gfile.GFile(posixpath.join(export_dir, export_metadata.METADATA_FILE), "w") as f:
        f.write(metadata.to_json())
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
      data_dir: data directory whose manifest gives the class names, frame size and flow
        algorithm (export.json).
      checkpoint: checkpoint path prefix; '' takes the latest.
      export_dir: parent directory of the per-stream SavedModels.

    Returns:
      The SavedModel directory.

    Raises:
      ConfigError: a config value the evaluation pipeline cannot use (checked first).
      CheckpointError: no checkpoint, or one that does not fit the config's model.
      ManifestError: no usable manifest in `data_dir`.
    """
    spec = datasets.sample_spec(config)  # the config first: a bad value stops before any I/O
    builder.check_image_size(config)
    manifest = manifest_lib.read_manifest(data_dir, check_shards=False)
    manifest.frame_hw(data_dir, spec.modality)  # the stream's records are there
    path = checkpoint or checkpoints.latest_checkpoint(workdir)
    model = checkpoints.restore_model(config, workdir, manifest.num_classes, path)
    description = f"{path} (step {checkpoints.checkpoint_step(path)})"
    return export_saved_model(
        model,
        posixpath.join(export_dir, config.stream),
        export_metadata.metadata_from_config(config, data_dir, manifest, description),
    )
