"""The folder dataset (your own videos): classes, hash split, CSV split, errors."""

import csv
import json
import pathlib
import shutil

import pytest
from absl import flags

from preprocessing import check, datasets, folder
from preprocessing.errors import DatasetError
from synthetic import formats, generate

SPEC = generate.SyntheticSpec(
    num_appearances=2, num_motions=2, groups=3, clips_per_group=2, num_frames=(4, 5)
)
CLASSES = ["BeachFall", "BeachRise", "ForestFall", "ForestRise"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A generated folder tree (6 videos per class, .avi/.mp4/.mkv/.mov): (root, clips)."""
    root = tmp_path_factory.mktemp("folder_tree")
    return root, formats.generate_folder(str(root), SPEC)


def _copy(tree, tmp_path) -> pathlib.Path:
    root = tmp_path / "root"
    shutil.copytree(tree[0], root)
    return root


def _write_csv(path: pathlib.Path, rows: list[list[str]]) -> str:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def test_classes_are_sorted_folders_and_every_video_is_found(tree):
    root, clips = tree
    videos = folder.list_videos(str(root))
    assert list(videos) == CLASSES == folder.Folder(str(root)).class_names()
    assert sorted(f"{c}/{f}" for c, files in videos.items() for f in files) == sorted(
        c.path for c in clips
    )
    extensions = {pathlib.PurePath(c.path).suffix for c in clips}
    assert extensions == set(formats.FOLDER_EXTENSIONS)
    assert set("!#&'()+,;@[]") <= set("".join(c.path for c in clips))


@pytest.mark.parametrize("fraction, num_test", [(0.3, 2), (0.5, 3), (0.1, 1), (0.05, 0)])
def test_hash_split_is_deterministic_and_respects_the_fraction_per_class(tree, fraction, num_test):
    root, clips = tree
    first = folder.Folder(str(root), test_fraction=fraction).read_splits(1)
    again = folder.Folder(str(root), test_fraction=fraction).read_splits(1)
    assert first == again
    for name in CLASSES:
        test = [c for c in first["test"] if c.class_name == name]
        train = [c for c in first["train"] if c.class_name == name]
        assert (len(test), len(train)) == (num_test, 6 - num_test)
    ids = sorted(c.video_id for s in first.values() for c in s)
    assert ids == sorted(c.video_id for c in clips)
    for clip in first["test"] + first["train"]:
        assert CLASSES[clip.label] == clip.class_name and clip.group == 0


def test_split_rule_names_the_csv_or_the_hash_and_its_fraction(tree):
    root, _ = tree
    assert folder.Folder(str(root)).split_rule == (
        "stable hash of each path, test fraction 0.3 per class"
    )
    assert folder.Folder(str(root), "s.csv").split_rule == "CSV s.csv"


def test_hash_splits_differ_between_split_numbers(tree):
    root, _ = tree
    dataset = folder.Folder(str(root))
    tests = [{c.video_id for c in dataset.read_splits(k)["test"]} for k in (1, 2, 3)]
    assert len({frozenset(t) for t in tests}) > 1


def test_csv_split_with_and_without_labels(tree, tmp_path):
    root, clips = tree
    paths = sorted(c.path for c in clips)
    rows = [["path", "label", "subset"]]
    rows += [[p, p.split("/")[0], "test"] for p in paths[:3]]
    rows += [[p, "train"] for p in paths[3:8]]  # path,subset rows
    split_csv = _write_csv(tmp_path / "split.csv", rows)
    dataset = datasets.create("folder", "", datasets.default_layout("folder", str(root)), split_csv)
    assert dataset.splits == (1,)
    subsets = dataset.read_splits(1)
    assert [c.list_entry for c in subsets["test"]] == paths[:3]
    assert [c.list_entry for c in subsets["train"]] == paths[3:8]
    with pytest.raises(ValueError, match=r"split=2: the folder dataset has splits \[1\]"):
        dataset.read_splits(2)


@pytest.mark.parametrize(
    "row, message",
    [
        (["{p}", "val"], r"split.csv:2: unknown subset 'val'; use one of train, test"),
        (
            ["Nope/x.avi", "train"],
            r"split.csv:2: 'Nope/x.avi' is not a video under the dataset root",
        ),
        (["{p}", "ForestRise", "train"], r"split.csv:2: label 'ForestRise' is not the class"),
        (["{p}", "a", "b", "c"], r"split.csv:2: expected 'path,subset' or 'path,label,subset'"),
    ],
)
def test_csv_errors_name_file_and_line(tree, tmp_path, row, message):
    root, clips = tree
    path = sorted(c.path for c in clips)[0]
    split_csv = _write_csv(
        tmp_path / "split.csv", [[path, "train"], [c.format(p=path) for c in row]]
    )
    with pytest.raises(DatasetError, match=message):
        folder.Folder(str(root), split_csv).read_splits(1)


def test_csv_duplicate_and_missing_file(tree, tmp_path):
    root, clips = tree
    path = sorted(c.path for c in clips)[0]
    split_csv = _write_csv(tmp_path / "split.csv", [[path, "train"], [path, "test"]])
    with pytest.raises(DatasetError, match=r"split.csv:2: .* listed twice \(first on line 1\)"):
        folder.Folder(str(root), split_csv).read_splits(1)
    with pytest.raises(DatasetError, match=r"absent.csv: file not found; the split CSV must be"):
        folder.Folder(str(root), str(tmp_path / "absent.csv")).read_splits(1)


def test_tree_errors(tree, tmp_path):
    root = _copy(tree, tmp_path)
    (root / "EmptyClass").mkdir()
    with pytest.raises(DatasetError, match=r"EmptyClass: empty class folder"):
        folder.list_videos(str(root))
    (root / "EmptyClass").rmdir()
    (root / "stray.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"stray.mp4: a video directly in the dataset root"):
        folder.list_videos(str(root))
    (root / "stray.mp4").unlink()
    twin = next((root / "BeachFall").iterdir())
    shutil.copy(twin, twin.with_suffix(".webm"))
    with pytest.raises(DatasetError, match=r"same clip id as"):
        folder.list_videos(str(root))
    with pytest.raises(DatasetError, match=r"folder not found; the dataset root must hold"):
        folder.list_videos(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match=r"test_fraction=1.0: use a fraction in \(0, 1\)"):
        folder.Folder(str(root), test_fraction=1.0)


def test_check_cli_finds_every_video(tree, capsys):
    root, clips = tree
    flag_values = flags.FlagValues()
    check.define_flags(flag_values)
    flag_values(["check", "--dataset=folder", f"--root={root}", "--split=2"])
    check.run(flag_values)  # exit status 0: no SystemExit
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"]["2"]["test_per_class"] == {"min": 2, "max": 2}
    videos = summary["sources"]["videos"]
    assert videos["present"] and videos["found"] == len(clips) and not videos["missing"]
