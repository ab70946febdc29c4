"""`--flow_cache_dir` (issue 15): frames and flow kept per clip, so a re-run after a crash
computes only the clips without a complete cache entry, and its records equal a clean run's.

The videos source with `dis` flow runs the synthetic tree's 24 clips in ~4 s in-process.
"""

import json
import pathlib

import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import frames_job_config
from test_crash_recovery import _kill_when, _shard_bytes, _start, _Stderr

from optical_flow import video_frames
from preprocessing import clip_sources, pipeline, ucf101
from preprocessing.clip_sources import ClipError
from preprocessing.flow_cache import COMPLETE_DIR, FRAME_RESIZE_KEY, FlowCache
from preprocessing.layout import Layout, SourceIndex
from tfrecords.schema import IMAGE_FRAME_RATE, SOURCE

OPTIONS = PipelineOptions(["--runner=DirectRunner"])
ALGORITHM = "dis"


def _videos_config(root: pathlib.Path, out: pathlib.Path, cache: pathlib.Path | None):
    return frames_job_config(
        root,
        out,
        source="videos",
        flow_algorithm=ALGORITHM,
        num_shards=2,
        flow_cache_dir=None if cache is None else str(cache),
    )


@pytest.fixture(scope="module")
def clean_run(synthetic_root, tmp_path_factory):
    """A videos-source run without a cache: its result and shard bytes."""
    out = tmp_path_factory.mktemp("clean") / "records"
    result = pipeline.run(_videos_config(pathlib.Path(synthetic_root), out, None), OPTIONS)
    return result, _shard_bytes(out)


def _records_without_source(out: pathlib.Path) -> dict[str, list[bytes]]:
    """Shard name -> its records with the fields naming the source removed."""
    records = {}
    for path in sorted(out.glob("*.tfrecord")):
        shard = []
        for data in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            example = tf.train.SequenceExample.FromString(data)
            del example.context.feature[SOURCE]
            del example.context.feature[IMAGE_FRAME_RATE]
            shard.append(example.SerializeToString(deterministic=True))
        records[path.name] = shard
    return records


def test_rerun_reads_every_clip_from_the_cache_and_cache_is_a_frames_root(
    synthetic_root, clean_run, tmp_path
):
    root, cache = pathlib.Path(synthetic_root), tmp_path / "cache"
    clean, clean_shards = clean_run
    clips = sum(clean.manifest.written.values())
    assert clips == 24 and not any(clean.manifest.failed.values())

    first = pipeline.run(_videos_config(root, tmp_path / "first", cache), OPTIONS)
    assert first.counters["clips_computed"] == clips
    assert "clips_from_cache" not in first.counters
    assert first.counters["flow_pairs_computed"] == clean.counters["flow_pairs_computed"]
    assert _shard_bytes(tmp_path / "first") == clean_shards

    second = pipeline.run(_videos_config(root, tmp_path / "second", cache), OPTIONS)
    assert second.counters["clips_from_cache"] == clips
    assert "clips_computed" not in second.counters
    assert "flow_pairs_computed" not in second.counters
    assert second.manifest.shards == clean.manifest.shards
    assert _shard_bytes(tmp_path / "second") == clean_shards
    # One tree per algorithm: a dis cache never serves another algorithm.
    assert [p.name for p in cache.iterdir()] == [ALGORITHM]

    frames = frames_job_config(
        cache / ALGORITHM,
        tmp_path / "frames",
        num_shards=2,
        splits_dir=str(root / ucf101.SPLITS_DIR),
    )
    from_frames = pipeline.run(frames, OPTIONS)
    assert from_frames.manifest.written == clean.manifest.written
    assert from_frames.manifest.source == "frames"
    assert _records_without_source(tmp_path / "frames") == _records_without_source(
        tmp_path / "second"
    )


@pytest.mark.slow  # drives the CLI
def test_killed_run_rerun_computes_only_clips_without_a_marker(synthetic_root, clean_run, tmp_path):
    root, cache, out = pathlib.Path(synthetic_root), tmp_path / "cache", tmp_path / "records"
    clean, clean_shards = clean_run
    markers = cache / ALGORITHM / COMPLETE_DIR
    process = _start(
        [
            "-m",
            "preprocessing",
            f"--root={root}",
            "--split=1",
            "--source=videos",
            f"--flow_algorithm={ALGORITHM}",
            f"--flow_cache_dir={cache}",
            f"--output_dir={out}",
            "--num_shards=2",
            "--runner=DirectRunner",
        ]
    )
    _Stderr(process)
    _kill_when(process, lambda: markers.is_dir() and any(markers.iterdir()), "a cache marker")
    complete = {p.name for p in markers.iterdir()}
    clips = sum(clean.manifest.written.values())
    assert 0 < len(complete) < clips, "killed after every clip was done: nothing to test"
    assert complete == FlowCache(str(cache), ALGORITHM).complete_ids()

    rerun = pipeline.run(_videos_config(root, out, cache), OPTIONS)
    assert rerun.counters["clips_from_cache"] == len(complete)
    assert rerun.counters["clips_computed"] == clips - len(complete)
    assert rerun.manifest.shards == clean.manifest.shards
    assert _shard_bytes(out) == clean_shards
    assert len(list(markers.iterdir())) == clips


def test_flow_cache_needs_the_videos_source(synthetic_root, tmp_path):
    config = frames_job_config(
        pathlib.Path(synthetic_root), tmp_path / "out", flow_cache_dir=str(tmp_path / "cache")
    )
    with pytest.raises(ValueError, match="flow_cache_dir=.*: a flow cache needs source='videos'"):
        pipeline.run(config, OPTIONS)


def test_an_entry_of_another_resize_rule_is_recomputed(synthetic_root, tmp_path):
    """A marker without `frame_resize` (340x256 for every video) or of another rule: read()
    refuses the entry (the job recomputes and replaces it); with this job's rule, a hit."""
    root = pathlib.Path(synthetic_root)
    clip = ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "test")[0]
    video = clip_sources.read_clip(clip, SourceIndex(Layout.under(str(root))), "videos", ALGORITHM)
    cache = FlowCache(str(tmp_path / "cache"), ALGORITHM)
    cache.write(video)
    assert cache.read(clip, verify_jpeg_decode=True) == video
    marker = pathlib.Path(cache.marker(clip.video_id))
    info = json.loads(marker.read_text())
    assert info[FRAME_RESIZE_KEY] == video_frames.FRAME_RESIZE
    del info[FRAME_RESIZE_KEY]
    marker.write_text(json.dumps(info))
    with pytest.raises(ClipError, match="resized by another rule .*340x256, before"):
        cache.read(clip, verify_jpeg_decode=True)
