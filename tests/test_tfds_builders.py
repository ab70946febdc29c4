"""End-to-end tests of the TFDS builders: `tfds build` and `python -m preprocessing --format=tfds`
on a generated archive-layout tree, read back without this project's code, and read by the
input pipeline, train.py and eval.py as the SequenceExample shards are."""

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_ROOT, damage_jpeg_scan, load_config_file, quick_train_args

from evaluation import scores
from input_pipeline import datasets
from preprocessing import layout as layout_lib
from preprocessing import ucf101
from synthetic import formats, generate
from tfrecords import manifest as manifest_lib
from tfrecords import schema, tfds_schema

pytestmark = pytest.mark.slow

BUILDER = "two_stream_ucf101"
VERSION = "1.0.0"
TRAIN_STEPS = 6
# A small HMDB-51-format tree: 4 classes, per class and split 2 train and 1 test clips.
HMDB_SPEC = generate.SyntheticSpec(
    num_appearances=2, num_motions=2, groups=3, clips_per_group=1, num_frames=(6, 8)
)
HMDB_TRAIN, HMDB_TEST = 2, 1

# Reads a built config with TFDS alone and prints what the test checks, as JSON; it fails if
# anything of this project was imported.
READ_BACK = r"""
import hashlib, json, sys
import tensorflow_datasets as tfds

builder = tfds.builder_from_directory(sys.argv[1])
frame_keys = [k for k in ("rgb", "flow_x", "flow_y") if k in builder.info.features]
decoders = {k: tfds.decode.SkipDecoding() for k in frame_keys}
out = {"classes": builder.info.features["label"].names, "metadata": dict(builder.info.metadata),
       "splits": {}}
for split in builder.info.splits:
    examples = []
    for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders)):
        examples.append({
            "video_id": ex["video_id"].decode(), "label": int(ex["label"]),
            "chunk": int(ex["chunk"]), "num_chunks": int(ex["num_chunks"]),
            "video_frames": int(ex["video_frames"]),
            **{k: [hashlib.sha256(f).hexdigest() for f in ex[k]] for k in frame_keys},
        })
    out["splits"][split] = examples
ours = {"preprocessing", "tfrecords", "input_pipeline", "training", "evaluation", "models"}
assert not ours & {name.split(".")[0] for name in sys.modules}, "imported project code"
print(json.dumps(out))
"""


def _popen(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=kwargs.pop("cwd", REPO_ROOT), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, **kwargs,
    )  # fmt: skip


