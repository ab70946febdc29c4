"""The Beam job on HMDB-51 and folder trees: awkward ids survive into the records and back.

Also the whole path a user runs: `python -m preprocessing --dataset=hmdb51`, then the
unchanged `train.py` and `eval.py` on the records.
"""

import collections
import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions

from preprocessing import datasets, hmdb51, pipeline
from preprocessing import layout as layout_lib
from preprocessing.job_config import JobConfig
from synthetic import formats, generate
from tfrecords import manifest as manifest_lib
from tfrecords import schema
from tfrecords.manifest import read_manifest

REPO = pathlib.Path(__file__).resolve().parents[1]
SPEC = generate.SyntheticSpec(
    num_appearances=2, num_motions=2, groups=3, clips_per_group=2, num_frames=(4, 7)
)
TRAIN, TEST = 3, 2  # per class and split, of 6 clips per class


@pytest.fixture(scope="module")
def hmdb_root(tmp_path_factory) -> pathlib.Path:
    """An HMDB-51 tree with the frame archives (no videos)."""
    root = tmp_path_factory.mktemp("hmdb")
    spec = dataclasses.replace(SPEC, layout=("frames", "flow"))
    formats.generate_hmdb(str(root), spec, TRAIN, TEST)
    return root


def _config(root: pathlib.Path, out: pathlib.Path, dataset: str, **changes):
    config = JobConfig(
        splits_dir=datasets.default_splits_dir(dataset, str(root)),
        layout=datasets.default_layout(dataset, str(root)),
        split=1,
        subsets=("train", "test"),
        source="frames",
        flow_algorithm="farneback",
        output_dir=str(out),
        num_shards=2,
        shard_size_mb=150.0,
        command_line="test",
        rgb_chunks=2,
        dataset=dataset,
    )
    return dataclasses.replace(config, **changes)


def _read_back(out: pathlib.Path, subset: str) -> dict[str, list[dict]]:
    """video id -> parsed records of `subset` (both modalities), via the manifest."""
    manifest = read_manifest(str(out))
    records = collections.defaultdict(list)
    for modality in schema.MODALITIES:
        paths = manifest.shard_paths(str(out), subset, modality)
        parsed = tf.data.TFRecordDataset(paths).map(lambda r, m=modality: schema.parse_record(r, m))
        for record in parsed.as_numpy_iterator():
            records[record[schema.VIDEO_ID].decode()].append(record)
    return dict(records)


def test_hmdb51_ids_labels_and_frames_survive_the_job(hmdb_root, tmp_path):
    out = tmp_path / "out"
    result = pipeline.run(_config(hmdb_root, out, "hmdb51"), PipelineOptions([]))
    manifest = result.manifest
    names = hmdb51.read_class_names(str(hmdb_root / hmdb51.SPLITS_DIR))
    assert manifest.dataset == "hmdb51" and manifest.class_names == names
    assert manifest.split_rule == "official split files"
    assert manifest.listed == manifest.written == {"train": 4 * TRAIN, "test": 4 * TEST}
    assert manifest.per_class == {
        "train": dict.fromkeys(names, TRAIN),
        "test": dict.fromkeys(names, TEST),
    }
    assert (out / manifest_lib.CLASS_INDEX_FILE).read_text() == "".join(
        f"{i + 1} {n}\n" for i, n in enumerate(names)
    )
    assert (out / manifest_lib.FAILURES_FILE).read_text() == ""
    splits = hmdb51.read_splits(str(hmdb_root / hmdb51.SPLITS_DIR), 1)
    for subset, clips in splits.items():
        records = _read_back(out, subset)
        assert sorted(records) == sorted(c.video_id for c in clips)
        for clip in clips:
            rgb_files = sorted(
                (hmdb_root / layout_lib.FRAMES_DIR / clip.video_id).glob("frame*.jpg")
            )
            per_video = 2 if subset == "train" else 1
            assert len(records[clip.video_id]) == per_video + 1  # RGB chunks + one flow record
            for record in records[clip.video_id]:
                assert record[schema.LABEL] == clip.label
                assert record[schema.CLASS_NAME].decode() == clip.class_name
            rgb = [r for r in records[clip.video_id] if schema.RGB in r]
            assert sum(len(r[schema.RGB]) for r in rgb) == len(rgb_files)
            assert {bytes(f) for r in rgb for f in r[schema.RGB]} == {
                p.read_bytes() for p in rgb_files
            }
    ids = "".join(c.video_id for clips in splits.values() for c in clips)
    assert set("!#&'()+,;@[]") <= set(ids)


def test_folder_with_csv_from_videos(tmp_path):
    root = tmp_path / "videos"
    clips = formats.generate_folder(str(root), SPEC)
    paths = sorted(c.path for c in clips)
    split_csv = tmp_path / "split.csv"
    # Paths with a comma are quoted, as any CSV writer does.
    split_csv.write_text(
        "path,subset\n"
        + "".join(f'"{p}",{"test" if i % 3 == 0 else "train"}\n' for i, p in enumerate(paths))
    )
    out = tmp_path / "out"
    config = _config(root, out, "folder", source="videos", split_csv=str(split_csv))
    manifest = pipeline.run(config, PipelineOptions([])).manifest
    assert manifest.dataset == "folder" and manifest.source == "videos/farneback"
    assert manifest.split_rule == f"CSV {split_csv}"  # how the split was made is recorded
    assert manifest.class_names == ["BeachFall", "BeachRise", "ForestFall", "ForestRise"]
    assert manifest.written == {"train": 16, "test": 8} and sum(manifest.failed.values()) == 0
    assert (out / manifest_lib.CLASS_INDEX_FILE).read_text().splitlines()[0] == "1 BeachFall"
    ids = {c.path: c.video_id for c in clips}
    assert sorted(_read_back(out, "test")) == sorted(ids[p] for p in paths[::3])


@pytest.mark.slow
def test_hmdb51_cli_then_train(hmdb_root, tmp_path):
    out = tmp_path / "records"
    command = [sys.executable, "-m", "preprocessing", "--dataset=hmdb51", f"--root={hmdb_root}"]
    result = subprocess.run(
        [*command, "--split=1", f"--output_dir={out}"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"train: {4 * TRAIN} written, 0 failed of {4 * TRAIN} listed" in result.stdout
    assert read_manifest(str(out)).dataset == "hmdb51"
    model_args = [
        f"--config={REPO / 'configs' / 'demo_spatial.py'}",
        f"--workdir={tmp_path / 'run'}",
        f"--data_dir={out}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    train = subprocess.run(
        [
            sys.executable,
            "train.py",
            *model_args,
            "--config.train.num_steps=4",
            "--config.train.batch_size=4",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    evaluated = subprocess.run(
        [sys.executable, "eval.py", *model_args, "--noprogress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert f"on {4 * TEST} videos" in evaluated.stderr
