"""End-to-end tests of the Beam job (DirectRunner, in-process) on generated UCF-format data.

Every record is read back through `tfrecords.schema.parse_record` inside `tf.data`, and
checked against the split lists and the source files (schema version 2: RGB chunk records
and flow records in separate shards).
"""

import collections
import dataclasses
import json
import math
import pathlib
import re
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import frames_job_config, tiny_eval_config

from input_pipeline import datasets, samples
from optical_flow import tvl1, video_frames
from preprocessing import clip_sources, finalize, outputs, pipeline, sharding, ucf101
from preprocessing import layout as layout_lib
from preprocessing.errors import DatasetError
from preprocessing.job_config import JobConfig
from tfrecords import manifest as manifest_lib
from tfrecords import schema
from tfrecords.manifest import ManifestError, read_manifest
from tfrecords.schema import FRAME_RATE

RGB, FLOW = schema.RGB_MODALITY, schema.FLOW_MODALITY
# Train clips of the synthetic tree have 7, 10 or 13 frames: with K = 8 chunks hold 1-2
# frames, and a 7-frame clip's chunk 7 is the short-clip case (frame 0 again).
RGB_CHUNKS = 8


@pytest.fixture(scope="module")
def dataset(synthetic_root) -> pathlib.Path:
    """The shared generated tree (tests/conftest.py) as a Path; read-only."""
    return pathlib.Path(synthetic_root)


def _run(config: JobConfig) -> pipeline.JobResult:
    return pipeline.run(config, PipelineOptions(["--runner=DirectRunner"]))


def _parse(paths: list[str], modality: str) -> list[dict]:
    """Every record of `paths`, parsed with the schema's parser inside tf.data."""
    dataset = tf.data.TFRecordDataset(paths).map(lambda r: schema.parse_record(r, modality))
    return list(dataset.as_numpy_iterator())


def _records(out: pathlib.Path, manifest, subset: str, modality: str) -> list[dict]:
    return _parse(manifest.shard_paths(str(out), subset, modality), modality)


def _by_video(records: list[dict]) -> dict[str, list[dict]]:
    by_id = collections.defaultdict(list)
    for record in records:
        by_id[record[schema.VIDEO_ID].decode()].append(record)
    return dict(by_id)


def _files(folder: pathlib.Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("frame*.jpg"))]


def _reassemble(chunks: list[dict], num_chunks: int) -> list[bytes]:
    """A video's RGB frames from its K chunk records (frame p of chunk j is frame j + pK;
    a chunk j >= N holds frame j - N), checking repeated frames agree."""
    assert sorted(int(c[schema.CHUNK]) for c in chunks) == list(range(num_chunks))
    num_frames = int(chunks[0][schema.VIDEO_FRAMES])
    frames: dict[int, bytes] = {}
    for chunk in chunks:
        j = int(chunk[schema.CHUNK])
        assert chunk[schema.NUM_CHUNKS] == num_chunks and chunk[schema.VIDEO_FRAMES] == num_frames
        indices = [j - num_frames] if j >= num_frames else list(range(j, num_frames, num_chunks))
        assert len(chunk[schema.RGB]) == len(indices)
        for index, data in zip(indices, chunk[schema.RGB], strict=True):
            assert frames.setdefault(index, data) == data
    return [frames[i] for i in sorted(frames)]


