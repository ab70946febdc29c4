"""End-to-end tests of the Beam job (DirectRunner, in-process) on generated UCF-format data.

Every record is read back through `tfrecords.schema.parse_video` inside `tf.data`, and checked
against the split lists and the source files.
"""

import dataclasses
import json
import pathlib
import shutil

import cv2
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import frames_job_config

from preprocessing import outputs, pipeline, sharding, ucf101
from preprocessing.errors import DatasetError
from tfrecords import schema
from tfrecords.manifest import ManifestError, read_manifest


@pytest.fixture(scope="module")
def dataset(synthetic_root) -> pathlib.Path:
    """The shared generated tree (tests/conftest.py) as a Path; read-only."""
    return pathlib.Path(synthetic_root)


def _run(config: pipeline.JobConfig) -> pipeline.JobResult:
    return pipeline.run(config, PipelineOptions(["--runner=DirectRunner"]))


def _records(out: pathlib.Path, manifest, subset: str) -> list[dict]:
    """Every record of `subset`, parsed with the schema's parser inside tf.data."""
    paths = manifest.shard_paths(str(out), subset)
    dataset = tf.data.TFRecordDataset(paths).map(schema.parse_video)
    return list(dataset.as_numpy_iterator())


def _files(folder: pathlib.Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("frame*.jpg"))]


def _shard_bytes(out: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tfrecord"))}


def _failures(out: pathlib.Path) -> dict[str, dict]:
    lines = (out / "failures.jsonl").read_text().splitlines()
    return {entry["video_id"]: entry for entry in map(json.loads, lines)}


@pytest.fixture(scope="module")
def frames_run(dataset, tmp_path_factory):
    """The frames source with shards sized to ~1 MB, so each subset gets several shards."""
    out = tmp_path_factory.mktemp("frames_run")
    result = _run(frames_job_config(dataset, out, shard_size_mb=1.0))
    return out, result


def test_frames_source_writes_every_clip_byte_identical(dataset, frames_run):
    out, result = frames_run
    manifest = result.manifest
    splits = ucf101.read_splits(str(dataset / "ucfTrainTestlist"), 1)
    for subset, clips in splits.items():
        records = _records(out, manifest, subset)
        by_id = {r[schema.VIDEO_ID].decode(): r for r in records}
        assert len(by_id) == len(records) == len(clips)
        for clip in clips:
            record = by_id[clip.video_id]
            assert record[schema.LABEL] == clip.label
            assert record[schema.CLASS_NAME].decode() == clip.class_name
            rgb = _files(dataset / "jpegs_256" / clip.video_id)
            flow_x = _files(dataset / "tvl1_flow" / "u" / clip.video_id)
            flow_y = _files(dataset / "tvl1_flow" / "v" / clip.video_id)
            assert record[schema.NUM_RGB] == len(rgb) and record[schema.NUM_FLOW] == len(flow_x)
            assert list(record[schema.RGB]) == rgb
            assert list(record[schema.FLOW_X]) == flow_x
            assert list(record[schema.FLOW_Y]) == flow_y
    assert (out / "failures.jsonl").read_text() == ""
    assert not (out / outputs.STAGING_DIR).exists()


def test_frames_manifest_accounts_for_every_clip(dataset, frames_run):
    out, result = frames_run
    manifest = read_manifest(str(out))
    assert manifest == result.manifest
    splits_dir = str(dataset / "ucfTrainTestlist")
    splits = ucf101.read_splits(splits_dir, 1)
    assert manifest.class_names == ucf101.read_class_index(splits_dir)
    assert (manifest.split, manifest.source) == (1, "frames")
    assert manifest.schema_version == schema.SCHEMA_VERSION
    assert manifest.command_line == "python -m preprocessing (test)"
    for subset, clips in splits.items():
        assert manifest.listed[subset] == manifest.written[subset] == len(clips)
        assert manifest.failed[subset] == 0
        expected = {name: 0 for name in manifest.class_names}
        for clip in clips:
            expected[clip.class_name] += 1
        assert manifest.per_class[subset] == expected
        shards = [s for s in manifest.shards if s.subset == subset]
        assert len(shards) > 1, "shard_size_mb=1 should split each subset"
        for index, shard in enumerate(shards):
            assert shard.path == sharding.shard_name(subset, index, len(shards))
            ids = [
                r[schema.VIDEO_ID].decode()
                for r in tf.data.TFRecordDataset(str(out / shard.path))
                .map(schema.parse_video)
                .as_numpy_iterator()
            ]
            assert shard.num_records == len(ids)
            assert shard.num_bytes == (out / shard.path).stat().st_size
            assert all(sharding.shard_index(i, len(shards)) == index for i in ids)
            assert ids == sorted(ids, key=sharding.record_order)
    counters = result.counters
    total = sum(len(clips) for clips in splits.values())
    assert counters["clips_read"] == counters["clips_written"] == total
    assert "clips_failed" not in counters or counters["clips_failed"] == 0
    assert counters["shard_bytes"] == sum(s.num_bytes for s in manifest.shards)
    assert counters["rgb_frames"] == len(list((dataset / "jpegs_256").glob("*/*.jpg")))


def test_rerun_is_byte_identical_crash_safe_and_replaces_stale_shards(
    dataset, tmp_path, monkeypatch
):
    config = frames_job_config(dataset, tmp_path, subsets=("test",), num_shards=3)
    _run(config)
    first = _shard_bytes(tmp_path)
    assert sorted(first) == [f"test-0000{i}-of-00003.tfrecord" for i in range(3)]
    _run(config)
    assert _shard_bytes(tmp_path) == first

    def disk_full(*unused_args):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "write_manifest", disk_full)
    with pytest.raises(Exception, match="disk full"):
        _run(config)
    with pytest.raises(ManifestError, match="not found"):  # never a stale manifest
        read_manifest(str(tmp_path))
    monkeypatch.undo()

    # More shards than clips: the old 3 shards go, some new ones stay empty.
    clips = _test_clips(dataset)
    num_shards = len(clips) + 8
    manifest = _run(dataclasses.replace(config, num_shards=num_shards)).manifest
    names = [sharding.shard_name("test", i, num_shards) for i in range(num_shards)]
    assert sorted(_shard_bytes(tmp_path)) == names == [s.path for s in manifest.shards]
    assert sum(s.num_records for s in manifest.shards) == len(clips)
    empty = [s for s in manifest.shards if s.num_records == 0]
    assert empty and all((tmp_path / s.path).stat().st_size == 0 for s in empty)
    assert len(_records(tmp_path, manifest, "test")) == len(clips)
    assert not (tmp_path / outputs.STAGING_DIR).exists()


