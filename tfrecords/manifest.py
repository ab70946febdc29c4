"""`manifest.json`: what a data directory holds, written last by the Beam job.

A data directory (`--output_dir` of `python -m preprocessing`, `--data_dir` of train/eval)::

    manifest.json                           this file (written last, atomically)
    failures.jsonl                          one JSON object per clip that could not be written
    classInd.txt                            the class list in UCF-101's classInd.txt format
    train-rgb-00000-of-00008.tfrecord ...   shards of one subset and modality (`shard_name`;
    train-flow-00000-of-00002.tfrecord ...  records: tfrecords/schema.py)
    test-rgb-00000-of-00004.tfrecord ...
    test-flow-00000-of-00001.tfrecord ...
    val-rgb-00000-of-00001.tfrecord ...     only with --val_groups / --val_fraction

The manifest is the only source of class names (label order = classInd.txt order), shard
lists, counts, RGB chunks per video and frame sizes for the reader: nothing downstream
hard-codes 101 classes, shard counts or 340x256 frames (`frame_resize` says how the frames
got their size). Accounting invariant, per subset:
`listed == written + failed` (videos), and every modality's shards hold `written` videos:
`rgb_chunks[subset]` records per video for RGB, one for flow.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re

import tensorflow as tf

from tfrecords import MANIFEST_FILE as MANIFEST_FILE
from tfrecords import SEQUENCE_EXAMPLE_FORMAT as SEQUENCE_EXAMPLE_FORMAT
from tfrecords import TFDS_FORMAT as TFDS_FORMAT
from tfrecords.errors import UserError
from tfrecords.schema import RGB_MODALITY, SCHEMA_VERSION

# The data directory's files (shards: `shard_name`). The class list keeps UCF-101's name and
# format (`1 ClassA` per line), so the same name serves an official split folder.
FAILURES_FILE = "failures.jsonl"
CLASS_INDEX_FILE = "classInd.txt"
SHARD_NAME = re.compile(
    r"^(?P<subset>[a-z]+)-(?P<modality>[a-z]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$"
)
# `frame_resize` of manifests written before the field existed (same schema version: the
# field only describes the records).
FRAME_RESIZE_NOT_RECORDED = (
    "not recorded (written before manifests recorded it: the frames source kept the archives' "
    "JPEGs as given; the videos source resized every frame to 340x256, bilinear, whatever its "
    "aspect ratio)"
)
# Shard names of schema version 1 (both modalities in one record), which a re-run removes.
V1_SHARD_NAME = re.compile(r"^[a-z]+-\d{5}-of-\d{5}\.tfrecord$")


def shard_name(subset: str, modality: str, index: int, num_shards: int) -> str:
    """`<subset>-<modality>-SSSSS-of-NNNNN.tfrecord`, e.g. `train-rgb-00003-of-00012.tfrecord`."""
    return f"{subset}-{modality}-{index:05d}-of-{num_shards:05d}.tfrecord"


class ManifestError(UserError):
    """A data directory's manifest is missing, of another schema, or disagrees with shards."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """One TFRecord file: `path` is relative to the data directory.

    Attributes:
      path: file name relative to the data directory.
      subset: 'train', 'val' (training groups held out, `--val_groups`) or 'test'.
      modality: tfrecords.schema.RGB_MODALITY or FLOW_MODALITY.
      num_records: records it holds (RGB: chunks, `rgb_chunks` per video).
      num_bytes: its size.
    """

    path: str
    subset: str
    modality: str
    num_records: int
    num_bytes: int


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The contents of manifest.json.

    Attributes:
      schema_version: tfrecords.schema.SCHEMA_VERSION of the records.
      split: official split (1-3) the subsets come from.
      source: 'frames' or 'videos/<flow algorithm>'.
      class_names: class names in label order.
      listed: subset -> clips in the split's list file.
      written: subset -> videos written (each in every modality).
      failed: subset -> clips reported in failures.jsonl.
      per_class: subset -> class name -> videos written.
      shards: every shard file.
      rgb_chunks: subset -> K, RGB records per video (strided chunks; 1 = whole videos).
      max_frame_hw: modality -> [height, width], the largest frame height and width of the
        written videos (readers size their fixed buffers from it).
      command_line: the command that wrote this directory.
      dataset: the dataset the records come from (`python -m preprocessing --dataset`);
        manifests written before the field existed read as 'ucf101'.
      split_rule: how the subsets were chosen: the dataset's official split files, a CSV,
        or a stable hash of the paths with its test fraction (`--dataset=folder`).
      frame_resize: how the frames got their size: the videos source's rule
        (`optical_flow.video_frames.FRAME_RESIZE`: short side 256, aspect ratio kept,
        bicubic) or the frames source's (`preprocessing.clip_sources.FRAMES_AS_GIVEN`);
        manifests written before the field existed read as FRAME_RESIZE_NOT_RECORDED.
      record_format: SEQUENCE_EXAMPLE_FORMAT (manifest.json) or TFDS_FORMAT (a TFDS config
        folder read by `tfrecords.tfds_schema.read_manifest`; never written to a file).
    """

    schema_version: int
    split: int
    source: str
    class_names: list[str]
    listed: dict[str, int]
    written: dict[str, int]
    failed: dict[str, int]
    per_class: dict[str, dict[str, int]]
    shards: list[Shard]
    rgb_chunks: dict[str, int]
    max_frame_hw: dict[str, list[int]]
    command_line: str
    dataset: str = "ucf101"
    split_rule: str = "official split files"
    frame_resize: str = FRAME_RESIZE_NOT_RECORDED
    record_format: str = SEQUENCE_EXAMPLE_FORMAT

    @property
    def num_classes(self) -> int:
        """Number of classes (the model's output size)."""
        return len(self.class_names)

    def shard_paths(self, data_dir: str, subset: str, modality: str) -> list[str]:
        """Full paths of `subset`'s shards of `modality`, in shard order.

        Raises:
          ManifestError: the manifest has no such shards.
        """
        paths = [
            posixpath.join(data_dir, s.path)
            for s in self.shards
            if s.subset == subset and s.modality == modality
        ]
        if not paths and self.record_format == TFDS_FORMAT:
            raise self._other_tfds_config(data_dir, f"{modality} of '{subset}'", modality)
        if not paths:
            raise ManifestError(
                f"{posixpath.join(data_dir, MANIFEST_FILE)}: no '{subset}' {modality} shards "
                f"(subsets written: {sorted(self.written)}); re-run `python -m preprocessing` "
                f"with {subset} among its subsets"
            )
        return paths

    def _other_tfds_config(self, data_dir: str, what: str, modality: str) -> ManifestError:
        """The error for a TFDS folder that lacks `what`: it names the config folder to give."""
        modalities = sorted({s.modality for s in self.shards})
        return ManifestError(
            f"{data_dir}: this TFDS folder holds {'/'.join(modalities)} examples of "
            f"{sorted(self.written)}; a stream reading {what} needs the "
            f"{modality} config's folder (<builder>/split{self.split}_{modality}/<version>)"
        )

    def frame_hw(self, data_dir: str, modality: str) -> tuple[int, int]:
        """The largest (height, width) of `modality`'s stored frames in `data_dir`.

        Raises:
          ManifestError: the directory holds no records of `modality` (a TFDS config folder
            of the other modality), naming the folder to give instead.
        """
        if modality in self.max_frame_hw:
            height, width = self.max_frame_hw[modality]
            return height, width
        if self.record_format == TFDS_FORMAT:
            raise self._other_tfds_config(data_dir, modality, modality)
        raise ManifestError(
            f"{posixpath.join(data_dir, MANIFEST_FILE)}: no {modality} frames; re-run "
            "`python -m preprocessing` to write both modalities"
        )

    def records_per_video(self, subset: str, modality: str) -> int:
        """Records a video of `subset` has in `modality`'s shards (RGB chunks, or 1)."""
        return self.rgb_chunks[subset] if modality == RGB_MODALITY else 1

    def to_json(self) -> str:
        """Serializes to indented JSON (without `record_format`: manifest.json is one format)."""
        fields = dataclasses.asdict(self)
        del fields["record_format"]
        return json.dumps(fields, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Inverse of to_json."""
        fields = json.loads(text)
        fields["shards"] = [Shard(**s) for s in fields["shards"]]
        return cls(**fields)


def write_manifest(data_dir: str, manifest: Manifest) -> str:
    """Writes `data_dir/manifest.json` atomically (temp file + rename); returns its path."""
    path = posixpath.join(data_dir, MANIFEST_FILE)
    temp = path + ".tmp"
    with tf.io.gfile.GFile(temp, "w") as f:
        f.write(manifest.to_json())
    tf.io.gfile.rename(temp, path, overwrite=True)
    return path


def read_manifest(data_dir: str, check_shards: bool = True) -> Manifest:
    """Reads and checks `data_dir/manifest.json`, or a TFDS folder's description.

    Args:
      data_dir: output directory of the Beam job, or a built TFDS config's folder
        (`tfrecords.tfds_schema.read_manifest`).
      check_shards: also check that every listed shard exists with the recorded size.

    Raises:
      ManifestError: no manifest, unreadable JSON, another schema version, or a shard that
        is missing or whose size differs from the manifest's (a partial or replaced file).
    """
    # Imported here: tfds_schema builds on this module (its Manifest and errors).
    from tfrecords import tfds_schema

    path = posixpath.join(data_dir, MANIFEST_FILE)
    if tfds_schema.is_tfds_dir(data_dir):
        if tf.io.gfile.exists(path):
            raise ManifestError(
                f"{data_dir}: holds both {MANIFEST_FILE} (SequenceExample shards) and "
                f"{tfds_schema.DATASET_INFO_FILE} (a TFDS dataset); write each to its own folder"
            )
        return tfds_schema.read_manifest(data_dir, check_shards)
    if not tf.io.gfile.exists(path):
        raise ManifestError(
            f"{path}: not found. Write the data directory first with `python -m preprocessing "
            f"--output_dir={data_dir} ...` (see WORKSPACE.md)."
        )
    with tf.io.gfile.GFile(path, "r") as f:
        text = f.read()
    try:
        fields = json.loads(text)
        version = fields["schema_version"]
    except (ValueError, TypeError, KeyError) as e:
        raise ManifestError(f"{path}: not a manifest of this project ({e})") from e
    if version != SCHEMA_VERSION:
        command = fields.get("command_line") or "python -m preprocessing --output_dir=..."
        raise ManifestError(
            f"{path}: schema version {version}, this code reads {SCHEMA_VERSION} (RGB and flow "
            f"in separate records); rewrite the directory by re-running `{command}`"
        )
    try:
        manifest = Manifest.from_json(text)
    except (ValueError, TypeError, KeyError) as e:
        raise ManifestError(f"{path}: not a manifest of this project ({e})") from e
    if check_shards:
        for shard in manifest.shards:
            shard_path = posixpath.join(data_dir, shard.path)
            if not tf.io.gfile.exists(shard_path):
                raise ManifestError(f"{shard_path}: listed in {path} but missing")
            size = tf.io.gfile.stat(shard_path).length
            if size != shard.num_bytes:
                raise ManifestError(
                    f"{shard_path}: {size} bytes, {path} records {shard.num_bytes}; the shard "
                    "was truncated or replaced. Re-run `python -m preprocessing`."
                )
    return manifest


def check_records(data_dir: str, manifest: Manifest, subset: str) -> None:
    """Reads every record of `subset`'s shards (all modalities), checking CRCs and counts.

    Meant for the error path: tf.data reports a damaged record as `DataLossError: corrupted
    record at <offset>` without the file; this names the shard. It reads the whole subset.

    Raises:
      ManifestError: a shard holds a corrupt record (damaged after the manifest was written,
        so its size still matches) or another number of records than the manifest records.
    """
    for shard in manifest.shards:
        if shard.subset != subset:
            continue
        path = posixpath.join(data_dir, shard.path)
        dataset = tf.data.TFRecordDataset(path)
        try:
            count = int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        except tf.errors.DataLossError as e:
            detail = re.sub(r"\{\{.*?\}\}|\[Op:.*$", "", e.message, flags=re.DOTALL).strip()
            raise ManifestError(
                f"{path}: corrupt record ({detail}); the shard was damaged after "
                f"{posixpath.join(data_dir, MANIFEST_FILE)} was written. Re-run `python -m "
                f"preprocessing --output_dir={data_dir} ...` to rewrite it."
            ) from e
        if count != shard.num_records:
            raise ManifestError(
                f"{path}: {count} records, {posixpath.join(data_dir, MANIFEST_FILE)} records "
                f"{shard.num_records}; the manifest is not this directory's. Re-run `python -m "
                f"preprocessing --output_dir={data_dir} ...`."
            )
