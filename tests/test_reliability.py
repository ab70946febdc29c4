"""Bad-input matrix (issue 10): each damage gives a named error or a counted, reported skip.

Cases already proven elsewhere are not repeated here (WORKSPACE.md, "Bad input and crashes:
what happens", maps every case to its test). This module adds: corrupt flow JPEG, missing `u`
folder, RGB/flow count mismatch, 1-frame clip, an RGB JPEG whose scan data is damaged behind
intact markers (with the decode check on and off), non-ASCII paths and names, clips shorter than
L through evaluation, exactly-once accounting from the split lists to the eval report, a
same-size corrupt shard at read time (train and eval), a manifest that is not its
directory's, a resume with another config, and no unpickling or `eval` of files.
"""

import ast
import dataclasses
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import damage_jpeg_scan, frames_job_config

import models
from configs import demo_spatial, demo_temporal
from evaluation import evaluate, scores
from preprocessing import layout as layout_lib
from preprocessing import pipeline, ucf101
from preprocessing.errors import DatasetError
from tfrecords import manifest as manifest_lib
from tfrecords import schema, testdata
from training import checkpoints, experiment

REPO = pathlib.Path(__file__).resolve().parents[1]
NON_ASCII_DIR = "données_ü_日本"


def _frames(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(folder.glob("frame*.jpg"))


def _split_ids(root: pathlib.Path) -> tuple[list[str], list[str]]:
    """Split 1's (train, test) clip ids, sorted."""
    splits = ucf101.read_splits(str(root / ucf101.SPLITS_DIR), 1)
    return tuple(sorted(c.video_id for c in splits[subset]) for subset in ("train", "test"))


def _scan_damaged(root: pathlib.Path) -> pathlib.Path:
    """The RGB frame whose scan data `_damage` zeroes (markers intact)."""
    return _frames(root / layout_lib.FRAMES_DIR / _split_ids(root)[0][2])[1]


def _damage(root: pathlib.Path) -> dict[str, tuple[str, str]]:
    """Breaks six clips of split 1 (both subsets); returns id -> (stage, file named)."""
    train, test = _split_ids(root)
    rgb, flow = root / layout_lib.FRAMES_DIR, root / layout_lib.FLOW_DIR
    broken = {}
    bad_scan = _scan_damaged(root)  # caught by the full decode check only
    bad_scan.write_bytes(damage_jpeg_scan(bad_scan.read_bytes()))
    broken[train[2]] = ("jpeg", str(bad_scan))
    # A flow JPEG overwritten with other bytes of the same length (no EOI marker).
    bad_flow = _frames(flow / layout_lib.FLOW_X_DIR / test[0])[2]
    bad_flow.write_bytes(b"\xff\xd8" + b"\x00" * (bad_flow.stat().st_size - 2))
    broken[test[0]] = ("jpeg", str(bad_flow))
    shutil.rmtree(flow / layout_lib.FLOW_X_DIR / train[0])  # missing u folder
    broken[train[0]] = ("locate", train[0])
    extra = rgb / train[1] / layout_lib.frame_name(len(_frames(rgb / train[1])) + 1)
    shutil.copy(_frames(rgb / train[1])[0], extra)  # N+1 RGB frames for N-1 flow frames
    broken[train[1]] = ("frame_counts", str(rgb / train[1]))
    for path in _frames(rgb / test[1])[1:]:  # a 1-frame clip: 1 RGB frame, no flow
        path.unlink()
    for axis in (layout_lib.FLOW_X_DIR, layout_lib.FLOW_Y_DIR):
        for path in _frames(flow / axis / test[1]):
            path.unlink()
    broken[test[1]] = ("frame_counts", "1 RGB frames")
    # A stray non-ASCII file beside the frames is not a frame: ignored, the clip is intact.
    shutil.copy(_frames(rgb / test[2])[0], rgb / test[2] / "Kopie von frame000001 é.jpg")
    return broken


@pytest.fixture(scope="module")
def damaged_run(synthetic_root, tmp_path_factory):
    """The Beam job on a damaged copy under a non-ASCII path; (root, out, result, broken)."""
    base = tmp_path_factory.mktemp("reliability") / NON_ASCII_DIR
    root = base / "root"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns(ucf101.VIDEOS_DIR))
    broken = _damage(root)
    out = base / "records"
    result = pipeline.run(
        frames_job_config(root, out, num_shards=2), PipelineOptions(["--runner=DirectRunner"])
    )
    return root, out, result, broken


def _failures(out: pathlib.Path) -> dict[str, dict]:
    lines = (out / manifest_lib.FAILURES_FILE).read_text(encoding="utf-8").splitlines()
    return {entry["video_id"]: entry for entry in map(json.loads, lines)}


