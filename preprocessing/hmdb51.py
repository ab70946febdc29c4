"""HMDB-51's conventions: class list, split files, clip ids, source layouts.

The official distribution ships `testTrainMulti_7030_splits/` with, per class and split k,
`<class>_test_split<k>.txt`: one line per clip of the class, `<video file name> <tag>`, where
the tag is 1 (train), 2 (test) or 0 (not used in that split). Lines may end in a space and
in CRLF. Each split uses 70 train and 30 test clips per class (3,570 / 1,530 of 6,766).

* Classes: the class names of the split files, sorted (51 in HMDB-51); label = index.
* Clip id: the video file name without `.avi`. File names carry punctuation
  (`! # & ' ( ) + , ; @ [ ]`) and mixed case; ids keep them unchanged.
* HMDB-51 has no groups: `Clip.group` and `Clip.clip` are 0.

Source layouts (each folder overridable, see `preprocessing.layout`):

* raw videos: `hmdb51/<class>/<video>.avi`
* RGB frames: `jpegs_256/<video id>/frame000001.jpg` ...
* TV-L1 flow: `tvl1_flow/u/<video id>/frame000001.jpg` and `tvl1_flow/v/...`
"""

from __future__ import annotations

import dataclasses
import posixpath
import re

import tensorflow as tf

from preprocessing import HMDB51_SPLITS_DIR, HMDB51_VIDEOS_DIR
from preprocessing.dataset import SUBSETS, Clip, Dataset, read_text_lines
from preprocessing.errors import DatasetError

# The folders under ROOT by default (named in preprocessing/__init__.py, for the flags).
SPLITS_DIR = HMDB51_SPLITS_DIR
VIDEOS_DIR = HMDB51_VIDEOS_DIR
SPLITS = (1, 2, 3)
NUM_CLASSES = 51
VIDEO_SUFFIX = ".avi"
TAGS = {"0": None, "1": "train", "2": "test"}  # tag -> subset (0: not used in the split)
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$")
_WHAT = (
    "Point the splits folder (or the dataset root) at HMDB-51's `testTrainMulti_7030_splits` "
    "folder (<class>_test_split1.txt ... per class)."
)


def split_file(splits_dir: str, class_name: str, split: int) -> str:
    """Path of `<class>_test_split<k>.txt` in `splits_dir`."""
    return posixpath.join(splits_dir, f"{class_name}_test_split{split}.txt")


def read_class_names(splits_dir: str) -> list[str]:
    """Class names of the split files in `splits_dir`, sorted (index = 0-based label).

    Raises:
      DatasetError: the folder is missing or holds no `<class>_test_split<k>.txt`.
    """
    if not tf.io.gfile.isdir(splits_dir):
        raise DatasetError(f"{splits_dir}: folder not found. {_WHAT}")
    names = set()
    for entry in tf.io.gfile.listdir(splits_dir):
        match = _SPLIT_FILE.match(entry.rstrip("/"))
        if match:
            names.add(match["cls"])
    if not names:
        raise DatasetError(f"{splits_dir}: no <class>_test_split<k>.txt files. {_WHAT}")
    return sorted(names)


def read_splits(splits_dir: str, split: int) -> dict[str, list[Clip]]:
    """Train and test clips of `split`, class by class in file order; tag-0 lines skipped.

    Raises:
      DatasetError: a class's split file is missing, a line is not `<name>.avi <tag>`, a
        tag is not 0/1/2, or a video is listed twice (in one file or in two classes); the
        message names file and line.
    """
    if split not in SPLITS:
        raise DatasetError(f"split={split!r}: use one of {SPLITS}")
    subsets: dict[str, list[Clip]] = {subset: [] for subset in SUBSETS}
    first: dict[str, str] = {}  # lower-cased id -> where it was listed first
    for label, name in enumerate(read_class_names(splits_dir)):
        path = split_file(splits_dir, name, split)
        what = f"Every class needs {name}_test_split1.txt to _test_split3.txt. {_WHAT}"
        for number, line in read_text_lines(path, what):
            where = f"{path}:{number}"
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[0].lower().endswith(VIDEO_SUFFIX):
                raise DatasetError(f"{where}: expected '<video>.avi <tag>', got {line!r}")
            filename, tag = parts
            if tag not in TAGS:
                raise DatasetError(
                    f"{where}: tag {tag!r} must be 1 (train), 2 (test) or 0 (unused); fix "
                    f"the line {line!r}"
                )
            if "/" in filename or "\\" in filename:
                raise DatasetError(f"{where}: {filename!r} must be a file name, not a path")
            video_id = filename[: -len(VIDEO_SUFFIX)]
            key = video_id.lower()
            if key in first:
                raise DatasetError(
                    f"{where}: {filename!r} is listed twice (first at {first[key]}); remove "
                    "the duplicate"
                )
            first[key] = where
            subset = TAGS[tag]
            if subset is None:
                continue
            subsets[subset].append(
                Clip(
                    video_id=video_id,
                    class_name=name,
                    label=label,
                    group=0,
                    clip=0,
                    subset=subset,
                    list_entry=f"{name}/{filename}",
                )
            )
    return subsets


@dataclasses.dataclass(frozen=True)
class Hmdb51(Dataset):
    """HMDB-51 as a `Dataset`: the split files in `splits_dir`."""

    splits_dir: str
    name = "hmdb51"

    @property
    def splits(self) -> tuple[int, ...]:
        """Splits 1-3 of the official split files."""
        return SPLITS

    def class_names(self) -> list[str]:
        """Sorted class names of the split files (`read_class_names`)."""
        return read_class_names(self.splits_dir)

    def read_splits(self, split: int) -> dict[str, list[Clip]]:
        """Tag-1 (train) and tag-2 (test) clips of `split` (`read_splits`)."""
        return read_splits(self.splits_dir, split)
