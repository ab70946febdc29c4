"""Tests of the output directory's steps: prepare, publish, stale shards, failures."""

import json

from preprocessing import outputs
from preprocessing.outputs import Failure, TempShard
from tfrecords.manifest import Shard


def _temp(out, subset, index, num_shards, data):
    path = outputs.temp_shard_path(str(out), f"{subset}-{index}.tmp")
    with open(path, "wb") as f:
        f.write(data)
    return TempShard(subset, index, num_shards, path, 1, len(data), (("A", 1),))


def test_prepare_removes_manifest_failures_and_old_staging(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "failures.jsonl").write_text("")
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"old")
    outputs.prepare(str(tmp_path), ["train"])
    leftover = tmp_path / ".staging" / "train" / "v_A_g01_c01.tfrecord"
    leftover.write_bytes(b"from a crashed run")
    outputs.prepare(str(tmp_path), ["train"])
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / "failures.jsonl").exists()
    assert not leftover.exists() and (tmp_path / ".staging" / "shards").is_dir()
    # Shards stay until the new run replaces them: only the manifest says what is valid.
    assert (tmp_path / "train-00000-of-00001.tfrecord").exists()


def test_publish_fills_missing_shards_and_is_idempotent(tmp_path):
    outputs.prepare(str(tmp_path), ["test"])
    temps = [_temp(tmp_path, "test", 0, 3, b"zero"), _temp(tmp_path, "test", 2, 3, b"two")]
    expected = [
        Shard("test-00000-of-00003.tfrecord", "test", 1, 4),
        Shard("test-00001-of-00003.tfrecord", "test", 0, 0),
        Shard("test-00002-of-00003.tfrecord", "test", 1, 3),
    ]
    assert outputs.publish_shards(str(tmp_path), temps) == expected
    assert outputs.publish_shards(str(tmp_path), temps) == expected  # a retried step
    assert (tmp_path / "test-00000-of-00003.tfrecord").read_bytes() == b"zero"
    assert (tmp_path / "test-00001-of-00003.tfrecord").read_bytes() == b""


def test_delete_stale_shards_keeps_other_files(tmp_path):
    for name in ("test-00000-of-00002.tfrecord", "test-00000-of-00003.tfrecord", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    outputs.delete_stale_shards(str(tmp_path), {"test-00000-of-00003.tfrecord"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt",
        "test-00000-of-00003.tfrecord",
    ]


def test_write_failures_sorted_json_lines(tmp_path):
    failures = [
        Failure("train", "v_B_g01_c01", "jpeg", "bad"),
        Failure("test", "v_Z_g01_c01", "locate", "missing"),
        Failure("train", "v_A_g01_c01", "decode", "truncated"),
    ]
    outputs.write_failures(str(tmp_path), failures)
    lines = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert [(x["subset"], x["video_id"]) for x in lines] == [
        ("test", "v_Z_g01_c01"),
        ("train", "v_A_g01_c01"),
        ("train", "v_B_g01_c01"),
    ]
    assert lines[0] == {
        "subset": "test",
        "video_id": "v_Z_g01_c01",
        "stage": "locate",
        "error": "missing",
    }
    outputs.write_failures(str(tmp_path), [])
    assert (tmp_path / "failures.jsonl").read_text() == ""
