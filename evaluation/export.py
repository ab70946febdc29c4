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
    export.json                   `ExportMetadata`: how the evaluation cut the model's views

`serving_default` is for crops a caller cut itself. `serving_float` takes what
`input_pipeline.resample.model_input` returns, the bilinear views eval.py feeds the Keras
model unrounded, so `evaluation.predictor` reproduces eval.py's scores exactly (rounding the
views to uint8 would change them slightly).

The sample signatures carry the evaluation's preprocessing, so a server needs nothing of this
project: they take one sample's decoded frames (spatial: one RGB frame; temporal: the 2L flow
planes of L consecutive flow frames stacked on the last axis) at the training data's frame
size `frame_size` (smaller frames are zero-padded as eval.py pads them; larger ones are
refused). `serving_sample` cuts the evaluation's V = eval_num_crops views from the frame's
size as `samples.decode_eval` does (`crops.eval_crop_params`: squares of side eval_crop_scale
x the short side; centre, top-left, top-right, bottom-left, bottom-right, then the same five
mirrored); `serving_sample_views` cuts the boxes given, (offset_y, offset_x, height, width)
inside the frame, mirrored where `flips` (flow: x negated). Both then run
`resample.model_input` and the model in one XLA-compiled function, as eval.py's step does. A
video's scores are the mean of `mean_probabilities` over its K samples (README.md, "Serving
the SavedModel").

`export.json` is written from the training config and the data directory's manifest, never
by hand: the stream, S, L, the evaluation protocol (samples, crops, crop scale, JPEG IDCT),
the training data's frame size, the flow algorithm and bound, the class names and the record
schema (and, for the record, the source, dataset and checkpoint): what a new video needs to
become the views eval.py would have cut from its records (evaluation/predictor.py).

Reload with `tf.saved_model.load(path)`; `loaded.signatures['serving_sample'](frames=...)`.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Callable, Sequence

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from input_pipeline import crops, datasets, resample, samples
from preprocessing.optical_flow import FLOW_ALGORITHMS
from tfrecords import manifest as manifest_lib
from tfrecords import schema, streams
from tfrecords.errors import UserError
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
METADATA_FILE = "export.json"
METADATA_VERSION = 1
# export.py writes W/export/<stream> unless told another parent directory.
DEFAULT_EXPORT_DIR = "export"

# The records' `ucf101/source` (tfrecords/schema.py): the public archives ('frames') hold
# TV-L1 flow; the videos source records the algorithm it ran ('videos/<algorithm>').
ARCHIVES_SOURCE = "frames"
ARCHIVES_FLOW_ALGORITHM = "tvl1"
VIDEOS_SOURCE_PREFIX = "videos/"


class ExportError(UserError):
    """A directory that is not a usable export of this project (named, with the fix)."""


def flow_algorithm_of_source(source: str) -> str:
    """The flow algorithm of a data directory's records, from its manifest's `source`.

    Raises:
      ValueError: a source this project does not write.
    """
    if source == ARCHIVES_SOURCE:
        return ARCHIVES_FLOW_ALGORITHM
    algorithm = source.removeprefix(VIDEOS_SOURCE_PREFIX)
    if source.startswith(VIDEOS_SOURCE_PREFIX) and algorithm in FLOW_ALGORITHMS:
        return algorithm
    raise ValueError(
        f"manifest source {source!r}: expected '{ARCHIVES_SOURCE}' or "
        f"'{VIDEOS_SOURCE_PREFIX}<one of {FLOW_ALGORITHMS}>'"
    )


