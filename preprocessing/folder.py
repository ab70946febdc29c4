"""Your own labelled videos: `ROOT/<class name>/<any name>.<avi|mp4|...>` as a dataset.

* Classes: the sub-folders of ROOT, sorted (label = index); hidden folders and the archive
  folders `jpegs_256/` and `tvl1_flow/` (frames/flow for `--source=frames`) are not classes.
  Every class folder must hold at least one video (`VIDEO_EXTENSIONS`); other files are
  ignored.
* Clip id: `<class>__<file name without extension>`, unique case-insensitively (two files
  differing only in extension are an error).
* Split, with `--split_csv`: one split (1) from a CSV of rows `path,subset` or
  `path,label,subset` (path relative to ROOT, `<class>/<file>`; label, if given, must be the
  class folder; subset `train` or `test`; an optional header row starting with `path`).
  Videos the CSV does not list are not used.
* Split, without a CSV: splits 1-3, each a deterministic function of the relative paths: in
  every class, the videos sorted by `stable_hash("<split>/<path>")`, the first
  `round(n * test_fraction)` are test, the rest train. Same files and flags, same split, on
  every machine; each class gets its fraction within rounding.

Only `--source=videos` makes sense unless frame and flow folders exist in the archives'
layout (`ROOT/jpegs_256/<clip id>/`, `ROOT/tvl1_flow/{u,v}/<clip id>/`). The Beam job writes
the class list as `classInd.txt` next to the manifest, for reuse.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import posixpath

import tensorflow as tf

from preprocessing import DEFAULT_TEST_FRACTION as DEFAULT_TEST_FRACTION
from preprocessing import FLOW_DIR, FRAMES_DIR, sharding
from preprocessing.dataset import SUBSETS, Clip, Dataset
from preprocessing.errors import DatasetError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv")
HASH_SPLITS = (1, 2, 3)
CSV_SPLITS = (1,)
ID_SEPARATOR = "__"
_RESERVED = (FRAMES_DIR, FLOW_DIR)


def _entries(folder: str) -> list[tuple[str, bool]]:
    """(name, is folder) of the entries of `folder`, sorted by name."""
    out = []
    for name in sorted(tf.io.gfile.listdir(folder)):
        bare = name.rstrip("/")
        out.append((bare, name.endswith("/") or tf.io.gfile.isdir(posixpath.join(folder, bare))))
    return out


def is_video(name: str) -> bool:
    """Whether `name` has one of VIDEO_EXTENSIONS (case-insensitively)."""
    return posixpath.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def video_id(class_name: str, filename: str) -> str:
    """`<class>__<file name without extension>`: the clip id of ROOT/<class>/<filename>."""
    return f"{class_name}{ID_SEPARATOR}{posixpath.splitext(filename)[0]}"


def list_videos(root: str) -> dict[str, list[str]]:
    """Class name -> video file names in ROOT/<class>, classes and files sorted.

    Raises:
      DatasetError: ROOT is missing or has no class folder, a video lies directly in ROOT,
        a class folder holds no video, two class folders differ only in case, or two videos
        would get the same clip id.
    """
    if not tf.io.gfile.isdir(root):
        raise DatasetError(
            f"{root}: folder not found; the dataset root must hold one folder of videos per class"
        )
    videos: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for name, is_dir in _entries(root):
        if not is_dir:
            if is_video(name):
                raise DatasetError(
                    f"{posixpath.join(root, name)}: a video directly in the dataset root; move "
                    "it into its class folder ROOT/<class name>/"
                )
            continue
        if name.startswith(".") or name in _RESERVED:
            continue
        if name.lower() in seen:
            raise DatasetError(
                f"{posixpath.join(root, name)}: class folders {seen[name.lower()]!r} and "
                f"{name!r} differ only in case; merge them"
            )
        seen[name.lower()] = name
        folder = posixpath.join(root, name)
        files = [f for f, sub in _entries(folder) if not sub and is_video(f)]
        if not files:
            raise DatasetError(
                f"{folder}: empty class folder (no {', '.join(VIDEO_EXTENSIONS)} files); add "
                "its videos or remove the folder"
            )
        videos[name] = files
    if not videos:
        raise DatasetError(f"{root}: no class folders; put videos in ROOT/<class name>/")
    ids: dict[str, str] = {}
    for name, files in videos.items():
        for filename in files:
            key = video_id(name, filename).lower()
            path = posixpath.join(root, name, filename)
            if key in ids:
                raise DatasetError(
                    f"{path}: same clip id as {ids[key]} (names differ only in extension or "
                    "case); rename one"
                )
            ids[key] = path
    return videos


def hash_split(videos: dict[str, list[str]], split: int, test_fraction: float) -> dict:
    """The hash split (see the module docstring): subset -> [(class, file name)], sorted."""
    subsets: dict[str, list[tuple[str, str]]] = {subset: [] for subset in SUBSETS}
    for name, files in videos.items():
        ranked = sorted(files, key=lambda f: sharding.stable_hash(f"{split}/{name}/{f}"))
        num_test = math.floor(len(files) * test_fraction + 0.5)
        subsets["test"].extend((name, f) for f in ranked[:num_test])
        subsets["train"].extend((name, f) for f in ranked[num_test:])
    return {subset: sorted(pairs) for subset, pairs in subsets.items()}


def read_split_csv(path: str, videos: dict[str, list[str]]) -> dict:
    """The CSV split: subset -> [(class, file name)] in file order.

    Raises:
      DatasetError: the file is missing, a row has not 2 or 3 cells, names no video under
        ROOT, a label other than its class folder, a subset other than train/test, or
        repeats a video; the message names file and line.
    """
    if not tf.io.gfile.exists(path):
        raise DatasetError(
            f"{path}: file not found; the split CSV must be a CSV of 'path,subset' or "
            "'path,label,subset' rows"
        )
    with tf.io.gfile.GFile(path, "rb") as f:
        text = f.read().decode("utf-8-sig")
    by_lower = {
        (name.lower(), filename.lower()): (name, filename)
        for name, files in videos.items()
        for filename in files
    }
    subsets: dict[str, list[tuple[str, str]]] = {subset: [] for subset in SUBSETS}
    first: dict[tuple[str, str], int] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells[0].lower() == "path"):
            continue
        where = f"{path}:{number}"
        if len(cells) not in (2, 3):
            raise DatasetError(
                f"{where}: expected 'path,subset' or 'path,label,subset', got {row!r}"
            )
        entry, subset = cells[0].replace("\\", "/").removeprefix("./"), cells[-1]
        parts = entry.split("/")
        found = by_lower.get((parts[0].lower(), parts[1].lower())) if len(parts) == 2 else None
        if found is None:
            raise DatasetError(
                f"{where}: {entry!r} is not a video under the dataset root (expected "
                f"'<class>/<file>' with one of {', '.join(VIDEO_EXTENSIONS)}); fix the path"
            )
        if len(cells) == 3 and cells[1] != found[0]:
            raise DatasetError(
                f"{where}: label {cells[1]!r} is not the class folder {found[0]!r} of "
                f"{entry!r}; move the video or fix the label"
            )
        if subset not in SUBSETS:
            raise DatasetError(
                f"{where}: unknown subset {subset!r}; use one of {', '.join(SUBSETS)}"
            )
        if found in first:
            raise DatasetError(
                f"{where}: {entry!r} is listed twice (first on line {first[found]}); remove "
                "the duplicate"
            )
        first[found] = number
        subsets[subset].append(found)
    return subsets


@dataclasses.dataclass(frozen=True)
class Folder(Dataset):
    """A folder of class folders as a `Dataset` (see the module docstring).

    Attributes:
      root: ROOT, the folder holding one folder per class.
      split_csv: CSV giving the split, or None for the hash split.
      test_fraction: fraction of each class's videos in test (hash split), in (0, 1).
    """

    root: str
    split_csv: str | None = None
    test_fraction: float = DEFAULT_TEST_FRACTION
    name = "folder"

    @property
    def split_rule(self) -> str:
        """The CSV the split comes from, or the hash rule and its test fraction."""
        if self.split_csv:
            return f"CSV {self.split_csv}"
        return f"stable hash of each path, test fraction {self.test_fraction:g} per class"

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise DatasetError(f"test_fraction={self.test_fraction}: use a fraction in (0, 1)")

    @property
    def splits(self) -> tuple[int, ...]:
        """(1,) with a CSV, (1, 2, 3) for the hash split."""
        return CSV_SPLITS if self.split_csv else HASH_SPLITS

    def class_names(self) -> list[str]:
        """Sorted class folder names."""
        return list(list_videos(self.root))

    def read_splits(self, split: int) -> dict[str, list[Clip]]:
        """Clips of `split` from the CSV or the hash split."""
        self.check_split(split)
        videos = list_videos(self.root)
        labels = {name: label for label, name in enumerate(videos)}
        if self.split_csv:
            pairs = read_split_csv(self.split_csv, videos)
        else:
            pairs = hash_split(videos, split, self.test_fraction)
        return {
            subset: [
                Clip(
                    video_id=video_id(name, filename),
                    class_name=name,
                    label=labels[name],
                    group=0,
                    clip=0,
                    subset=subset,
                    list_entry=f"{name}/{filename}",
                )
                for name, filename in pairs[subset]
            ]
            for subset in SUBSETS
        }
