"""Tests of `python -m preprocessing` as a user runs it (subprocess, DirectRunner).

The binary runs in a subprocess, as a user starts it: absl parses its flags with
`known_only` and Beam gets the rest, which the test process's own flags must not see.
"""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import damage_jpeg_scan

from preprocessing import layout as layout_lib
from preprocessing import pipeline, ucf101
from preprocessing.job_config import JobConfig
from preprocessing.layout import Layout
from tfrecords import manifest as manifest_lib
from tfrecords.manifest import read_manifest


@pytest.fixture(scope="module")
def dataset(synthetic_root) -> pathlib.Path:
    """The shared generated tree (tests/conftest.py) as a Path; read-only."""
    return pathlib.Path(synthetic_root)


REPO = pathlib.Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "preprocessing", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


@pytest.fixture(scope="module")
def damaged_root(dataset, tmp_path_factory) -> tuple[pathlib.Path, str]:
    """A copy of the frame archives with one corrupt test JPEG and one train JPEG whose scan
    data is damaged (markers intact); returns (root, the test clip's id)."""
    root = tmp_path_factory.mktemp("damaged") / "root"
    shutil.copytree(dataset, root, ignore=shutil.ignore_patterns(ucf101.VIDEOS_DIR))
    test_ids = [c.video_id for c in ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "test")]
    broken = sorted(test_ids)[0]
    (root / layout_lib.FRAMES_DIR / broken / layout_lib.frame_name(1)).write_bytes(
        b"\xff\xd8 not a JPEG"
    )
    train_ids = [c.video_id for c in ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "train")]
    scan = root / layout_lib.FRAMES_DIR / sorted(train_ids)[0] / layout_lib.frame_name(2)
    scan.write_bytes(damage_jpeg_scan(scan.read_bytes()))
    return root, broken


def test_cli_within_max_failures_writes_the_same_shards_as_the_library(damaged_root, tmp_path):
    root, broken = damaged_root
    out = tmp_path / "cli"
    result = _cli(
        f"--root={root}",
        f"--output_dir={out}",
        "--subsets=test",
        "--num_shards=2",
        "--rgb_chunks=3",  # test records are whole videos whatever K is
        "--max_failures=1",
        "--runner=DirectRunner",  # Beam's own flags pass through
        "--direct_running_mode=in_memory",
    )
    assert result.returncode == 0, result.stderr
    listed = len(ucf101.read_split(str(root / ucf101.SPLITS_DIR), 1, "test"))
    assert (
        f"test: {listed - 1} written, 1 failed of {listed} listed, 1 RGB records per video, "
        "shards: 2 rgb, 2 flow"
    ) in result.stdout
    manifest = read_manifest(str(out))
    assert manifest.rgb_chunks == {"test": 1}
    assert "--num_shards=2 --rgb_chunks=3" in manifest.command_line
    assert manifest.command_line.startswith("python -m preprocessing --root=")
    failures = [
        json.loads(line) for line in (out / manifest_lib.FAILURES_FILE).read_text().splitlines()
    ]
    assert [(f["video_id"], f["stage"]) for f in failures] == [(broken, "jpeg")]

    # Another process, same inputs and flags: byte-identical shards.
    library = tmp_path / "library"
    config = JobConfig(
        splits_dir=str(root / ucf101.SPLITS_DIR),
        layout=Layout.under(str(root)),
        split=1,
        subsets=("test",),
        source="frames",
        flow_algorithm="tvl1",
        output_dir=str(library),
        num_shards=2,
        shard_size_mb=150.0,
        command_line="in-process",
        rgb_chunks=3,
    )
    pipeline.run(config, PipelineOptions(["--runner=DirectRunner"]))
    shards = sorted(p.name for p in out.glob("*.tfrecord"))
    names = [f"test-{m}-0000{i}-of-00002.tfrecord" for m in ("flow", "rgb") for i in (0, 1)]
    assert shards == names
    for name in shards:
        assert (out / name).read_bytes() == (library / name).read_bytes()


def test_cli_failed_clip_exits_1_but_writes_the_rest(damaged_root, tmp_path):
    root, broken = damaged_root
    out = tmp_path / "out"
    result = _cli(f"--root={root}", f"--output_dir={out}", "--subsets=test", "--split=1")
    assert result.returncode == 1, result.stderr
    assert "error: 1 clips failed" in result.stderr and manifest_lib.FAILURES_FILE in result.stderr
    manifest = read_manifest(str(out))
    assert manifest.split == 1 and manifest.failed == {"test": 1}
    assert manifest.written["test"] == manifest.listed["test"] - 1


