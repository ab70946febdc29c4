"""The val subset: known answers on the real UCF-101 lists, and one Beam job writing it."""

import collections
import pathlib
import re

import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from conftest import frames_job_config

from preprocessing import pipeline, ucf101, validation
from preprocessing.dataset import Clip
from tfrecords import manifest as manifest_lib
from tfrecords import schema
from tfrecords.errors import UserError


@pytest.fixture(scope="module")
def split1(ucf101_lists_dir):
    return ucf101.read_splits(ucf101_lists_dir, 1)


def _groups(clips):
    return {(c.label, c.group) for c in clips}


def test_val_groups_holds_out_the_lowest_training_groups_of_every_class(split1, ucf101_lists_dir):
    subsets = validation.hold_out(split1, 3, None, "ucf101")
    train, val, test = subsets["train"], subsets["val"], subsets["test"]
    assert {c.group for c in val} == {8, 9, 10}
    assert {c.group for c in train} == set(range(11, 26))
    assert {c.label for c in val} == set(range(ucf101.NUM_CLASSES))  # 3 groups in every class
    assert all(len({g for lab, g in _groups(val) if lab == label}) == 3 for label in range(101))
    assert not _groups(val) & _groups(train) and not _groups(val) & _groups(test)
    # The size the flag asks for, counted from the list file itself.
    lines = pathlib.Path(ucf101_lists_dir, "trainlist01.txt").read_text().splitlines()
    in_val = [line for line in lines if re.search(r"_g(08|09|10)_c", line)]
    assert len(val) == len(in_val) and len(train) + len(val) == len(split1["train"])
    assert {c.subset for c in val} == {"val"} and {c.subset for c in train} == {"train"}
    assert test == split1["test"]
    assert validation.hold_out(split1, 3, None, "ucf101") == subsets  # same flags, same split


def test_val_fraction_moves_whole_groups_the_same_in_every_class(split1):
    subsets = validation.hold_out(split1, None, 0.2, "ucf101")
    per_class = collections.defaultdict(set)
    for clip in subsets["val"]:
        per_class[clip.label].add(clip.group)
    assert len(per_class) == 101
    assert all(len(groups) == round(18 * 0.2) for groups in per_class.values())  # 4 of 18
    assert len({frozenset(groups) for groups in per_class.values()}) == 1
    assert not _groups(subsets["val"]) & _groups(subsets["train"])
    assert not _groups(subsets["val"]) & _groups(subsets["test"])
    assert validation.hold_out(split1, None, 0.2, "ucf101") == subsets


def _ungrouped(per_class: int) -> dict[str, list[Clip]]:
    """HMDB-style clips (group 0) of two classes."""
    return {
        "train": [
            Clip(f"{name}_{i}", name, label, 0, 0, "train", f"{name}/{name}_{i}.avi")
            for label, name in enumerate(("walk", "run"))
            for i in range(per_class)
        ],
        "test": [],
    }


def test_datasets_without_groups_refuse_val_groups_and_hash_clips_for_val_fraction():
    with pytest.raises(UserError, match=r"^val_groups=2: the hmdb51 .*val_fraction"):
        validation.hold_out(_ungrouped(10), 2, None, "hmdb51")
    subsets = validation.hold_out(_ungrouped(10), None, 0.3, "hmdb51")
    assert collections.Counter(c.label for c in subsets["val"]) == {0: 3, 1: 3}
    assert len(subsets["train"]) == 14
    assert not {c.video_id for c in subsets["val"]} & {c.video_id for c in subsets["train"]}
    assert validation.hold_out(_ungrouped(10), None, 0.3, "hmdb51") == subsets


@pytest.mark.parametrize(
    "groups, fraction, subsets, match",
    [
        (2, 0.1, ("train",), "give one of the two"),
        (0, None, ("train",), "^val_groups=0: use at least 1"),
        (None, 1.0, ("train",), r"^val_fraction=1.0: use a fraction in \(0, 1\)"),
        (None, None, ("train", "val"), "^subsets=train,val: .*val_groups or val_fraction"),
    ],
)
def test_bad_values_name_the_field(groups, fraction, subsets, match):
    with pytest.raises(UserError, match=match):
        validation.check(groups, fraction, subsets)


def test_a_class_must_keep_training_groups(split1):
    with pytest.raises(UserError, match="^val_groups=18: class 'ApplyEyeMakeup' has 18"):
        validation.hold_out(split1, 18, None, "ucf101")
    assert validation.hold_out(split1, None, None, "ucf101") is split1


def test_beam_job_writes_val_as_whole_videos_listed_in_the_manifest(synthetic_root, tmp_path):
    """Synthetic split 1: test group 1, train groups 2-3; --val_groups=1 holds out group 2."""
    root, out = pathlib.Path(synthetic_root), tmp_path / "out"
    config = frames_job_config(
        root, out, subsets=("train", "val", "test"), val_groups=1, rgb_chunks=2
    )
    result = pipeline.run(config, PipelineOptions(["--runner=DirectRunner"]))
    manifest = manifest_lib.read_manifest(str(out))
    assert manifest == result.manifest
    listed = ucf101.read_splits(str(root / ucf101.SPLITS_DIR), 1)
    num_classes = len(manifest.class_names)
    assert manifest.listed == {
        "train": len(listed["train"]) // 2,
        "val": len(listed["train"]) // 2,
        "test": len(listed["test"]),
    }
    assert manifest.written == manifest.listed
    assert manifest.rgb_chunks == {"train": 2, "val": 1, "test": 1}
    assert "val: the 1 lowest-numbered training groups" in manifest.split_rule
    ids = {}
    for subset in ("train", "val"):
        paths = manifest.shard_paths(str(out), subset, schema.FLOW_MODALITY)
        ids[subset] = {
            record[schema.VIDEO_ID].decode() for path in paths for record in _flow_records(path)
        }
    assert all(re.search(r"_g02_", video_id) for video_id in ids["val"])
    assert all(re.search(r"_g03_", video_id) for video_id in ids["train"])
    assert len(ids["val"]) == manifest.written["val"]
    assert sum(manifest.per_class["val"].values()) == manifest.written["val"]
    assert len(manifest.per_class["val"]) == num_classes


def _flow_records(path: str) -> list[dict]:
    dataset = tf.data.TFRecordDataset(path).map(
        lambda r: schema.parse_record(r, schema.FLOW_MODALITY)
    )
    return list(dataset.as_numpy_iterator())