def _shard_bytes(out: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.tfrecord"))}


def _failures(out: pathlib.Path) -> dict[str, dict]:
    lines = (out / manifest_lib.FAILURES_FILE).read_text().splitlines()
    return {entry["video_id"]: entry for entry in map(json.loads, lines)}


def _frame_hw(folder: pathlib.Path) -> tuple[int, int]:
    return tuple(tf.io.decode_jpeg(_files(folder)[0]).shape[:2])


@pytest.fixture(scope="module")
def frames_run(dataset, tmp_path_factory):
    """The frames source with shards sized to 0.3 MB, so the sets get several shards."""
    out = tmp_path_factory.mktemp("frames_run")
    config = frames_job_config(dataset, out, shard_size_mb=0.3, rgb_chunks=RGB_CHUNKS)
    return out, _run(config)


def test_frames_source_writes_every_clip_byte_identical(dataset, frames_run):
    out, result = frames_run
    manifest = result.manifest
    splits = ucf101.read_splits(str(dataset / ucf101.SPLITS_DIR), 1)
    for subset, clips in splits.items():
        num_chunks = RGB_CHUNKS if subset == "train" else 1
        rgb = _by_video(_records(out, manifest, subset, RGB))
        flow = _by_video(_records(out, manifest, subset, FLOW))
        assert sorted(rgb) == sorted(flow) == sorted(c.video_id for c in clips)
        for clip in clips:
            source = _files(dataset / layout_lib.FRAMES_DIR / clip.video_id)
            flow_x = _files(dataset / layout_lib.FLOW_DIR / layout_lib.FLOW_X_DIR / clip.video_id)
            flow_y = _files(dataset / layout_lib.FLOW_DIR / layout_lib.FLOW_Y_DIR / clip.video_id)
            assert len(flow_x) == len(source) - 1
            chunks = rgb[clip.video_id]
            assert len(chunks) == num_chunks
            for record in chunks + flow[clip.video_id]:
                assert record[schema.LABEL] == clip.label
                assert record[schema.CLASS_NAME].decode() == clip.class_name
            assert chunks[0][schema.VIDEO_FRAMES] == len(source)
            assert _reassemble(chunks, num_chunks) == source
            (record,) = flow[clip.video_id]
            assert (record[schema.CHUNK], record[schema.NUM_CHUNKS]) == (0, 1)
            assert record[schema.VIDEO_FRAMES] == len(flow_x)
            assert list(record[schema.FLOW_X]) == flow_x
            assert list(record[schema.FLOW_Y]) == flow_y
    assert (out / manifest_lib.FAILURES_FILE).read_text() == ""
    assert not (out / outputs.STAGING_DIR).exists()


def test_frames_manifest_accounts_for_every_clip(dataset, frames_run):
    out, result = frames_run
    manifest = read_manifest(str(out))
    assert manifest == result.manifest
    manifest_lib.check_records(str(out), manifest, "train")
    splits_dir = str(dataset / ucf101.SPLITS_DIR)
    splits = ucf101.read_splits(splits_dir, 1)
    assert manifest.class_names == ucf101.read_class_index(splits_dir)
    assert (manifest.split, manifest.source) == (1, "frames")
    assert manifest.frame_resize == clip_sources.FRAMES_AS_GIVEN
    assert manifest.schema_version == schema.SCHEMA_VERSION
    assert manifest.command_line == "python -m preprocessing (test)"
    assert manifest.rgb_chunks == {"train": RGB_CHUNKS, "test": 1}
    ids = [c.video_id for clips in splits.values() for c in clips]
    rgb_hw = [_frame_hw(dataset / layout_lib.FRAMES_DIR / i) for i in ids]
    flow_hw = [_frame_hw(dataset / layout_lib.FLOW_DIR / layout_lib.FLOW_X_DIR / i) for i in ids]
    assert manifest.max_frame_hw == {
        RGB: [max(h for h, _ in rgb_hw), max(w for _, w in rgb_hw)],
        FLOW: [max(h for h, _ in flow_hw), max(w for _, w in flow_hw)],
    }
    several = 0
    for subset, clips in splits.items():
        assert manifest.listed[subset] == manifest.written[subset] == len(clips)
        assert manifest.failed[subset] == 0
        expected = {name: 0 for name in manifest.class_names}
        for clip in clips:
            expected[clip.class_name] += 1
        assert manifest.per_class[subset] == expected
        for modality, per_video in ((RGB, manifest.rgb_chunks[subset]), (FLOW, 1)):
            shards = [s for s in manifest.shards if (s.subset, s.modality) == (subset, modality)]
            total = sum(s.num_bytes for s in shards)
            assert len(shards) == max(1, math.ceil(total / 0.3e6))
            several += len(shards) > 1
            assert sum(s.num_records for s in shards) == len(clips) * per_video
            for index, shard in enumerate(shards):
                assert shard.path == manifest_lib.shard_name(subset, modality, index, len(shards))
                keys = [
                    sharding.record_key(r[schema.VIDEO_ID].decode(), r[schema.CHUNK])
                    for r in _parse([str(out / shard.path)], modality)
                ]
                assert shard.num_records == len(keys)
                assert shard.num_bytes == (out / shard.path).stat().st_size
                assert all(sharding.shard_index(k, len(shards)) == index for k in keys)
                assert keys == sorted(keys, key=sharding.record_order)
    assert several >= 2, "shard_size_mb=0.3 should split some subsets' modalities"
    # The K chunks of a video are spread over several shards.
    train_rgb = [s for s in manifest.shards if (s.subset, s.modality) == ("train", RGB)]
    per_video = collections.defaultdict(set)
    for shard in train_rgb:
        for record in _parse([str(out / shard.path)], RGB):
            per_video[record[schema.VIDEO_ID]].add(shard.path)
    assert all(len(paths) > 1 for paths in per_video.values())
    counters = result.counters
    total = sum(len(clips) for clips in splits.values())
    assert counters["clips_read"] == counters["clips_written"] == total
    assert "clips_failed" not in counters or counters["clips_failed"] == 0
    assert counters["flow_records"] == total
    assert counters["rgb_records"] == len(splits["train"]) * RGB_CHUNKS + len(splits["test"])
    assert counters["shard_bytes"] == sum(s.num_bytes for s in manifest.shards)
    assert counters["rgb_frames"] == len(list((dataset / layout_lib.FRAMES_DIR).glob("*/*.jpg")))


def test_rerun_is_byte_identical_crash_safe_and_replaces_stale_shards(
    dataset, tmp_path, monkeypatch
):
    # A schema-v1 directory being converted: its shards must go.
    tmp_path.joinpath("train-00000-of-00002.tfrecord").write_bytes(b"v1 shard")
    tmp_path.joinpath("test-00001-of-00002.tfrecord").write_bytes(b"v1 shard")
    config = frames_job_config(dataset, tmp_path, subsets=("train",), num_shards=3, rgb_chunks=3)
    _run(config)
    first = _shard_bytes(tmp_path)
    assert sorted(first) == [
        f"train-{m}-0000{i}-of-00003.tfrecord" for m in ("flow", "rgb") for i in range(3)
    ]
    _run(config)
    assert _shard_bytes(tmp_path) == first

    def disk_full(*unused_args):
        raise OSError("disk full")

    monkeypatch.setattr(finalize, "write_manifest", disk_full)
    with pytest.raises(Exception, match="disk full"):
        _run(config)
    with pytest.raises(ManifestError, match="not found"):  # never a stale manifest
        read_manifest(str(tmp_path))
    monkeypatch.undo()

    # More shards than records: the old 3 shards go, some new ones stay empty.
    clips = ucf101.read_split(str(dataset / ucf101.SPLITS_DIR), 1, "train")
    num_shards = 3 * len(clips) + 8
    manifest = _run(dataclasses.replace(config, num_shards=num_shards)).manifest
    names = [
        manifest_lib.shard_name("train", m, i, num_shards)
        for m in ("flow", "rgb")
        for i in range(num_shards)
    ]
    assert sorted(_shard_bytes(tmp_path)) == names == [s.path for s in manifest.shards]
    for modality, per_video in ((RGB, 3), (FLOW, 1)):
        shards = [s for s in manifest.shards if s.modality == modality]
        assert sum(s.num_records for s in shards) == per_video * len(clips)
        assert len(_records(tmp_path, manifest, "train", modality)) == per_video * len(clips)
    empty = [s for s in manifest.shards if s.num_records == 0]
    assert empty and all((tmp_path / s.path).stat().st_size == 0 for s in empty)
    assert not (tmp_path / outputs.STAGING_DIR).exists()


def test_clip_whose_flow_fails_to_encode_gets_no_rgb_records(dataset, tmp_path, monkeypatch):
    clips = ucf101.read_split(str(dataset / ucf101.SPLITS_DIR), 1, "train")
    victim = clips[0].video_id
    encode_flow = schema.encode_flow

    def failing_flow(video):
        if video.video_id == victim:  # after its RGB chunks were encoded
            raise RuntimeError("flow encoder broke")
        return encode_flow(video)

    monkeypatch.setattr(schema, "encode_flow", failing_flow)
    config = frames_job_config(dataset, tmp_path, subsets=("train",), rgb_chunks=4)
    manifest = _run(config).manifest
    failure = _failures(tmp_path)[victim]
    assert failure["stage"] == pipeline.STAGE_INTERNAL and "flow encoder broke" in failure["error"]
    assert (manifest.written["train"], manifest.failed["train"]) == (len(clips) - 1, 1)
    expected = sorted(c.video_id for c in clips if c.video_id != victim)
    for modality, per_video in ((RGB, 4), (FLOW, 1)):
        records = _by_video(_records(tmp_path, manifest, "train", modality))
        assert sorted(records) == expected
        assert all(len(r) == per_video for r in records.values())


def _widen_video(path: pathlib.Path) -> None:
    """Rewrites a 320x240 .avi as a 16:9 phone video (640x360), frame for frame."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_CUBIC))
    capture.release()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (640, 360))
    for frame in frames:
        writer.write(frame)
    writer.release()


# Eval views of tiny_eval_config (0.875 x 256 = 224 squares, 10 crops), by hand: rows 16, 0,
# 0, 32, 32 of the 32 free rows; columns free // 2, 0, free, 0, free; the 5 again mirrored.
EVAL_COLUMNS = {340: [58, 0, 116, 0, 116], 454: [115, 0, 230, 0, 230]}


def test_videos_source_decodes_and_computes_flow_each_video_at_its_aspect(dataset, tmp_path):
    """A data dir mixing UCF-101's 4:3 videos with 16:9 ones (one train, one test): records at
    the archives' sizes (340x256, 454x256), max_frame_hw the widest, and the train and eval
    pipelines read them: eval views inside each video's own frame."""
    root = tmp_path / "root"
    shutil.copytree(dataset, root)
    train = ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "train")
    wide = {_test_clips(root)[0].video_id, train[0].video_id}
    for clip in (_test_clips(root)[0], train[0]):
        _widen_video(root / ucf101.VIDEOS_DIR / clip.list_entry)
    out = tmp_path / "out"
    result = _run(frames_job_config(root, out, source="videos", rgb_chunks=2))
    manifest = result.manifest
    assert manifest.source == "videos/dis"
    assert manifest.frame_resize == video_frames.FRAME_RESIZE
    assert manifest.rgb_chunks == {"train": 2, "test": 1}
    assert manifest.max_frame_hw == {RGB: [256, 454], FLOW: [256, 454]}
    clips = {c.video_id: c for c in _test_clips(root)}
    rgb = _by_video(_records(out, manifest, "test", RGB))
    flow = _by_video(_records(out, manifest, "test", FLOW))
    assert sorted(rgb) == sorted(flow) == sorted(clips)
    for video_id, clip in clips.items():
        num_frames = len(list((root / layout_lib.FRAMES_DIR / video_id).glob("*.jpg")))
        (rgb_record,) = rgb[video_id]
        (flow_record,) = flow[video_id]
        assert rgb_record[schema.LABEL] == flow_record[schema.LABEL] == clip.label
        assert rgb_record[schema.VIDEO_FRAMES] == len(rgb_record[schema.RGB]) == num_frames
        assert flow_record[schema.VIDEO_FRAMES] == len(flow_record[schema.FLOW_X]) == num_frames - 1
        width = 454 if video_id in wide else 340
        assert tf.io.decode_jpeg(rgb_record[schema.RGB][-1]).shape == (256, width, 3)
        assert tf.io.decode_jpeg(flow_record[schema.FLOW_Y][0]).shape == (256, width, 1)
    train_rgb = _by_video(_records(out, manifest, "train", RGB))
    (wide_train,) = wide - set(clips)
    assert tf.io.decode_jpeg(train_rgb[wide_train][0][schema.RGB][0]).shape == (256, 454, 3)

    for stream in ("spatial", "temporal"):
        config = tiny_eval_config(stream)
        windows, _ = next(iter(datasets.train_dataset(config, str(out), 4)))
        side = datasets.train_window_side(config, manifest)  # largest crop 256: 264 (aliasing)
        assert side == 264 and windows.frames.shape[2:4] == (side, side)
        boxes = {}
        for batch in datasets.eval_dataset(config, str(out), "test"):
            frames = batch[samples.WINDOWS].frames.numpy()
            assert frames.shape[2:4] == (256, 454)  # padded to the widest
            for video_id, sample, views in zip(
                batch[samples.VIDEO_ID].numpy()[:, 0],
                frames,
                batch[samples.WINDOWS].boxes.numpy(),
                strict=True,
            ):
                width = 454 if video_id.decode() in wide else 340
                assert not sample[..., width:, :].any()  # zeros right of its own frame
                boxes[video_id.decode()] = views.tolist()
        assert sorted(boxes) == sorted(clips)
        for video_id, views in boxes.items():
            columns = EVAL_COLUMNS[454 if video_id in wide else 340]
            rows = [16, 0, 0, 32, 32]
            assert views == [[y, x, 224, 224] for y, x in zip(rows, columns, strict=True)] * 2


