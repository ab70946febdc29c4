"""`export.json`: what turns a video into the views eval.py scores for an exported stream.

Written by `evaluation.export` next to each SavedModel from the training config and the data
directory's manifest, never by hand: the stream, S, L, the evaluation protocol (samples,
crops, crop scale, JPEG IDCT), the training data's frame size, the flow algorithm and bound,
the class names and the record schema (and, for the record, the source, dataset and
checkpoint). The predictor (evaluation/predictor.py) reads it to cut a new video's views as
eval.py would have cut them from its records; a server reads it for the frame size the
`serving_sample` signatures expect.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath

import ml_collections
import tensorflow as tf

from input_pipeline import crops, datasets, samples
from optical_flow.algorithms import FLOW_ALGORITHMS
from tfrecords import manifest as manifest_lib
from tfrecords import schema, streams
from tfrecords.errors import UserError

METADATA_FILE = "export.json"
METADATA_VERSION = 1

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
      frame_size: (height, width) of the training data's largest frame of the stream's
        modality (the manifest's `max_frame_hw`): the frame buffer of the sample signatures,
        which refuse larger frames. A new video is not resized to it but by the training
        data's rule (`optical_flow.video_frames.archive_frame_size`: short side 256, aspect
        ratio kept), so a video wider than the training data's widest (e.g. 16:9, 454x256,
        on UCF-101's 340x256) exceeds it: `evaluation.predictor` scores it all the same (it
        cuts the views from the frame's own size), a server's `serving_sample` refuses it.
      flow_algorithm: the algorithm of the training data's flow (see
        `flow_algorithm_of_source`), one of `optical_flow.algorithms.FLOW_ALGORITHMS`.
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
    config: ml_collections.ConfigDict,
    data_dir: str,
    manifest: manifest_lib.Manifest,
    checkpoint: str,
) -> ExportMetadata:
    """The ExportMetadata of a model trained with `config` on `data_dir` (its `manifest`).

    Raises:
      ValueError: a config value `datasets.sample_spec` refuses, or an unknown source.
      ManifestError: `data_dir` holds no records of the stream's modality.
    """
    spec = datasets.sample_spec(config)
    height, width = manifest.frame_hw(data_dir, spec.modality)
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
