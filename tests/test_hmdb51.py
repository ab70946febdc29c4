"""HMDB-51's conventions on generated trees: known split counts, tags, awkward names, errors."""

import dataclasses
import json
import pathlib
import shutil

import pytest
from absl import flags

from preprocessing import check, datasets, hmdb51
from preprocessing import layout as layout_lib
from preprocessing.errors import DatasetError
from synthetic import formats, generate
from tfrecords.errors import binary_main

SPEC = generate.SyntheticSpec(
    num_appearances=2, num_motions=2, groups=3, clips_per_group=2, num_frames=(6, 8)
)
TRAIN, TEST = 3, 2  # per class and split, of 6 clips per class (1 unused): 70 / 30 scaled
AWKWARD_CHARS = "!#&'()+,;@[]"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Split files only (no media): (root, written clips)."""
    root = tmp_path_factory.mktemp("hmdb_lists")
    spec = dataclasses.replace(SPEC, layout=("frames",))
    clips = formats.generate_hmdb(str(root), spec, TRAIN, TEST)
    shutil.rmtree(root / layout_lib.FRAMES_DIR)
    return root, clips


def _splits_dir(root: pathlib.Path) -> str:
    return str(root / hmdb51.SPLITS_DIR)


def test_class_names_are_the_sorted_split_file_classes(tree):
    root, clips = tree
    names = hmdb51.read_class_names(_splits_dir(root))
    assert names == ["beach_fall", "beach_rise", "forest_fall", "forest_rise"]
    assert names == sorted({c.class_name for c in clips})


@pytest.mark.parametrize("split", [1, 2, 3])
def test_each_split_has_the_designed_counts_per_class_and_skips_tag_0(tree, split):
    root, clips = tree
    subsets = hmdb51.read_splits(_splits_dir(root), split)
    names = hmdb51.read_class_names(_splits_dir(root))
    for subset, expected in (("train", TRAIN), ("test", TEST)):
        per_class = {name: 0 for name in names}
        for clip in subsets[subset]:
            per_class[clip.class_name] += 1
            assert names[clip.label] == clip.class_name
            assert (clip.group, clip.clip, clip.subset) == (0, 0, subset)
            assert clip.list_entry == f"{clip.class_name}/{clip.video_id}.avi"
        assert per_class == {name: expected for name in names}
    tags = {c.video_id: c.tags[split - 1] for c in clips}
    listed = {c.video_id: c.subset for s in subsets.values() for c in s}
    assert listed == {i: {1: "train", 2: "test"}[t] for i, t in tags.items() if t}
    unused = [i for i, t in tags.items() if t == 0]
    assert len(unused) == 4 and not set(unused) & set(listed)


def test_splits_differ_and_ids_keep_awkward_characters_and_case(tree):
    root, _ = tree
    tests = [
        {c.video_id for c in hmdb51.read_splits(_splits_dir(root), k)["test"]} for k in (1, 2, 3)
    ]
    assert tests[0] != tests[1] != tests[2]
    ids = {
        c.video_id
        for k in (1, 2, 3)
        for s in hmdb51.read_splits(_splits_dir(root), k).values()
        for c in s
    }
    assert set(AWKWARD_CHARS) <= set("".join(ids))
    assert any(i != i.lower() for i in ids) and any("Bob's_!Best" in i for i in ids)


def test_the_registry_builds_hmdb51_with_its_folders(tree):
    root, _ = tree
    layout = datasets.default_layout("hmdb51", str(root))
    assert layout.videos_dir == str(root / "hmdb51")
    splits_dir = datasets.default_splits_dir("hmdb51", str(root))
    dataset = datasets.create("hmdb51", splits_dir, layout)
    assert dataset.splits == (1, 2, 3) and dataset.name == "hmdb51"
    assert dataset.read_splits(1) == hmdb51.read_splits(_splits_dir(root), 1)
    with pytest.raises(ValueError, match="a split CSV is for the folder dataset"):
        datasets.create("hmdb51", splits_dir, layout, split_csv="x.csv")


def _copy_lists(tree, tmp_path) -> pathlib.Path:
    root, _ = tree
    copy = tmp_path / hmdb51.SPLITS_DIR
    shutil.copytree(root / hmdb51.SPLITS_DIR, copy)
    return copy


def _append(path: pathlib.Path, line: str) -> None:
    path.write_bytes(path.read_bytes() + line.encode() + b"\r\n")


def test_bad_tag_names_file_line_and_fix(tree, tmp_path):
    lists = _copy_lists(tree, tmp_path)
    path = lists / "beach_rise_test_split2.txt"
    _append(path, "new_clip.avi 3 ")
    with pytest.raises(DatasetError, match=r"beach_rise_test_split2.txt:7: tag '3' must be 1"):
        hmdb51.read_splits(str(lists), 2)


def test_duplicate_and_malformed_lines(tree, tmp_path):
    lists = _copy_lists(tree, tmp_path)
    path = lists / "forest_fall_test_split1.txt"
    first = path.read_text().splitlines()[0]
    _append(path, first)
    with pytest.raises(
        DatasetError, match=r"forest_fall_test_split1.txt:7: .* listed twice \(first at .*:1\)"
    ):
        hmdb51.read_splits(str(lists), 1)
    path.write_text("no_tag_here.avi\n")
    with pytest.raises(
        DatasetError, match=r"forest_fall_test_split1.txt:1: expected '<video>.avi <tag>'"
    ):
        hmdb51.read_splits(str(lists), 1)


def test_missing_split_file_and_folder(tree, tmp_path):
    lists = _copy_lists(tree, tmp_path)
    (lists / "forest_rise_test_split3.txt").unlink()
    hmdb51.read_splits(str(lists), 1)  # split 1 is complete
    with pytest.raises(
        DatasetError, match=r"forest_rise_test_split3.txt: file not found. Every class"
    ):
        hmdb51.read_splits(str(lists), 3)
    with pytest.raises(DatasetError, match=r"folder not found.*testTrainMulti_7030_splits"):
        hmdb51.read_class_names(str(tmp_path / "absent"))


def _check(*args: str) -> int:
    """Runs `python -m preprocessing.check` in-process; returns its exit status."""
    flag_values = flags.FlagValues()
    check.define_flags(flag_values)
    flag_values(["check", *args])
    try:
        binary_main(lambda argv: check.run(flag_values), status=2)(["check"])
    except SystemExit as e:
        return e.code
    return 0


def test_check_cli_summarizes_every_split(tree, capsys):
    root, _ = tree
    assert _check("--dataset=hmdb51", f"--root={root}") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "hmdb51" and summary["num_classes"] == 4
    for split in ("1", "2", "3"):
        figures = summary["splits"][split]
        assert (figures["train"], figures["test"], figures["distinct_clips"]) == (12, 8, 20)
        assert figures["train_per_class"] == {"min": TRAIN, "max": TRAIN}
        assert figures["test_per_class"] == {"min": TEST, "max": TEST}
    assert summary["sources"]["videos"]["present"] is False


def test_check_cli_bad_input_is_status_2(tree, tmp_path, capsys):
    lists = _copy_lists(tree, tmp_path)
    _append(lists / "beach_fall_test_split1.txt", "x.avi 9")
    assert _check("--dataset=hmdb51", f"--splits_dir={lists}", "--split=1") == 2
    assert "beach_fall_test_split1.txt:7: tag '9'" in capsys.readouterr().err
