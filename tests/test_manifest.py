"""Tests of manifest.json: round trip, atomic write, and refusal of mismatched shards."""

import json

import pytest

from tfrecords import manifest as manifest_lib
from tfrecords.schema import SCHEMA_VERSION

SHARD = "train-flow-00000-of-00001.tfrecord"


def _write(tmp_path, shard_bytes: bytes = b"0123456789") -> manifest_lib.Manifest:
    (tmp_path / SHARD).write_bytes(shard_bytes)
    manifest = manifest_lib.Manifest(
        schema_version=SCHEMA_VERSION,
        split=1,
        source="frames",
        class_names=["ApplyEyeMakeup", "YoYo"],
        listed={"train": 3},
        written={"train": 2},
        failed={"train": 1},
        per_class={"train": {"ApplyEyeMakeup": 1, "YoYo": 1}},
        shards=[manifest_lib.Shard(SHARD, "train", "flow", 2, 10)],
        rgb_chunks={"train": 8},
        max_frame_hw={"rgb": [256, 340], "flow": [256, 340]},
        command_line="python -m preprocessing --root=/data/ucf101 --output_dir=OUT",
    )
    manifest_lib.write_manifest(str(tmp_path), manifest)
    return manifest


def test_round_trip_and_shard_paths(tmp_path):
    written = _write(tmp_path)
    read = manifest_lib.read_manifest(str(tmp_path))
    assert read == written
    assert read.num_classes == 2
    assert read.shard_paths(str(tmp_path), "train", "flow") == [f"{tmp_path}/{SHARD}"]
    assert read.records_per_video("train", "rgb") == 8
    assert read.records_per_video("train", "flow") == 1
    assert not (tmp_path / "manifest.json.tmp").exists()
    with pytest.raises(manifest_lib.ManifestError, match="no 'test' flow shards"):
        read.shard_paths(str(tmp_path), "test", "flow")
    with pytest.raises(manifest_lib.ManifestError, match="no 'train' rgb shards"):
        read.shard_paths(str(tmp_path), "train", "rgb")


def test_a_manifest_written_before_frame_resize_reads_as_not_recorded(tmp_path):
    """The field is descriptive: same schema version, old manifests stay readable."""
    written = _write(tmp_path)
    fields = json.loads((tmp_path / manifest_lib.MANIFEST_FILE).read_text())
    assert fields.pop("frame_resize") == manifest_lib.FRAME_RESIZE_NOT_RECORDED
    (tmp_path / manifest_lib.MANIFEST_FILE).write_text(json.dumps(fields))
    read = manifest_lib.read_manifest(str(tmp_path))
    assert read == written and read.frame_resize == manifest_lib.FRAME_RESIZE_NOT_RECORDED
    assert "340x256, bilinear" in read.frame_resize


def test_shard_names_carry_subset_and_modality():
    name = manifest_lib.shard_name("train", "rgb", 3, 12)
    assert name == "train-rgb-00003-of-00012.tfrecord"
    match = manifest_lib.SHARD_NAME.match(name)
    assert match and match["subset"] == "train" and match["modality"] == "rgb"
    assert manifest_lib.SHARD_NAME.match(name + ".tmp") is None
    assert manifest_lib.SHARD_NAME.match("train-00003-of-00012.tfrecord") is None
    assert manifest_lib.V1_SHARD_NAME.match("train-00003-of-00012.tfrecord")


def test_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(manifest_lib.ManifestError, match="python -m preprocessing"):
        manifest_lib.read_manifest(str(tmp_path))


def test_truncated_or_missing_shard_refused(tmp_path):
    _write(tmp_path)
    (tmp_path / SHARD).write_bytes(b"01234")
    with pytest.raises(manifest_lib.ManifestError, match="5 bytes, .* records 10"):
        manifest_lib.read_manifest(str(tmp_path))
    (tmp_path / SHARD).unlink()
    with pytest.raises(manifest_lib.ManifestError, match="listed in .* but missing"):
        manifest_lib.read_manifest(str(tmp_path))


def test_other_schema_version_refused(tmp_path):
    _write(tmp_path)
    path = tmp_path / "manifest.json"
    path.write_text(
        path.read_text().replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 999')
    )
    with pytest.raises(manifest_lib.ManifestError, match="schema version 999"):
        manifest_lib.read_manifest(str(tmp_path))


def test_version_1_directory_names_the_command_that_rewrites_it(tmp_path):
    """A schema-1 manifest (no modality, chunks or frame sizes) is refused with its command."""
    (tmp_path / "manifest.json").write_text(
        '{"schema_version": 1, "split": 1, "source": "frames", "class_names": ["A", "B"], '
        '"shards": [{"path": "train-00000-of-00001.tfrecord", "subset": "train", '
        '"num_records": 2, "num_bytes": 10}], '
        '"command_line": "python -m preprocessing --root=/data/ucf101 --output_dir=OUT"}'
    )
    with pytest.raises(
        manifest_lib.ManifestError,
        match=r"schema version 1, this code reads 2 .* re-running `python -m preprocessing "
        r"--root=/data/ucf101 --output_dir=OUT`",
    ):
        manifest_lib.read_manifest(str(tmp_path))


def test_foreign_json_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"hello": 1}')
    with pytest.raises(manifest_lib.ManifestError, match="not a manifest of this project"):
        manifest_lib.read_manifest(str(tmp_path))
