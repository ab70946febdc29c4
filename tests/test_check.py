"""Tests of `python -m preprocessing.check` on UCF-101: split and group figures, sources found.

HMDB-51 and folder datasets are checked in tests/test_hmdb51.py and tests/test_folder.py.
"""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from absl import flags
from conftest import fake_frames

from preprocessing import check, ucf101
from preprocessing import layout as layout_lib
from preprocessing.layout import Layout
from tfrecords.errors import binary_main

REPO = pathlib.Path(__file__).resolve().parents[1]
LISTS = str(REPO / "data" / "ucf101" / ucf101.SPLITS_DIR)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_real_split_groups_are_disjoint_thirds(split):
    summary = check.group_summary(LISTS, split)
    assert summary["groups_disjoint"]
    first = 7 * (split - 1) + 1
    assert summary["test_groups"] == list(range(first, first + 7))
    assert not set(summary["train_groups"]) & set(summary["test_groups"])


def test_sources_summary_counts_missing_and_mismatched(handstand_tree):
    root, clip = handstand_tree
    splits = ucf101.read_splits(LISTS, 1)
    entry = "HandstandPushups/v_HandStandPushups_g01_c02.avi"
    (other,) = [c for clips in splits.values() for c in clips if c.list_entry == entry]
    fake_frames(root / layout_lib.FRAMES_DIR / other.video_id, 3)
    for axis in (layout_lib.FLOW_X_DIR, layout_lib.FLOW_Y_DIR):
        fake_frames(root / layout_lib.FLOW_DIR / axis / other.video_id, 3)
    summary = check.sources_summary([clip, other], Layout.under(str(root)))
    assert summary["listed_clips"] == 2
    assert summary["videos"]["found"] == 1
    assert summary["videos"]["missing"] == ["v_HandstandPushups_g01_c02"]
    assert summary["frames"]["found"] == 2 and summary["frames"]["frames"] == 8
    assert summary["flow"]["found"] == 2 and summary["flow"]["frames"] == 7
    assert summary["flow"]["count_mismatch"] == [
        {"video_id": "v_HandstandPushups_g01_c02", "rgb": 3, "u": 3, "v": 3}
    ]


def _run(*args: str) -> None:
    """Runs the binary in-process (a subprocess costs a TensorFlow import)."""
    flag_values = flags.FlagValues()
    check.define_flags(flag_values)
    flag_values(["check", *args])
    binary_main(lambda argv: check.run(flag_values), status=2)(["check"])


def test_cli_with_root_reports_and_fails_on_missing_clips(handstand_tree, capsys):
    root, _ = handstand_tree
    with pytest.raises(SystemExit) as exit_info:
        _run(f"--splits_dir={LISTS}", "--split=1", f"--root={root}")
    assert exit_info.value.code == 1
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources["listed_clips"] == 13320
    assert sources["frames"]["found"] == 1 and len(sources["frames"]["missing"]) == 13319
    assert sources["flow"]["found"] == 1


def test_cli_prints_split_figures():
    result = subprocess.run(
        [sys.executable, "-m", "preprocessing.check", f"--splits_dir={LISTS}", "--split=1"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["num_classes"] == 101
    assert summary["splits"]["1"]["train"] == 9537
    assert summary["splits"]["1"]["test"] == 3783
    assert summary["splits"]["1"]["distinct_clips"] == 13320
    assert summary["splits"]["1"]["groups_disjoint"] is True


def test_cli_bad_input_is_a_message_not_a_traceback(tmp_path, capsys):
    lists = tmp_path / "lists"
    shutil.copytree(LISTS, lists)
    with open(lists / "trainlist01.txt", "ab") as f:
        f.write(b"Juggling/v_Juggling_g08_c01.avi 7\r\n")
    with pytest.raises(SystemExit) as exit_info:
        _run(f"--splits_dir={lists}", "--split=1")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "unknown class 'Juggling'" in err


def test_cli_rejects_bad_split(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _run(f"--splits_dir={LISTS}", "--split=4")
    assert exit_info.value.code == 2
    assert "split=4: the ucf101 dataset has splits [1, 2, 3]" in capsys.readouterr().err
