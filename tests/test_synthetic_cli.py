"""Tests of `python -m synthetic`: flags -> spec, the format dispatch, the real binary."""

import json
import pathlib
import subprocess
import sys

import pytest
from absl import flags

from preprocessing import hmdb51
from synthetic import __main__ as cli
from synthetic import generate
from tfrecords.errors import UserError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ("--num_appearances=2", "--num_motions=1", "--groups=3", "--clips_per_group=1")


def _flag_values(*args: str) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    cli.define_flags(flag_values)
    flag_values(["synthetic", "--output_dir=/tmp/x", *args])
    return flag_values


def test_flags_build_the_spec():
    spec = cli.spec_from_flags(
        _flag_values("--num_appearances=2", "--num_frames=4,9", "--layout=frames", "--seed=3")
    )
    assert spec == generate.SyntheticSpec(
        num_appearances=2, num_frames=(4, 9), layout=("frames",), seed=3
    )
    assert cli.spec_from_flags(_flag_values()) == generate.SyntheticSpec()


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--num_frames=a,b", "--num_frames"),
        ("--layout=frames,jpeg", "layout"),
        ("--groups=2", "groups"),
    ],
)
def test_bad_flags_are_user_errors_naming_the_flag(arg, message):
    with pytest.raises(UserError, match=message):
        cli.spec_from_flags(_flag_values(arg))


def test_hmdb_counts_outside_the_hmdb_format_are_user_errors():
    with pytest.raises(UserError, match="--hmdb_train and --hmdb_test apply to"):
        cli.run(_flag_values("--format=folder", "--hmdb_test=1"))


def test_hmdb_counts_that_do_not_fit_the_clips_are_user_errors(tmp_path):
    flag_values = _flag_values(*TINY, "--format=hmdb51", "--hmdb_train=3", "--hmdb_test=1")
    flag_values.output_dir = str(tmp_path)
    with pytest.raises(
        UserError, match=r"^hmdb51 counts train=3, test=1 clips per class: .* the 3 clips per class"
    ):
        cli.run(flag_values)


def test_hmdb_format_writes_the_split_files(tmp_path):
    hmdb = ("--format=hmdb51", "--hmdb_train=2", "--hmdb_test=1")
    flag_values = _flag_values(*TINY, *hmdb, "--num_frames=2,3", "--layout=frames")
    flag_values.output_dir = str(tmp_path)
    cli.run(flag_values)
    dataset = hmdb51.Hmdb51(str(tmp_path / hmdb51.SPLITS_DIR))
    assert dataset.class_names() == ["beach_rise", "forest_rise"]
    subsets = dataset.read_splits(1)  # 3 clips per class: 2 train, 1 test
    assert (len(subsets["train"]), len(subsets["test"])) == (4, 2)


@pytest.mark.slow
def test_cli_writes_a_tree_the_dataset_check_accepts(tmp_path):
    generated = subprocess.run(
        [sys.executable, "-m", "synthetic", f"--output_dir={tmp_path}", *TINY, "--num_frames=3,5"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    summary = subprocess.run(
        [sys.executable, "-m", "preprocessing.check", f"--root={tmp_path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert summary.returncode == 0, summary.stdout + summary.stderr
    sources = json.loads(summary.stdout)["sources"]
    assert all(sources[name]["found"] == 6 for name in ("videos", "frames", "flow"))