def _test_clips(root: pathlib.Path) -> list[ucf101.Clip]:
    return ucf101.read_split(str(root / "ucfTrainTestlist"), 1, "test")


def test_videos_source_decodes_and_computes_flow(dataset, tmp_path):
    result = _run(frames_job_config(dataset, tmp_path, source="videos", subsets=("test",)))
    assert result.manifest.source == "videos/dis"
    records = _records(tmp_path, result.manifest, "test")
    clips = {c.video_id: c for c in _test_clips(dataset)}
    assert sorted(r[schema.VIDEO_ID].decode() for r in records) == sorted(clips)
    for record in records:
        clip = clips[record[schema.VIDEO_ID].decode()]
        num_frames = len(list((dataset / "jpegs_256" / clip.video_id).glob("*.jpg")))
        assert record[schema.LABEL] == clip.label
        assert record[schema.NUM_RGB] == len(record[schema.RGB]) == num_frames
        assert record[schema.NUM_FLOW] == len(record[schema.FLOW_X]) == num_frames - 1
        assert tf.io.decode_jpeg(record[schema.RGB][-1]).shape == (256, 340, 3)
        assert tf.io.decode_jpeg(record[schema.FLOW_Y][0]).shape == (256, 340, 1)


@pytest.fixture
def damaged_root(dataset, tmp_path) -> tuple[pathlib.Path, dict[str, str]]:
    """A copy of the dataset with five test clips broken; returns (root, id -> stage)."""
    root = tmp_path / "root"
    shutil.copytree(dataset, root)
    ids = sorted(c.video_id for c in _test_clips(root))[:5]
    corrupt = root / "jpegs_256" / ids[0] / "frame000002.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    shutil.rmtree(root / "tvl1_flow" / "v" / ids[1])
    for frame in (root / "jpegs_256" / ids[2]).glob("*.jpg"):
        frame.unlink()
    clips = {c.video_id: c for c in _test_clips(root)}
    truncated = root / "UCF-101" / clips[ids[3]].list_entry
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    empty = root / "UCF-101" / clips[ids[4]].list_entry
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"XVID"), 25.0, (320, 240))
    writer.release()
    assert empty.exists()
    return root, {
        ids[0]: "jpeg",
        ids[1]: "locate",
        ids[2]: "frame_counts",
        ids[3]: "decode",
        ids[4]: "decode",
    }


@pytest.mark.parametrize("source", ["frames", "videos"])
def test_bad_clips_are_reported_and_good_clips_written(damaged_root, tmp_path, source):
    root, stages = damaged_root
    broken = dict(list(stages.items())[:3] if source == "frames" else list(stages.items())[3:])
    out = tmp_path / "out"
    result = _run(frames_job_config(root, out, source=source, subsets=("test",)))
    failures = _failures(out)
    assert {i: f["stage"] for i, f in failures.items()} == broken
    assert all(f["subset"] == "test" and i in f["error"] for i, f in failures.items())
    good = {c.video_id for c in _test_clips(root)} - set(broken)
    written = {r[schema.VIDEO_ID].decode() for r in _records(out, result.manifest, "test")}
    assert written == good
    manifest = result.manifest
    assert manifest.failed == {"test": len(broken)}
    assert manifest.written["test"] == manifest.listed["test"] - len(broken)
    assert result.counters["clips_failed"] == len(broken)


def test_missing_source_folder_names_the_flag(dataset, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(dataset / "ucfTrainTestlist", root / "ucfTrainTestlist")
    with pytest.raises(DatasetError, match="--videos_dir=.*folder not found"):
        _run(frames_job_config(root, tmp_path / "out", source="videos"))
    with pytest.raises(DatasetError, match="--frames_dir=.*folder not found"):
        _run(frames_job_config(root, tmp_path / "out"))


@pytest.mark.parametrize(
    "changes, flag",
    [
        ({"split": 4}, "--split"),
        ({"subsets": ("train", "val")}, "--subsets"),
        ({"subsets": ("test", "test")}, "--subsets"),
        ({"source": "zip"}, "--source"),
        ({"flow_algorithm": "lk"}, "--flow_algorithm"),
        ({"num_shards": 0}, "--num_shards"),
        ({"shard_size_mb": 0.0}, "--shard_size_mb"),
        ({"output_dir": ""}, "--output_dir"),
    ],
)
def test_config_check_names_the_flag(tmp_path, changes, flag):
    config = frames_job_config(tmp_path, tmp_path / "out", **changes)
    with pytest.raises(ValueError, match=flag):
        config.check()