def _records(out: pathlib.Path, manifest, subset: str, modality: str) -> list[dict]:
    paths = manifest.shard_paths(str(out), subset, modality)
    dataset = tf.data.TFRecordDataset(paths).map(lambda r: schema.parse_record(r, modality))
    return list(dataset.as_numpy_iterator())


def test_damaged_clips_are_reported_and_the_rest_written_intact(damaged_run):
    root, out, result, broken = damaged_run
    failures = _failures(out)
    assert {i: f["stage"] for i, f in failures.items()} == {i: s for i, (s, _) in broken.items()}
    for video_id, (_, named) in broken.items():
        assert named in failures[video_id]["error"], failures[video_id]["error"]
    splits = ucf101.read_splits(str(root / ucf101.SPLITS_DIR), 1)
    for subset, clips in splits.items():
        expected = {c.video_id for c in clips} - set(broken)
        num_chunks = result.manifest.rgb_chunks[subset]
        rgb: dict[str, dict[int, bytes]] = {}
        for record in _records(out, result.manifest, subset, schema.RGB_MODALITY):
            video_id, j = record[schema.VIDEO_ID].decode(), int(record[schema.CHUNK])
            num_frames = int(record[schema.VIDEO_FRAMES])
            indices = [j - num_frames] if j >= num_frames else range(j, num_frames, num_chunks)
            frames = rgb.setdefault(video_id, {})
            for index, data in zip(indices, record[schema.RGB], strict=True):
                assert frames.setdefault(index, data) == data
        flow = _records(out, result.manifest, subset, schema.FLOW_MODALITY)
        assert sorted(rgb) == sorted(r[schema.VIDEO_ID].decode() for r in flow) == sorted(expected)
        for record in flow:  # byte-identical to the source files
            video_id = record[schema.VIDEO_ID].decode()
            source = [p.read_bytes() for p in _frames(root / layout_lib.FRAMES_DIR / video_id)]
            flow_y = [
                p.read_bytes()
                for p in _frames(root / layout_lib.FLOW_DIR / layout_lib.FLOW_Y_DIR / video_id)
            ]
            assert [rgb[video_id][i] for i in sorted(rgb[video_id])] == source
            assert list(record[schema.FLOW_Y]) == flow_y


def _records_by_key(out: pathlib.Path, manifest) -> dict[tuple, bytes]:
    """(subset, modality, video id, chunk) -> serialized record, over every shard."""
    records = {}
    for subset in manifest.listed:
        for modality in schema.MODALITIES:
            paths = manifest.shard_paths(str(out), subset, modality)
            for serialized in tf.data.TFRecordDataset(paths).as_numpy_iterator():
                record = schema.parse_record(serialized, modality)
                video_id = record[schema.VIDEO_ID].numpy().decode()
                chunk = int(record[schema.CHUNK])
                records[subset, modality, video_id, chunk] = serialized
    return records


def test_scan_damage_is_written_as_is_with_the_decode_check_off(damaged_run, tmp_path):
    root, out, result, broken = damaged_run
    bad_scan = _scan_damaged(root)
    scan_id = bad_scan.parent.name
    unchecked = pipeline.run(
        frames_job_config(root, tmp_path, num_shards=2, verify_jpeg_decode=False),
        PipelineOptions(["--runner=DirectRunner"]),
    )
    assert set(_failures(tmp_path)) == set(broken) - {scan_id}
    assert unchecked.counters["clips_failed"] == len(broken) - 1
    checked_records = _records_by_key(out, result.manifest)
    unchecked_records = _records_by_key(tmp_path, unchecked.manifest)
    assert {k: v for k, v in unchecked_records.items() if k[2] != scan_id} == checked_records
    stored = [  # the clip's RGB frames across its train chunks
        frame
        for key, serialized in unchecked_records.items()
        if key[2] == scan_id and key[1] == schema.RGB_MODALITY
        for frame in schema.parse_record(serialized, schema.RGB_MODALITY)[schema.RGB].numpy()
    ]
    frames = _frames(bad_scan.parent)
    assert set(stored) == {p.read_bytes() for p in frames}  # the damaged bytes as they are
    # What training would get: a full-size frame, decoded with a libjpeg warning.
    intact_shape = tf.io.decode_jpeg(frames[0].read_bytes()).shape
    assert tf.io.decode_jpeg(bad_scan.read_bytes()).shape == intact_shape


