"""Tests of the UCF-101 dataset layer on the real split files and on broken copies."""

import pathlib
import shutil

import pytest

from preprocessing import ucf101
from preprocessing.errors import DatasetError

REPO = pathlib.Path(__file__).resolve().parents[1]
LISTS = str(REPO / "data" / "ucf101" / "ucfTrainTestlist")
EXPECTED = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


def test_class_index_has_101_classes_in_classind_order():
    names = ucf101.read_class_index(LISTS)
    assert len(names) == 101
    assert names[0] == "ApplyEyeMakeup" and names[-1] == "YoYo"
    # The seed sorted names instead, which swaps these pairs.
    assert names.index("Hammering") < names.index("HammerThrow")
    assert names.index("JumpingJack") < names.index("JumpRope")
    assert sorted(names) != names


@pytest.mark.parametrize("split", [1, 2, 3])
def test_real_split_counts(split):
    subsets = ucf101.read_splits(LISTS, split)
    assert (len(subsets["train"]), len(subsets["test"])) == EXPECTED[split]
    ids = {c.video_id for clips in subsets.values() for c in clips}
    assert len(ids) == 13320


def test_same_clips_in_every_split():
    per_split = [
        {c.video_id for clips in ucf101.read_splits(LISTS, s).values() for c in clips}
        for s in (1, 2, 3)
    ]
    assert per_split[0] == per_split[1] == per_split[2]


def test_labels_are_zero_based_from_classind():
    train = ucf101.read_split(LISTS, 1, "train")
    first = train[0]
    assert first.list_entry == "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    assert (first.video_id, first.class_name, first.label) == (
        "v_ApplyEyeMakeup_g08_c01",
        "ApplyEyeMakeup",
        0,
    )
    assert (first.group, first.clip, first.subset) == (8, 1, "train")
    yoyo = [c for c in train if c.class_name == "YoYo"]
    assert yoyo and all(c.label == 100 for c in yoyo)


def test_handstand_pushups_resolved_to_classind_spelling():
    clips = [
        c
        for split in (1, 2, 3)
        for clips in ucf101.read_splits(LISTS, split).values()
        for c in clips
        if c.class_name == "HandstandPushups"
    ]
    assert len({c.video_id for c in clips}) == 128
    assert all(c.video_id.startswith("v_HandstandPushups_g") for c in clips)
    assert all("HandStandPushups" in c.list_entry for c in clips)


@pytest.fixture
def lists_copy(tmp_path):
    target = tmp_path / "lists"
    shutil.copytree(LISTS, target)
    return target


def _append(path, line):
    with open(path, "ab") as f:
        f.write(line.encode() + b"\r\n")


def test_unknown_class_names_file_and_line(lists_copy):
    _append(lists_copy / "trainlist01.txt", "Juggling/v_Juggling_g08_c01.avi 7")
    with pytest.raises(DatasetError, match=r"trainlist01.txt:9538: unknown class 'Juggling'"):
        ucf101.read_split(str(lists_copy), 1, "train")


def test_label_disagreeing_with_classind(lists_copy):
    _append(lists_copy / "trainlist01.txt", "YoYo/v_YoYo_g08_c09.avi 3")
    with pytest.raises(DatasetError, match=r"trainlist01.txt:9538: label '3' disagrees"):
        ucf101.read_split(str(lists_copy), 1, "train")


@pytest.mark.parametrize("entry", ["../YoYo/v_YoYo_g01_c09.avi", "/abs/YoYo/v_YoYo_g01_c09.avi"])
def test_path_escaping_root_refused(lists_copy, entry):
    _append(lists_copy / "testlist01.txt", entry)
    with pytest.raises(DatasetError, match="escapes the dataset root"):
        ucf101.read_split(str(lists_copy), 1, "test")


def test_missing_classind(lists_copy):
    (lists_copy / "classInd.txt").unlink()
    with pytest.raises(
        DatasetError, match=r"classInd.txt: file not found. Point the splits folder"
    ):
        ucf101.read_split(str(lists_copy), 1, "test")


@pytest.mark.parametrize(
    "line, message",
    [
        ("YoYo/v_YoYo_g01.avi", "is not 'v_<Class>_gGG_cCC.avi'"),
        ("YoYo/v_Drumming_g01_c09.avi", "does not belong to class folder"),
        ("v_YoYo_g01_c09.avi", "expected '<Class>/<file>.avi'"),
        ("YoYo/v_YoYo_g01_c01.avi", "is listed twice"),
    ],
)
def test_malformed_lines(lists_copy, line, message):
    _append(lists_copy / "testlist01.txt", line)
    with pytest.raises(DatasetError, match=message):
        ucf101.read_split(str(lists_copy), 1, "test")


def test_clip_in_train_and_test_refused(lists_copy):
    _append(lists_copy / "testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi")
    with pytest.raises(DatasetError, match="in both the train and the test list"):
        ucf101.read_splits(str(lists_copy), 1)


def test_blank_lines_and_trailing_spaces_tolerated(lists_copy):
    _append(lists_copy / "testlist01.txt", "")
    _append(lists_copy / "testlist01.txt", "   ")
    _append(lists_copy / "testlist01.txt", "YoYo/v_YoYo_g26_c01.avi   ")
    clips = ucf101.read_split(str(lists_copy), 1, "test")
    assert len(clips) == 3784 and clips[-1].video_id == "v_YoYo_g26_c01"