def _resize_frames(folder: pathlib.Path, height: int, width: int) -> None:
    for path in sorted(folder.glob("frame*.jpg")):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), cv2.resize(image, (width, height)))


def test_max_frame_hw_is_the_largest_height_and_width_per_modality(dataset, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(dataset, root, ignore=shutil.ignore_patterns(ucf101.VIDEOS_DIR))
    first, second = sorted(c.video_id for c in _test_clips(root))[:2]
    _resize_frames(root / layout_lib.FRAMES_DIR / first, 300, 200)  # taller, narrower than 256x340
    for axis in (layout_lib.FLOW_X_DIR, layout_lib.FLOW_Y_DIR):
        _resize_frames(root / layout_lib.FLOW_DIR / axis / second, 100, 400)  # wider
    manifest = _run(frames_job_config(root, tmp_path / "out", subsets=("test",))).manifest
    assert manifest.written["test"] == len(_test_clips(root))
    assert manifest.max_frame_hw == {RGB: [300, 340], FLOW: [256, 400]}


def _test_clips(root: pathlib.Path) -> list[ucf101.Clip]:
    return ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "test")


@pytest.fixture
def damaged_root(dataset, tmp_path) -> tuple[pathlib.Path, dict[str, str]]:
    """A copy of the dataset with five test clips broken; returns (root, id -> stage)."""
    root = tmp_path / "root"
    shutil.copytree(dataset, root)
    ids = sorted(c.video_id for c in _test_clips(root))[:5]
    corrupt = root / layout_lib.FRAMES_DIR / ids[0] / layout_lib.frame_name(2)
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    shutil.rmtree(root / layout_lib.FLOW_DIR / layout_lib.FLOW_Y_DIR / ids[1])
    for frame in (root / layout_lib.FRAMES_DIR / ids[2]).glob("*.jpg"):
        frame.unlink()
    clips = {c.video_id: c for c in _test_clips(root)}
    truncated = root / ucf101.VIDEOS_DIR / clips[ids[3]].list_entry
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    empty = root / ucf101.VIDEOS_DIR / clips[ids[4]].list_entry
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"XVID"), FRAME_RATE, (320, 240))
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
    for modality in (RGB, FLOW):
        records = _records(out, result.manifest, "test", modality)
        assert sorted(r[schema.VIDEO_ID].decode() for r in records) == sorted(good)
    manifest = result.manifest
    assert manifest.failed == {"test": len(broken)}
    assert manifest.written["test"] == manifest.listed["test"] - len(broken)
    assert result.counters["clips_failed"] == len(broken)