@dataclasses.dataclass(frozen=True)
class ExportMetadata:
    """`export.json`: what turns a video into the views eval.py scores for this stream.

    Attributes:
      stream: the stream's name (`tfrecords.streams.STREAMS`).
      image_size: S, side of the model input.
      num_flow_frames: L, flow frames per temporal sample (config.data.num_flow_frames).
      eval_num_samples: K, samples uniformly spaced over a video.
      eval_num_crops: V, crop views per sample (1, 5 or 10).
      eval_crop_scale: crop side as a fraction of the frame's short side.
      jpeg_dct_method: JPEG IDCT the evaluation decodes with.
      frame_size: (height, width) of the training data's frames of the stream's modality
        (the manifest's `max_frame_hw`); a new video is resized to it.
      flow_algorithm: the algorithm of the training data's flow (see
        `flow_algorithm_of_source`), one of `preprocessing.optical_flow.FLOW_ALGORITHMS`.
      flow_bound: B, flow was clipped to [-B, B] pixels before quantization.
      class_names: class names in label order.
      schema_version: record schema of the training data.
      source: the manifest's `source` ('frames' or 'videos/<algorithm>').
      dataset: the manifest's `dataset` (e.g. 'ucf101').
      checkpoint: the exported checkpoint and its step.
      format_version: METADATA_VERSION.
    """

    stream: str
    image_size: int
    num_flow_frames: int
    eval_num_samples: int
    eval_num_crops: int
    eval_crop_scale: float
    jpeg_dct_method: str
    frame_size: tuple[int, int]
    flow_algorithm: str
    flow_bound: float
    class_names: tuple[str, ...]
    schema_version: int
    source: str
    dataset: str
    checkpoint: str
    format_version: int = METADATA_VERSION

    def sample_spec(
        self, num_samples: int | None = None, num_crops: int | None = None
    ) -> samples.SampleSpec:
        """The evaluation SampleSpec of the stream, optionally with fewer or more views.

        Only the evaluation fields matter (`samples.gather_eval`, `samples.decode_eval`); the
        training-only fields are not exported and get neutral values.

        Args:
          num_samples: K instead of `eval_num_samples`; None keeps the exported protocol.
          num_crops: V instead of `eval_num_crops` (1, 5 or 10); None keeps it.

        Raises:
          ValueError: naming the argument whose value cannot be used.
        """
        samples_k = self.eval_num_samples if num_samples is None else num_samples
        crops_v = self.eval_num_crops if num_crops is None else num_crops
        if not isinstance(samples_k, int) or isinstance(samples_k, bool) or samples_k < 1:
            raise ValueError(f"num_samples={samples_k!r}: use a positive integer")
        if crops_v not in (1, crops.NUM_POSITIONS, 2 * crops.NUM_POSITIONS):
            raise ValueError(f"num_crops={crops_v!r}: use 1, 5 or 10 crop views per sample")
        return samples.SampleSpec(
            stream=streams.get(self.stream),
            num_flow_frames=self.num_flow_frames,
            image_size=self.image_size,
            samples_per_video=1,
            crop_scales=(self.eval_crop_scale,),
            max_scale_jitter=0,
            random_flip=False,
            dct_method=self.jpeg_dct_method,
            eval_crop_scale=self.eval_crop_scale,
            eval_num_samples=samples_k,
            eval_num_crops=crops_v,
        )

    @property
    def num_channels(self) -> int:
        """C, channels of the model input: 3 (RGB) or 2L (flow)."""
        return self.sample_spec().num_channels

    def to_json(self) -> str:
        """Serializes to indented JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExportMetadata:
        """Inverse of to_json.

        Raises:
          ValueError, KeyError, TypeError: not the JSON of an ExportMetadata.
        """
        fields = json.loads(text)
        fields["frame_size"] = tuple(fields["frame_size"])
        fields["class_names"] = tuple(fields["class_names"])
        return cls(**fields)


def metadata_from_config(
    config: ml_collections.ConfigDict, manifest: manifest_lib.Manifest, checkpoint: str
) -> ExportMetadata:
    """The ExportMetadata of a model trained with `config` on the data `manifest` describes.

    Raises:
      ValueError: a config value `datasets.sample_spec` refuses, or an unknown source.
    """
    spec = datasets.sample_spec(config)
    height, width = manifest.max_frame_hw[spec.modality]
    return ExportMetadata(
        stream=config.stream,
        image_size=spec.image_size,
        num_flow_frames=config.data.num_flow_frames,
        eval_num_samples=spec.eval_num_samples,
        eval_num_crops=spec.eval_num_crops,
        eval_crop_scale=spec.eval_crop_scale,
        jpeg_dct_method=spec.dct_method,
        frame_size=(height, width),
        flow_algorithm=flow_algorithm_of_source(manifest.source),
        flow_bound=schema.FLOW_BOUND,
        class_names=tuple(manifest.class_names),
        schema_version=manifest.schema_version,
        source=manifest.source,
        dataset=manifest.dataset,
        checkpoint=checkpoint,
    )


def read_metadata(export_dir: str) -> ExportMetadata:
    """Reads and checks the `export.json` of a SavedModel directory `export_saved_model` wrote.

    Raises:
      ExportError: no such directory, no SavedModel in it, no or an unreadable export.json,
        or one of another format version.
    """
    again = "export it with `python export.py --config=... --workdir=... --data_dir=...`"
    if not tf.io.gfile.isdir(export_dir):
        raise ExportError(f"{export_dir}: no such directory; {again}")
    if not tf.io.gfile.exists(posixpath.join(export_dir, "saved_model.pb")):
        raise ExportError(
            f"{export_dir}: not an export (no saved_model.pb); give the DIR/<stream> folder that "
            f"`export.py --export_dir=DIR` wrote, or {again}"
        )
    path = posixpath.join(export_dir, METADATA_FILE)
    if not tf.io.gfile.exists(path):
        raise ExportError(
            f"{path}: not found (an export written before {METADATA_FILE} existed?); re-{again}"
        )
    with tf.io.gfile.GFile(path, "r") as f:
        text = f.read()
    try:
        metadata = ExportMetadata.from_json(text)
    except (ValueError, KeyError, TypeError) as e:
        raise ExportError(
            f"{path}: not the {METADATA_FILE} of this project ({e}); re-{again}"
        ) from e
    if metadata.format_version != METADATA_VERSION:
        raise ExportError(
            f"{path}: format version {metadata.format_version}, this code reads "
            f"{METADATA_VERSION}; re-{again}"
        )
    return metadata


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
            message=f"frames larger than {METADATA_FILE} frame_size {list(frame_size)} "
            "(height, width): resize them to it, as the training data were",
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


def _sample_signatures(serving: _Serving, metadata: ExportMetadata) -> dict[str, Callable]:
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


def export_saved_model(model: keras.Model, export_dir: str, metadata: ExportMetadata) -> str:
    """Writes `model` as a SavedModel with the module docstring's signatures + export.json.

    Args:
      model: float32 [B, S, S, C] in stored units -> probabilities [B, len(class_names)].
      export_dir: SavedModel directory (any tf.io.gfile path; created, overwritten).
      metadata: the stream's ExportMetadata (S, C, the frame size, the evaluation views and
        the class names come from it).

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
    with tf.io.gfile.GFile(posixpath.join(export_dir, METADATA_FILE), "w") as f:
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
    datasets.sample_spec(config)  # the config first: a bad value stops before any I/O
    manifest = manifest_lib.read_manifest(data_dir, check_shards=False)
    path = checkpoint or checkpoints.latest_checkpoint(workdir)
    model = checkpoints.restore_model(config, workdir, manifest.num_classes, path)
    description = f"{path} (step {checkpoints.checkpoint_step(path)})"
    return export_saved_model(
        model,
        posixpath.join(export_dir, config.stream),
        metadata_from_config(config, manifest, description),
    )