def test_manifest_reconciles_with_the_split_lists(damaged_run):
    root, out, result, broken = damaged_run
    manifest = manifest_lib.read_manifest(str(out))
    assert manifest == result.manifest
    splits = ucf101.read_splits(str(root / ucf101.SPLITS_DIR), 1)
    failures = _failures(out)
    for subset, clips in splits.items():
        failed = [i for i, f in failures.items() if f["subset"] == subset]
        assert manifest.listed[subset] == len(clips)
        assert manifest.failed[subset] == len(failed) > 0
        assert manifest.written[subset] + manifest.failed[subset] == manifest.listed[subset]
        assert sum(manifest.per_class[subset].values()) == manifest.written[subset]
        for modality in schema.MODALITIES:
            shards = [s for s in manifest.shards if (s.subset, s.modality) == (subset, modality)]
            per_video = manifest.records_per_video(subset, modality)
            assert sum(s.num_records for s in shards) == manifest.written[subset] * per_video
    assert result.counters["clips_read"] == sum(manifest.listed.values())
    assert result.counters["clips_failed"] == len(broken)


def _tiny(config, num_flow_frames: int):
    config.data.image_size = 16
    config.data.num_flow_frames = num_flow_frames
    config.data.eval_num_samples = 3
    config.data.eval_num_crops = 1
    config.model.tiny_widths = (4,)
    config.eval.batch_size = 16
    return config


def test_every_written_test_clip_is_evaluated_once_even_shorter_than_l(damaged_run, tmp_path):
    _, out, result, _ = damaged_run
    manifest = result.manifest
    records = _records(out, manifest, "test", schema.FLOW_MODALITY)
    config = _tiny(demo_temporal.get_config(), num_flow_frames=10)
    assert any(r[schema.VIDEO_FRAMES] < config.data.num_flow_frames for r in records)
    model = models.build_model(config, manifest.num_classes)
    report = tmp_path / "eval"
    metrics = evaluate.evaluate_model(
        model, config, str(out), "test", str(report), "untrained", 0, progress=False
    )
    assert metrics["num_videos"] == manifest.written["test"] == len(records)
    assert metrics["num_videos_listed"] == manifest.listed["test"]
    assert metrics["num_videos_failed"] == manifest.failed["test"]
    assert json.loads((report / "metrics.json").read_text())["num_videos"] == len(records)
    with np.load(report / scores.SCORES_FILE, allow_pickle=False) as npz:
        video_ids = sorted(npz["video_ids"].tolist())
    assert video_ids == sorted(r[schema.VIDEO_ID].decode() for r in records)


