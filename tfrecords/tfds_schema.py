"""The TensorFlow Datasets layout of the records: features, metadata, and reading it back.

A TFDS dataset of this project is TFDS's own `tf.train.Example` records, written by TFDS from
the builders in `preprocessing.tfds_builders` (TFDS parses only `tf.train.Example`: pointed at
our SequenceExample shards it would read the context and silently drop every frame). One
builder config holds one split and one modality (`split1_rgb`, `split1_flow`, ...), so a
stream reads only its own files, as with the SequenceExample shards::

    DATA_DIR/<builder>/<config>/<version>/       e.g. two_stream_ucf101/split1_rgb/1.0.0
      dataset_info.json, features.json           TFDS's description (splits, shards, classes)
      metadata.json                              this project's accounting (`METADATA_KEYS`)
      failures.jsonl                             as a SequenceExample data directory's
      <builder>-<split>.tfrecord-SSSSS-of-NNNNN  the examples

Features (`features`; the keys are `tfrecords.schema`'s parsed-record keys)::

    video_id      Text             canonical video id
    label         ClassLabel       0-based, in the class list's (classInd.txt) order
    group, clip   int64            group and clip number (0 when the dataset has none)
    chunk         int64            j, 0 <= j < K (flow: 0)
    num_chunks    int64            K: strided RGB chunks of the video (flow, test: 1)
    video_frames  int64            the modality's frames in the whole video (N RGB, N-1 flow)
  rgb configs:
    rgb           Video (jpeg)     the chunk's RGB frames j, j+K, ...: the source JPEGs,
                                   byte-identical, at their own size
  flow configs:
    flow_x        Video (jpeg, 1)  the N-1 quantized x flow frames (grayscale JPEGs as stored)
    flow_y        Video (jpeg, 1)  the N-1 quantized y flow frames

Reading (`read_manifest`, `parse_example`): the reader turns a TFDS directory into a
`tfrecords.manifest.Manifest` (shards from TFDS's split info, counts from metadata.json), and
parses each example with TFDS's own deserializer and `tfds.decode.SkipDecoding` on the
frames into the dict `schema.parse_record` returns for a SequenceExample; sampling, seeds
and windows are the same from there on.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfrecords import DATASET_INFO_FILE as DATASET_INFO_FILE
from tfrecords import manifest as manifest_lib
from tfrecords import schema

GROUP = "group"
CLIP = "clip"
# metadata.json keys: the Manifest fields TFDS's own info does not carry.
METADATA_KEYS = (
    "schema_version",
    "dataset",
    "split",
    "modality",
    "source",
    "listed",
    "written",
    "failed",
    "per_class",
    "rgb_chunks",
    "max_frame_hw",
    "command_line",
    "split_rule",
    "frame_resize",
    "flow_bound",
    "flow_quantization",
)
FLOW_QUANTIZATION = "uint8 q = round(255 * (clip(f, -B, B) + B) / (2B)), B = flow_bound pixels"


def builder_config_name(split: int, modality: str) -> str:
    """The builder config of one split and modality, e.g. `split1_rgb`."""
    return f"split{split}_{modality}"


def features(modality: str) -> tfds.features.FeaturesDict:
    """The TFDS features of `modality`'s examples (see the module docstring).

    The class names are set by the builder once it has read the class list.

    Raises:
      ValueError: an unknown modality.
    """
    if modality not in schema.FRAME_KEYS:
        raise ValueError(f"modality {modality!r}: use one of {schema.MODALITIES}")
    channels = 3 if modality == schema.RGB_MODALITY else 1
    frames = {
        key: tfds.features.Video(shape=(None, None, None, channels), encoding_format="jpeg")
        for key in schema.FRAME_KEYS[modality]
    }
    integers = (GROUP, CLIP, schema.CHUNK, schema.NUM_CHUNKS, schema.VIDEO_FRAMES)
    return tfds.features.FeaturesDict(
        {
            schema.VIDEO_ID: tfds.features.Text(),
            schema.LABEL: tfds.features.ClassLabel(),
            **{key: tfds.features.Scalar(dtype=np.int64) for key in integers},
            **frames,
        }
    )


def encode_examples(video: schema.Video, modality: str, num_chunks: int) -> list[dict]:
    """A Video's examples of `modality`, as TFDS feature dicts (RGB: `num_chunks`, flow: 1).

    Frames are the Video's JPEG bytes, never re-encoded. Chunk j of K holds frames
    `schema.chunk_frame_indices(N, K, j)`, as the SequenceExample chunks do.

    Raises:
      ValueError: frame counts break the N / N-1 rule, or num_chunks is not positive.
    """
    schema.check_frame_counts(len(video.rgb), len(video.flow_x), len(video.flow_y))
    identity = {
        schema.VIDEO_ID: video.video_id,
        schema.LABEL: video.label,
        GROUP: video.group,
        CLIP: video.clip,
    }
    if modality == schema.FLOW_MODALITY:
        flow = {schema.FLOW_X: list(video.flow_x), schema.FLOW_Y: list(video.flow_y)}
        counts = {schema.CHUNK: 0, schema.NUM_CHUNKS: 1, schema.VIDEO_FRAMES: len(video.flow_x)}
        return [{**identity, **counts, **flow}]
    schema.check_num_chunks(num_chunks)
    num_frames = len(video.rgb)
    return [
        {
            **identity,
            schema.CHUNK: chunk,
            schema.NUM_CHUNKS: num_chunks,
            schema.VIDEO_FRAMES: num_frames,
            schema.RGB: [
                video.rgb[i] for i in schema.chunk_frame_indices(num_frames, num_chunks, chunk)
            ],
        }
        for chunk in range(num_chunks)
    ]


def example_parser(
    modality: str, class_names: list[str]
) -> Callable[[tf.Tensor, str], dict[str, tf.Tensor]]:
    """A parser of serialized TFDS examples of `modality`, a drop-in for `schema.parse_record`.

    The returned `parse(serialized, modality)` gives `schema.parse_record`'s dict (int32
    counts, the class name from `class_names`, the encoded frames: `SkipDecoding`), works
    eagerly and inside `tf.data` maps, and fails (InvalidArgumentError) on an example without
    frames instead of handing on an empty video.
    """
    spec = features(modality)
    decoders = {key: tfds.decode.SkipDecoding() for key in schema.FRAME_KEYS[modality]}
    names = tf.constant(class_names)

    def parse(serialized: tf.Tensor, record_modality: str) -> dict[str, tf.Tensor]:
        if record_modality != modality:
            raise ValueError(f"modality {record_modality!r}: this parser reads {modality!r}")
        example = spec.deserialize_example(serialized, decoders=decoders)
        label = tf.cast(example[schema.LABEL], tf.int32)
        parsed = {
            schema.VIDEO_ID: example[schema.VIDEO_ID],
            schema.LABEL: label,
            schema.CLASS_NAME: tf.gather(names, label),
            schema.CHUNK: tf.cast(example[schema.CHUNK], tf.int32),
            schema.NUM_CHUNKS: tf.cast(example[schema.NUM_CHUNKS], tf.int32),
            schema.VIDEO_FRAMES: tf.cast(example[schema.VIDEO_FRAMES], tf.int32),
        }
        for key in schema.FRAME_KEYS[modality]:
            check = tf.debugging.assert_positive(
                tf.size(example[key]), message=f"a TFDS example without {key} frames"
            )
            with tf.control_dependencies([check]):
                parsed[key] = tf.identity(example[key])
        return parsed

    return parse


def is_tfds_dir(data_dir: str) -> bool:
    """Whether `data_dir` is a built TFDS dataset (a config's version folder)."""
    return tf.io.gfile.exists(posixpath.join(data_dir, DATASET_INFO_FILE))


def _metadata(data_dir: str, builder: tfds.core.DatasetBuilder) -> dict:
    metadata = dict(builder.info.metadata or {})
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise manifest_lib.ManifestError(
            f"{posixpath.join(data_dir, DATASET_INFO_FILE)}: the TFDS dataset "
            f"{builder.info.full_name} was not built by this project (its metadata lacks "
            f"{missing[0]!r}); build one with `tfds build two_stream_ucf101 "
            "--imports=preprocessing.tfds_builders --manual_dir=ROOT` (see WORKSPACE.md)"
        )
    if metadata["schema_version"] != schema.SCHEMA_VERSION:
        raise manifest_lib.ManifestError(
            f"{data_dir}: built for record schema {metadata['schema_version']}, this code "
            f"reads {schema.SCHEMA_VERSION}; rebuild it (`tfds build ... --overwrite`)"
        )
    return metadata


def read_manifest(data_dir: str, check_shards: bool = True) -> manifest_lib.Manifest:
    """The Manifest of a built TFDS config folder (see `tfrecords.manifest.read_manifest`).

    Shards are TFDS's files of each split (sizes as found on disk); classes are the
    ClassLabel's names; counts, chunks and frame sizes come from metadata.json.

    Raises:
      ManifestError: not a TFDS dataset of this project, another schema version, or a shard
        listed in dataset_info.json is missing.
    """
    builder = tfds.builder_from_directory(data_dir)
    metadata = _metadata(data_dir, builder)
    modality = metadata["modality"]
    shards = []
    for subset, split in sorted(builder.info.splits.items()):
        for name, length in zip(split.filenames, split.shard_lengths, strict=True):
            path = posixpath.join(data_dir, name)
            if check_shards and not tf.io.gfile.exists(path):
                raise manifest_lib.ManifestError(
                    f"{path}: listed in {posixpath.join(data_dir, DATASET_INFO_FILE)} but "
                    "missing; rebuild the dataset (`tfds build ... --overwrite`)"
                )
            size = tf.io.gfile.stat(path).length if check_shards else 0
            shards.append(manifest_lib.Shard(name, subset, modality, length, size))
    return manifest_lib.Manifest(
        schema_version=metadata["schema_version"],
        split=metadata["split"],
        source=metadata["source"],
        class_names=list(builder.info.features[schema.LABEL].names),
        listed=metadata["listed"],
        written=metadata["written"],
        failed=metadata["failed"],
        per_class=metadata["per_class"],
        shards=shards,
        rgb_chunks=metadata["rgb_chunks"],
        max_frame_hw=metadata["max_frame_hw"],
        command_line=metadata["command_line"],
        dataset=metadata["dataset"],
        split_rule=metadata["split_rule"],
        frame_resize=metadata["frame_resize"],
        record_format=manifest_lib.TFDS_FORMAT,
    )


def manifest_metadata(manifest: manifest_lib.Manifest, modality: str) -> dict:
    """metadata.json of a TFDS config: `manifest`'s fields for `modality` (`METADATA_KEYS`)."""
    fields = json.loads(manifest.to_json())
    metadata = {key: fields[key] for key in METADATA_KEYS if key in fields}
    metadata.update(
        modality=modality,
        max_frame_hw={modality: fields["max_frame_hw"][modality]},
        flow_bound=schema.FLOW_BOUND,
        flow_quantization=FLOW_QUANTIZATION,
    )
    return metadata
