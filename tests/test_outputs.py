"""Tests of the output directory's steps: prepare, publish, stale shards, failures."""

import json
import pathlib

from preprocessing import outputs
from preprocessing.outputs import Failure, TempShard
from tfrecords import manifest as manifest_lib
from tfrecords.manifest import Shard


def _temp(out, subset, modality, index, num_shards, data):
    path = outputs.temp_shard_path(str(out), f"{subset}-{modality}-{index}.tmp")
    with open(path, "wb") as f:
        f.write(data)
    return TempShard(subset, modality, index, num_shards, path, 1, len(data), (("A", 1),), (2, 3))


def test_prepare_removes_manifest_failures_and_old_staging(tmp_path):
    (tmp_path / manifest_lib.MANIFEST_FILE).write_text("{}")
    (tmp_path / manifest_lib.FAILURES_FILE).write_text("")
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"old")
    outputs.prepare(str(tmp_path), ["train"])
    leftover = outputs.staged_record_path(str(tmp_path), "train", "rgb", "v_A_g01_c01", 3)
    assert leftover == str(tmp_path / ".staging" / "train" / "rgb" / "v_A_g01_c01-3.tfrecord")
    pathlib.Path(leftover).write_bytes(b"from a crashed run")
    outputs.prepare(str(tmp_path), ["train"])
    assert (
        not (tmp_path / manifest_lib.MANIFEST_FILE).exists()
        and not (tmp_path / manifest_lib.FAILURES_FILE).exists()
    )
    assert not pathlib.Path(leftover).exists() and (tmp_path / ".staging" / "shards").is_dir()
    for modality in ("rgb", "flow"):
        assert (tmp_path / ".staging" / "train" / modality).is_dir()
    # Shards stay until the new run replaces them: only the manifest says what is valid.
    assert (tmp_path / "train-00000-of-00001.tfrecord").exists()


def test_publish_fills_missing_shards_and_is_idempotent(tmp_path):
    outputs.prepare(str(tmp_path), ["test"])
    temps = [
        _temp(tmp_path, "test", "rgb", 2, 3, b"two"),
        _temp(tmp_path, "test", "rgb", 0, 3, b"zero"),
        _temp(tmp_path, "test", "flow", 0, 1, b"flow"),
    ]
    expected = [
        Shard("test-flow-00000-of-00001.tfrecord", "test", "flow", 1, 4),
        Shard("test-rgb-00000-of-00003.tfrecord", "test", "rgb", 1, 4),
        Shard("test-rgb-00001-of-00003.tfrecord", "test", "rgb", 0, 0),
        Shard("test-rgb-00002-of-00003.tfrecord", "test", "rgb", 1, 3),
    ]
    assert outputs.publish_shards(str(tmp_path), temps) == expected
    assert outputs.publish_shards(str(tmp_path), temps) == expected  # a retried step
    assert (tmp_path / "test-rgb-00000-of-00003.tfrecord").read_bytes() == b"zero"
    assert (tmp_path / "test-rgb-00001-of-00003.tfrecord").read_bytes() == b""
    assert (tmp_path / "test-flow-00000-of-00001.tfrecord").read_bytes() == b"flow"


def test_delete_stale_shards_removes_old_and_v1_shards_and_keeps_other_files(tmp_path):
    keep = {"test-rgb-00000-of-00003.tfrecord", "test-flow-00000-of-00001.tfrecord"}
    stale = [
        "test-rgb-00000-of-00002.tfrecord",
        "train-flow-00001-of-00004.tfrecord",
        "test-00000-of-00003.tfrecord",  # schema v1
        "train-00011-of-00012.tfrecord",  # schema v1
    ]
    others = ["notes.txt", "test-rgb-00000-of-00003.tfrecord.tmp", "train-rgb-1-of-2.tfrecord"]
    for name in (*keep, *stale, *others):
        (tmp_path / name).write_bytes(b"x")
    outputs.delete_stale_shards(str(tmp_path), keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, *others])


def test_write_failures_sorted_json_lines(tmp_path):
    failures = [
        Failure("train", "v_B_g01_c01", "jpeg", "bad"),
        Failure("test", "v_Z_g01_c01", "locate", "missing"),
        Failure("train", "v_A_g01_c01", "decode", "truncated"),
    ]
    outputs.write_failures(str(tmp_path), failures)
    lines = [
        json.loads(line)
        for line in (tmp_path / manifest_lib.FAILURES_FILE).read_text().splitlines()
    ]
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
    assert (tmp_path / manifest_lib.FAILURES_FILE).read_text() == ""