def test_cli_bad_input_is_a_message_with_status_2(tmp_path):
    """A root without the split files (a missing root: test_errors' CLI table)."""
    (tmp_path / "root").mkdir()
    result = _cli(f"--root={tmp_path / 'root'}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 2
    assert (
        f"{ucf101.CLASS_INDEX_FILE}: file not found" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_cli_output_dir_that_is_a_file_is_one_line_with_status_2(tmp_path):
    """Checked before the job starts: the root's (missing) split files are not even read."""
    (tmp_path / "out").write_text("a file")
    (tmp_path / "root").mkdir()
    result = _cli(f"--root={tmp_path / 'root'}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 2
    own = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert own == [
        f"error: {tmp_path / 'out'}: is a file, not a folder; give --output_dir a folder"
    ]
    assert "Traceback" not in result.stderr and (tmp_path / "out").read_text() == "a file"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "root"]


# Mistakes judged before TensorFlow and Beam load: (arguments, the one line on stderr).
NO_IMPORT_CASES = {
    "--root missing": (
        ["--root={tmp}/none", "--output_dir={tmp}/out"],
        "error: {tmp}/none: no such folder; give --root an existing folder",
    ),
    "no --root": (
        ["--output_dir={tmp}/out"],
        "error: give --root, or all of --splits_dir, --frames_dir, --flow_dir",
    ),
    "--output_dir not given": (
        ["--root={tmp}"],
        "error: flag --output_dir=None: Flag --output_dir must have a value other than None. "
        "(pass --help to see the flags)",
    ),
    "bad --source": (
        ["--root={tmp}", "--output_dir={tmp}/out", "--source=video"],
        "error: flag --source=video: value should be one of <frames|videos> (pass --help to see "
        "the flags)",
    ),
}


@pytest.mark.parametrize("name", list(NO_IMPORT_CASES))
def test_cli_mistake_is_one_line_before_tensorflow_and_beam_load(name, tmp_path):
    """The exact line and status 2, with neither TensorFlow nor Beam imported (`-X importtime`
    logs every import on stderr)."""
    args, line = NO_IMPORT_CASES[name]
    command = [sys.executable, "-X", "importtime", "-m", "preprocessing"]
    result = subprocess.run(
        [*command, *(arg.format(tmp=tmp_path) for arg in args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    lines = result.stderr.splitlines()
    imports = [text for text in lines if text.startswith("import time:")]
    assert [text for text in lines if text not in imports] == [line.format(tmp=tmp_path)]
    assert result.returncode == 2
    packages = {text.rsplit("|", 1)[1].strip().split(".")[0] for text in imports}
    assert "absl" in packages  # the log is there
    assert not packages & {"tensorflow", "apache_beam"}
    assert not any(tmp_path.iterdir())  # nothing written


def test_cli_train_chunks_and_bad_rgb_chunks(damaged_root, tmp_path):
    root, _ = damaged_root
    bad = _cli(f"--root={root}", f"--output_dir={tmp_path / 'bad'}", "--rgb_chunks=0")
    assert bad.returncode == 2
    assert "error: rgb_chunks=0: use a positive" in bad.stderr and "Traceback" not in bad.stderr
    out = tmp_path / "train"
    result = _cli(
        f"--root={root}",
        f"--output_dir={out}",
        "--subsets=train",
        "--rgb_chunks=5",
        "--noverify_jpeg_decode",  # markers only: the scan-damaged train frame goes through
    )
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(str(out))
    assert manifest.rgb_chunks == {"train": 5}
    assert manifest.written == manifest.listed and manifest.failed == {"train": 0}
    rgb = sum(s.num_records for s in manifest.shards if s.modality == "rgb")
    flow = sum(s.num_records for s in manifest.shards if s.modality == "flow")
    assert rgb == 5 * flow == 5 * manifest.written["train"] > 0


def test_cli_unknown_flag_stops_and_names_it(tmp_path):
    """A typo is neither this binary's flag nor Beam's: status 2 before any work."""
    result = _cli(f"--root={tmp_path}", f"--output_dir={tmp_path / 'out'}", "--rgb_chunk=3")
    assert result.returncode == 2
    assert "unknown flag '--rgb_chunk=3'" in result.stderr
    assert "did you mean --rgb_chunks?" in result.stderr
    assert not (tmp_path / "out").exists()