def test_non_ascii_list_entry_names_file_and_line(synthetic_root, tmp_path):
    lists = tmp_path / "lists"
    shutil.copytree(pathlib.Path(synthetic_root) / ucf101.SPLITS_DIR, lists)
    test_list = ucf101.list_file(str(lists), 1, "test")
    with open(test_list, "a", encoding="utf-8") as f:
        f.write("BeachRise/v_BéachRise_g01_c09.avi\r\n")
    with pytest.raises(DatasetError, match=r"testlist01.txt:\d+: file name 'v_BéachRise"):
        ucf101.read_split(str(lists), 1, "test")
    with open(test_list, "ab") as f:
        f.write("BeachRise/v_BeachRise_g01_c09.avi caf\xe9\r\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="testlist01.txt: not UTF-8 text"):
        ucf101.read_split(str(lists), 1, "test")


def _video(index: int) -> schema.Video:
    rng = np.random.default_rng(index)
    count = 4 + index % 3
    rgb = [testdata.encode_jpeg(rng.integers(0, 256, (24, 32, 3))) for _ in range(count)]
    flow = [testdata.encode_jpeg(rng.integers(0, 256, (24, 32))) for _ in range(count - 1)]
    return testdata.make_video(f"v_clip_{index}", index % 2, rgb, flow, flow, (24, 32))


@pytest.fixture
def data_dir(tmp_path) -> str:
    """Two train and two test shards of 6 small videos each, 2 classes."""
    videos = {subset: [_video(i) for i in range(6)] for subset in ("train", "test")}
    path = str(tmp_path / "data")
    testdata.write_data_dir(path, videos, num_classes=2, num_shards=2)
    return path


def _corrupt_in_place(path: pathlib.Path) -> None:
    """Flips 16 bytes in the middle of the file: same size, so the manifest check passes."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


def _train_config(widths: tuple[int, ...] = (4,)):
    config = _tiny(demo_spatial.get_config(), num_flow_frames=2)
    config.model.tiny_widths = widths
    config.data.shuffle_buffer = 4
    config.train.batch_size = 4
    config.train.num_steps = 4
    config.train.lr_boundaries = ()
    config.train.log_every_steps = 2
    config.train.checkpoint_every_steps = 2
    return config


def test_same_size_corrupt_shard_is_named_by_train_and_eval(data_dir, tmp_path):
    for subset in ("train", "test"):
        _corrupt_in_place(pathlib.Path(data_dir) / f"{subset}-rgb-00001-of-00002.tfrecord")
    manifest_lib.read_manifest(data_dir)  # sizes match: only reading the records finds it
    message = r"train-rgb-00001-of-00002.tfrecord: corrupt record .*Re-run `python -m preprocessing"
    config = _train_config()
    config.data.train_samples_per_video = 1
    config.train.num_steps = 12  # 48 samples: every record is read
    with pytest.raises(manifest_lib.ManifestError, match=message):
        experiment.train_on_data_dir(
            config, str(tmp_path / "run"), data_dir, tf.distribute.get_strategy()
        )
    config = _tiny(demo_spatial.get_config(), num_flow_frames=2)
    model = models.build_model(config, 2)
    with pytest.raises(
        manifest_lib.ManifestError, match="test-rgb-00001-of-00002.tfrecord: corrupt"
    ):
        evaluate.evaluate_model(
            model, config, data_dir, "test", str(tmp_path / "eval"), "untrained", 0, progress=False
        )
    assert not (tmp_path / "eval" / scores.SCORES_FILE).exists()


def test_manifest_of_another_directory_is_refused(data_dir, tmp_path):
    other = str(tmp_path / "other")
    testdata.write_data_dir(
        other, {"train": [_video(i) for i in range(3)]}, num_classes=2, num_shards=2
    )
    shutil.copy(
        pathlib.Path(other) / manifest_lib.MANIFEST_FILE,
        pathlib.Path(data_dir) / manifest_lib.MANIFEST_FILE,
    )
    with pytest.raises(manifest_lib.ManifestError, match="bytes, .* records .* truncated or"):
        manifest_lib.read_manifest(data_dir)


def test_record_count_disagreeing_with_the_manifest_is_named(data_dir):
    manifest = manifest_lib.read_manifest(data_dir)
    shards = [dataclasses.replace(s, num_records=s.num_records + 1) for s in manifest.shards]
    wrong = dataclasses.replace(manifest, shards=shards)
    with pytest.raises(
        manifest_lib.ManifestError, match="train-rgb-00000-of-00002.tfrecord: 3 rec"
    ):
        manifest_lib.check_records(data_dir, wrong, "train")
    manifest_lib.check_records(data_dir, manifest, "train")  # the real one passes


def test_unlisted_stale_shard_is_never_read(data_dir):
    stale = pathlib.Path(data_dir) / "train-rgb-00002-of-00003.tfrecord"
    stale.write_bytes(b"partial shard of a crashed run")
    manifest = manifest_lib.read_manifest(data_dir)
    assert all(str(stale) != path for path in manifest.shard_paths(data_dir, "train", "rgb"))


def test_resume_with_another_config_is_refused_and_keeps_the_saved_config(data_dir, tmp_path):
    workdir = tmp_path / "run"
    strategy = tf.distribute.get_strategy()
    result = experiment.train_on_data_dir(_train_config(), str(workdir), data_dir, strategy)
    assert result.step == 4
    saved = (workdir / checkpoints.CONFIG_FILE).read_text()
    other = _train_config(widths=(4, 8))
    other.train.num_steps = 8
    with pytest.raises(checkpoints.CheckpointError, match="ckpt-4: does not match .*config.json"):
        experiment.train_on_data_dir(other, str(workdir), data_dir, strategy)
    assert (workdir / checkpoints.CONFIG_FILE).read_text() == saved
    assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(str(workdir))) == 4


def _python_files() -> list[pathlib.Path]:
    """The project's Python files (top level and packages; not .venv or workspace/)."""
    files = list(REPO.glob("*.py"))
    for folder in REPO.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and folder.name != "workspace":
            files.extend(folder.rglob("*.py"))
    return files


def test_no_pickle_eval_or_exec_of_files():
    """No pickle/marshal/shelve, no eval/exec, never allow_pickle (np.load's default is False)."""
    problems = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if {"pickle", "cPickle", "dill", "marshal", "shelve"} & set(names):
                    problems.append(f"{where}: imports {names}")
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if isinstance(func, ast.Name) and name in ("eval", "exec"):
                problems.append(f"{where}: {name}()")
            value = {k.arg: k.value for k in node.keywords}.get("allow_pickle")
            if value is not None and not (isinstance(value, ast.Constant) and not value.value):
                problems.append(f"{where}: allow_pickle other than False")
    assert not problems, problems


def test_scores_file_holds_no_objects(tmp_path):
    path = tmp_path / scores.SCORES_FILE
    scores.save_scores(
        str(path),
        scores.VideoScores(
            video_ids=np.array(["v_a", "v_b"]),
            labels=np.array([0, 1], np.int32),
            class_names=np.array(["A", "B"]),
            scores=np.array([[0.9, 0.1], [0.2, 0.8]], np.float32),
            subset="test",
            stream="spatial",
            num_samples=1,
            num_crops=1,
            checkpoint="hand-made",
            step=0,
        ),
    )
    assert not (tmp_path / f"{scores.SCORES_FILE}.tmp").exists()
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[key].dtype != object for key in npz.files)