def _finish(processes: dict[str, subprocess.Popen]) -> dict[str, subprocess.CompletedProcess]:
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        results[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return results


def _config_dir(data_dir: pathlib.Path, modality: str) -> pathlib.Path:
    return data_dir / BUILDER / tfds_schema.builder_config_name(1, modality) / VERSION


@pytest.fixture(scope="module")
def built(synthetic_root, tmp_path_factory):
    """Every build of the module, started together (TensorFlow start-up dominates each):
    `tfds build` of split1_rgb, the project's `--format=tfds` (both modalities), the
    SequenceExample shards of the same tree (one shard per set, so both formats hold the
    records in the same order), a damaged copy built with `--format=tfds`, and
    `--format=tfds` into the SequenceExample directory (refused)."""
    work = tmp_path_factory.mktemp("tfds")
    root = pathlib.Path(synthetic_root)
    damaged = work / "damaged"
    shutil.copytree(root, damaged, ignore=shutil.ignore_patterns(ucf101.VIDEOS_DIR))
    test_ids = sorted(
        c.video_id for c in ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "test")
    )
    frame = damaged / layout_lib.FRAMES_DIR / test_ids[0] / layout_lib.frame_name(1)
    frame.write_bytes(damage_jpeg_scan(frame.read_bytes()))
    hmdb = work / "hmdb"
    hmdb_spec = dataclasses.replace(HMDB_SPEC, layout=("frames", "flow"))
    formats.generate_hmdb(str(hmdb), hmdb_spec, HMDB_TRAIN, HMDB_TEST)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    tfds_cli = str(pathlib.Path(sys.executable).parent / "tfds")
    seq = work / "seq"
    refuse = work / "refuse"  # where SequenceExample shards are: --format=tfds is refused
    refuse.mkdir()
    (refuse / manifest_lib.MANIFEST_FILE).write_text("{}")
    start = time.monotonic()
    runs = _finish(
        {
            "cli": _popen(
                [
                    tfds_cli,
                    "build",
                    BUILDER,
                    "--imports=preprocessing.tfds_builders",
                    f"--manual_dir={root}",
                    f"--data_dir={work / 'cli'}",
                    "--config=split1_rgb",
                    "--beam_pipeline_options=runner=DirectRunner",
                ],
                env=env,
            ),  # fmt: skip
            "project": _popen(
                [
                    sys.executable,
                    "-m",
                    "preprocessing",
                    "--format=tfds",
                    f"--root={root}",
                    f"--output_dir={work / 'project'}",
                ]
            ),  # fmt: skip
            "seq": _popen(
                [
                    sys.executable,
                    "-m",
                    "preprocessing",
                    f"--root={root}",
                    f"--output_dir={seq}",
                    "--num_shards=1",
                ]
            ),  # fmt: skip
            "refused": _popen(
                [
                    sys.executable,
                    "-m",
                    "preprocessing",
                    "--format=tfds",
                    f"--root={root}",
                    f"--output_dir={refuse}",
                ]
            ),  # fmt: skip
            "hmdb": _popen(
                [
                    sys.executable,
                    "-m",
                    "preprocessing",
                    "--format=tfds",
                    "--dataset=hmdb51",
                    f"--root={hmdb}",
                    f"--output_dir={work / 'hmdb_out'}",
                    "--subsets=test",
                ]
            ),  # fmt: skip
            "damaged": _popen(
                [
                    sys.executable,
                    "-m",
                    "preprocessing",
                    "--format=tfds",
                    f"--root={damaged}",
                    f"--output_dir={work / 'damaged_out'}",
                    "--subsets=test",
                    "--max_failures=1",
                ]
            ),  # fmt: skip
        }
    )
    print(f"builds: {time.monotonic() - start:.1f} s")
    refused = runs.pop("refused")
    for name, result in runs.items():
        assert result.returncode == 0, f"{name}:\n{result.stderr[-3000:]}"
    return work, root, runs, refused, test_ids[0]