def test_missing_source_folder_names_the_folder(dataset, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(dataset / ucf101.SPLITS_DIR, root / ucf101.SPLITS_DIR)
    videos = re.escape(f"videos_dir={root / ucf101.VIDEOS_DIR}: folder not found; ")
    with pytest.raises(DatasetError, match=f"^{videos}source='videos' needs it to hold"):
        _run(frames_job_config(root, tmp_path / "out", source="videos"))
    frames = re.escape(f"frames_dir={root / layout_lib.FRAMES_DIR}: folder not found; ")
    with pytest.raises(DatasetError, match=f"^{frames}source='frames' needs it .* source='videos'"):
        _run(frames_job_config(root, tmp_path / "out"))


def test_videos_source_tvl1_stores_the_tensorflow_tvl1_of_the_decoded_frames(dataset, tmp_path):
    """--flow_algorithm=tvl1 on raw videos: every stored flow frame is the TensorFlow TV-L1
    (archive preset) of the decoded, archive-resized gray frames, quantized and encoded."""
    root = tmp_path / "root"
    shutil.copytree(dataset, root)
    test_list = root / ucf101.SPLITS_DIR / "testlist01.txt"
    test_list.write_bytes(test_list.read_bytes().split(b"\r\n")[0] + b"\r\n")  # one clip
    out = tmp_path / "out"
    config = frames_job_config(root, out, source="videos", flow_algorithm="tvl1", subsets=("test",))
    result = _run(config)
    assert result.manifest.source == "videos/tvl1"
    (clip,) = _test_clips(root)
    (record,) = _records(out, result.manifest, "test", FLOW)
    with video_frames.open_video(str(root / ucf101.VIDEOS_DIR / clip.list_entry)) as video:
        frames = list(video.frames)
    size = video_frames.archive_frame_size(*frames[0].shape[:2])
    gray = [video_frames.to_gray(video_frames.resize_frame(f, size)) for f in frames]
    assert len(record[schema.FLOW_X]) == len(gray) - 1
    for i in range(len(gray) - 1):
        flow = tvl1.tvl1_flow(gray[i][None], gray[i + 1][None], "archive")
        stored = (record[schema.FLOW_X][i], record[schema.FLOW_Y][i])
        assert stored == video_frames.encode_flow(np.asarray(flow)[0]), f"flow frame {i}"
