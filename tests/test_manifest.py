"""Tests of manifest.json: round trip, atomic write, and refusal of mismatched shards."""

import pytest

from tfrecords import manifest as manifest_lib
from tfrecords.schema import SCHEMA_VERSION


def _write(tmp_path, shard_bytes: bytes = b"0123456789") -> manifest_lib.Manifest:
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(shard_bytes)
    manifest = manifest_lib.Manifest(
        schema_version=SCHEMA_VERSION,
        split=1,
        source="frames",
        class_names=["ApplyEyeMakeup", "YoYo"],
        listed={"train": 3},
        written={"train": 2},
        failed={"train": 1},
        per_class={"train": {"ApplyEyeMakeup": 1, "YoYo": 1}},
        shards=[manifest_lib.Shard("train-00000-of-00001.tfrecord", "train", 2, 10)],
        command_line="python -m preprocessing ...",
    )
    manifest_lib.write_manifest(str(tmp_path), manifest)
    return manifest


def test_round_trip_and_shard_paths(tmp_path):
    written = _write(tmp_path)
    read = manifest_lib.read_manifest(str(tmp_path))
    assert read == written
    assert read.num_classes == 2
    assert read.shard_paths(str(tmp_path), "train") == [f"{tmp_path}/train-00000-of-00001.tfrecord"]
    assert not (tmp_path / "manifest.json.tmp").exists()
    with pytest.raises(manifest_lib.ManifestError, match="no 'test' shards"):
        read.shard_paths(str(tmp_path), "test")


def test_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(manifest_lib.ManifestError, match="python -m preprocessing"):
        manifest_lib.read_manifest(str(tmp_path))


def test_truncated_or_missing_shard_refused(tmp_path):
    _write(tmp_path)
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"01234")
    with pytest.raises(manifest_lib.ManifestError, match="5 bytes, .* records 10"):
        manifest_lib.read_manifest(str(tmp_path))
    (tmp_path / "train-00000-of-00001.tfrecord").unlink()
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


def test_foreign_json_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"hello": 1}')
    with pytest.raises(manifest_lib.ManifestError, match="not a manifest of this project"):
        manifest_lib.read_manifest(str(tmp_path))