def _read_back(config_dir: pathlib.Path, tmp_path: pathlib.Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(config_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _examples(path: pathlib.Path) -> list[tf.train.Example]:
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


def test_tfds_build_and_the_project_command_write_the_same_examples(built):
    work, _, _, _, _ = built
    cli, project = _config_dir(work / "cli", "rgb"), _config_dir(work / "project", "rgb")
    shards = sorted(p.name for p in cli.glob("*.tfrecord-*"))
    assert shards == [f"{BUILDER}-{split}.tfrecord-00000-of-00001" for split in ("test", "train")]
    for name in shards:
        # Equal messages in the same order; not equal bytes: TFDS serializes the feature map
        # in an order that varies between processes (string hashing).
        assert _examples(cli / name) == _examples(project / name)


def test_read_without_project_code_gives_the_source_frames_labels_and_splits(built, tmp_path):
    work, root, _, _, _ = built
    lists = str(root / ucf101.SPLITS_DIR)
    class_names = ucf101.read_class_index(lists)
    clips = {
        c.video_id: c for subset in ("train", "test") for c in ucf101.read_split(lists, 1, subset)
    }
    frames_dir = root / layout_lib.FRAMES_DIR
    flow_dir = root / layout_lib.FLOW_DIR
    for modality in schema.MODALITIES:
        read = _read_back(_config_dir(work / "project", modality), tmp_path)
        assert read["classes"] == class_names
        for subset, examples in read["splits"].items():
            listed = [c for c in clips.values() if c.subset == subset]
            chunks = 8 if modality == "rgb" and subset == "train" else 1
            assert len(examples) == len(listed) * chunks
            assert read["metadata"]["listed"][subset] == len(listed)
            assert read["metadata"]["written"][subset] == len(listed)
            for ex in examples:
                clip = clips[ex["video_id"]]
                assert ex["label"] == class_names.index(clip.class_name) == clip.label
                rgb_files = sorted((frames_dir / clip.video_id).iterdir())
                if modality == "rgb":
                    assert ex["num_chunks"] == chunks and ex["video_frames"] == len(rgb_files)
                    indices = schema.chunk_frame_indices(len(rgb_files), chunks, ex["chunk"])
                    assert ex["rgb"] == [_sha(rgb_files[i]) for i in indices]
                    continue
                for key, axis in (
                    ("flow_x", layout_lib.FLOW_X_DIR),
                    ("flow_y", layout_lib.FLOW_Y_DIR),
                ):
                    files = sorted((flow_dir / axis / clip.video_id).iterdir())
                    assert len(files) == len(rgb_files) - 1 == ex["video_frames"]
                    assert ex[key] == [_sha(f) for f in files]


def _records(data_dir: str, modality: str) -> dict:
    """(video id, chunk) -> parsed record, of every subset, through the reader's parser."""
    manifest = manifest_lib.read_manifest(data_dir)
    parse = datasets.record_parser(manifest, modality)
    parsed = {}
    for subset in manifest.written:
        paths = manifest.shard_paths(data_dir, subset, modality)
        for record in tf.data.TFRecordDataset(paths):
            fields = {k: v.numpy() for k, v in parse(record, modality).items()}
            parsed[subset, fields[schema.VIDEO_ID], int(fields[schema.CHUNK])] = fields
    return parsed


@pytest.mark.parametrize("stream", ["spatial", "temporal"])
def test_both_formats_give_the_same_samples_and_training_windows(built, stream):
    work, _, _, _, _ = built
    config = load_config_file(str(REPO_ROOT / "configs" / f"demo_{stream}.py"))
    config.data.deterministic = True
    config.data.num_flow_frames = 3
    modality = "rgb" if stream == "spatial" else "flow"
    tfds_dir, seq_dir = str(_config_dir(work / "project", modality)), str(work / "seq")
    ours, theirs = _records(seq_dir, modality), _records(tfds_dir, modality)
    assert sorted(ours) == sorted(theirs)
    for key, fields in ours.items():
        for name, value in fields.items():
            np.testing.assert_array_equal(theirs[key][name], value, err_msg=f"{key} {name}")
    batches = [
        list(datasets.train_dataset(config, data_dir, 4).take(3))
        for data_dir in (seq_dir, tfds_dir)
    ]
    for ours_batch, theirs_batch in zip(*batches, strict=True):
        tf.nest.map_structure(np.testing.assert_array_equal, ours_batch, theirs_batch)


def test_train_and_eval_on_tfds_reach_the_same_video_scores(built, tmp_path):
    work, _, _, _, _ = built
    data_dirs = {"seq": str(work / "seq"), "tfds": str(_config_dir(work / "project", "rgb"))}
    overrides = [
        "--config.data.deterministic=True",
        "--config.data.eval_num_samples=2",
        "--config.data.eval_num_crops=1",
    ]
    train = {
        name: quick_train_args(
            "demo_spatial.py", str(tmp_path / name), data_dir, TRAIN_STEPS, *overrides
        )
        for name, data_dir in data_dirs.items()
    }
    trains = _finish({name: _popen([sys.executable, *args]) for name, args in train.items()})
    for name, result in trains.items():
        assert result.returncode == 0, f"train {name}:\n{result.stderr[-3000:]}"
    # eval.py: the run's --config, --workdir, --data_dir and the same model and data sizes.
    model = ["--config.data.image_size=16", "--config.model.tiny_widths=(4,8)"]
    evals = _finish(
        {
            name: _popen([sys.executable, "eval.py", *args[1:4], *model, *overrides])
            for name, args in train.items()
        }
    )
    for name, result in evals.items():
        assert result.returncode == 0, f"eval {name}:\n{result.stderr[-3000:]}"
    seq, tfds_scores = (
        scores.load_scores(str(tmp_path / name / "eval" / "scores.npz")) for name in data_dirs
    )
    assert seq.video_ids.tolist() == tfds_scores.video_ids.tolist()
    assert seq.labels.tolist() == tfds_scores.labels.tolist()
    np.testing.assert_allclose(seq.scores, tfds_scores.scores, rtol=1e-5, atol=1e-6)


def test_the_hmdb51_builder_reads_its_dataset_through_the_same_job(built):
    work, _, runs, _, _ = built
    manifest = manifest_lib.read_manifest(
        str(work / "hmdb_out" / "two_stream_hmdb51" / "split1_rgb" / VERSION)
    )
    assert manifest.dataset == "hmdb51"
    assert manifest.class_names == ["beach_fall", "beach_rise", "forest_fall", "forest_rise"]
    assert manifest.listed == manifest.written == {"test": 4 * HMDB_TEST}
    assert manifest.rgb_chunks == {"test": 1}
    assert "test: 4 written, 0 failed of 4 listed" in runs["hmdb"].stdout


def test_failures_are_accounted_in_a_tfds_build(built):
    work, _, runs, _, broken = built
    folder = _config_dir(work / "damaged_out", "rgb")
    failures = [
        json.loads(line) for line in (folder / manifest_lib.FAILURES_FILE).read_text().splitlines()
    ]
    assert [(f["video_id"], f["stage"]) for f in failures] == [(broken, "jpeg")]
    manifest = manifest_lib.read_manifest(str(folder))
    assert manifest.failed == {"test": 1}
    assert manifest.written["test"] + 1 == manifest.listed["test"]
    assert sum(s.num_records for s in manifest.shards) == manifest.written["test"]
    assert "1 failed" in runs["damaged"].stdout


def test_a_format_given_for_the_other_is_one_clear_error(built, tmp_path):
    work, _, _, refused, _ = built
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("error: --output_dir=")
    assert "holds SequenceExample shards" in refused.stderr
    config = load_config_file(str(REPO_ROOT / "configs" / "demo_spatial.py"))
    flow_dir = str(_config_dir(work / "project", "flow"))
    with pytest.raises(manifest_lib.ManifestError, match="needs the rgb config's folder"):
        datasets.train_dataset(config, flow_dir, 4)
    # export.py's check: the stream's frame size comes from its own modality's folder only.
    flow_manifest = manifest_lib.read_manifest(flow_dir)
    assert flow_manifest.frame_hw(flow_dir, "flow") == tuple(flow_manifest.max_frame_hw["flow"])
    with pytest.raises(manifest_lib.ManifestError, match="reading rgb needs the rgb config's"):
        flow_manifest.frame_hw(flow_dir, "rgb")
    both = tmp_path / "both"
    shutil.copytree(_config_dir(work / "project", "rgb"), both)
    shutil.copy(work / "seq" / manifest_lib.MANIFEST_FILE, both)
    with pytest.raises(manifest_lib.ManifestError, match="holds both"):
        manifest_lib.read_manifest(str(both))
    info = json.loads((both / tfds_schema.DATASET_INFO_FILE).read_text())
    (both / manifest_lib.MANIFEST_FILE).unlink()
    (both / "metadata.json").write_text("{}")  # e.g. TFDS's own ucf101: not this project's
    (both / tfds_schema.DATASET_INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(manifest_lib.ManifestError, match="not built by this project"):
        manifest_lib.read_manifest(str(both))
