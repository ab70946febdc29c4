"""UCF-101's conventions, in one place: class index, split lists, clip ids, source layouts.

The official distribution ships `ucfTrainTestlist/`:

* `classInd.txt`: `1 ApplyEyeMakeup` ... `101 YoYo` (1-based; labels here are 0-based).
* `trainlist0N.txt`: `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1` (path, 1-based label).
* `testlist0N.txt`: `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi` (path only).

Files have CRLF line endings; blank lines and trailing spaces are tolerated here.

Every listed clip gets one canonical id, `v_<Class>_gGG_cCC`, spelled with the class name
of `classInd.txt`. That resolves the known quirk: the lists name the 128 HandstandPushups
clips `v_HandStandPushups_*`, the public frame/flow archives `v_HandstandPushups_*`. Folder
lookups on disk are case-insensitive for the same reason, so every listed clip is found or
reported, never dropped.

Accepted source layouts (each folder overridable), see WORKSPACE.md:

* raw videos: `UCF-101/<Class>/v_<Class>_gGG_cCC.avi` (`VIDEOS_DIR`)
* RGB frames and TV-L1 flow: the archives' layout, `preprocessing.layout`

All file access goes through `tf.io.gfile`, so the same code reads local disks and `gs://`.
`Ucf101` is this module as a `preprocessing.dataset.Dataset` (`--dataset=ucf101`).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Iterator, Sequence

from preprocessing import UCF101_SPLITS_DIR, UCF101_VIDEOS_DIR
from preprocessing.dataset import SUBSETS, Clip, Dataset, read_text_lines
from preprocessing.errors import DatasetError
from tfrecords.manifest import CLASS_INDEX_FILE

# The folders under ROOT by default (named in preprocessing/__init__.py, for the flags).
SPLITS_DIR = UCF101_SPLITS_DIR
VIDEOS_DIR = UCF101_VIDEOS_DIR
SPLITS = (1, 2, 3)
NUM_CLASSES = 101
_CLIP_FILE = re.compile(r"^v_(?P<cls>[A-Za-z0-9]+)_g(?P<group>\d+)_c(?P<clip>\d+)\.avi$")


def canonical_video_id(class_name: str, group: int, clip: int) -> str:
    """Returns `v_<Class>_gGG_cCC` for a class name from classInd.txt."""
    return f"v_{class_name}_g{group:02d}_c{clip:02d}"


def list_file(splits_dir: str, split: int, subset: str) -> str:
    """Path of the official list file of `split` (1-3) and `subset` ('train'/'test')."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    return posixpath.join(splits_dir, f"{subset}list{split:02d}.txt")


def _read_lines(path: str) -> Iterator[tuple[int, str]]:
    """Yields (1-based line number, stripped text) of the non-blank lines of a UCF-101 list."""
    return read_text_lines(
        path,
        f"Point the splits folder at the `{SPLITS_DIR}` folder of UCF-101 (it holds "
        f"{CLASS_INDEX_FILE}, trainlist0N.txt and testlist0N.txt).",
    )


def read_class_index(splits_dir: str) -> list[str]:
    """Reads `classInd.txt`: class names in label order (index = 0-based label).

    Raises:
      DatasetError: the file is missing, a line is not `<number> <Name>`, numbers are not
        1..N in order, or a name repeats (case-insensitively).
    """
    path = posixpath.join(splits_dir, CLASS_INDEX_FILE)
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, line in _read_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isidentifier():
            raise DatasetError(f"{path}:{number}: expected '<index> <ClassName>', got {line!r}")
        index, name = int(parts[0]), parts[1]
        if index != len(names) + 1:
            raise DatasetError(
                f"{path}:{number}: class indices must run 1, 2, 3, ... in order; expected "
                f"{len(names) + 1}, got {index} ({line!r})"
            )
        if name.lower() in seen:
            raise DatasetError(f"{path}:{number}: class {name!r} repeats line {seen[name.lower()]}")
        seen[name.lower()] = number
        names.append(name)
    if not names:
        raise DatasetError(f"{path}: no classes listed")
    return names


def _parse_entry(
    path: str, number: int, line: str, subset: str, by_lower: dict[str, int], names: list[str]
) -> Clip:
    """Parses one list line into a Clip; every failure names file, line and text."""
    where = f"{path}:{number}"
    parts = line.split()
    if len(parts) not in (1, 2):
        raise DatasetError(f"{where}: expected '<Class>/<file>.avi [label]', got {line!r}")
    entry = parts[0].replace("\\", "/")
    if entry.startswith("/") or ":" in entry or ".." in entry.split("/"):
        raise DatasetError(
            f"{where}: {entry!r} escapes the dataset root (absolute path or '..'); list "
            "entries must be '<Class>/<file>.avi'"
        )
    folders = entry.split("/")
    if len(folders) != 2:
        raise DatasetError(f"{where}: expected '<Class>/<file>.avi', got {entry!r}")
    folder, filename = folders
    match = _CLIP_FILE.match(filename)
    if match is None:
        raise DatasetError(
            f"{where}: file name {filename!r} is not 'v_<Class>_gGG_cCC.avi' ({line!r})"
        )
    label = by_lower.get(folder.lower())
    if label is None:
        raise DatasetError(
            f"{where}: unknown class {folder!r} (not in {CLASS_INDEX_FILE}); fix the line or "
            f"add the class to {CLASS_INDEX_FILE}"
        )
    if match["cls"].lower() != folder.lower():
        raise DatasetError(f"{where}: file {filename!r} does not belong to class folder {folder!r}")
    if len(parts) == 2:
        if not parts[1].isdigit() or int(parts[1]) != label + 1:
            raise DatasetError(
                f"{where}: label {parts[1]!r} disagrees with {CLASS_INDEX_FILE}, which numbers "
                f"{names[label]!r} as {label + 1}"
            )
    elif subset == "train":
        raise DatasetError(f"{where}: train list entry without a label: {line!r}")
    group, clip = int(match["group"]), int(match["clip"])
    return Clip(
        video_id=canonical_video_id(names[label], group, clip),
        class_name=names[label],
        label=label,
        group=group,
        clip=clip,
        subset=subset,
        list_entry=entry,
    )


def read_split(
    splits_dir: str, split: int, subset: str, class_names: Sequence[str] | None = None
) -> list[Clip]:
    """Reads the clips of one official list, in file order.

    Args:
      splits_dir: the `ucfTrainTestlist` folder.
      split: 1, 2 or 3.
      subset: 'train' or 'test'.
      class_names: classInd order; read from `splits_dir` when None.

    Raises:
      DatasetError: unknown class, label disagreeing with classInd, malformed line, a path
        escaping the root, or a clip listed twice; the message names file and line.
    """
    names = list(class_names) if class_names is not None else read_class_index(splits_dir)
    by_lower = {name.lower(): i for i, name in enumerate(names)}
    path = list_file(splits_dir, split, subset)
    clips: list[Clip] = []
    first_line: dict[str, int] = {}
    for number, line in _read_lines(path):
        clip = _parse_entry(path, number, line, subset, by_lower, names)
        if clip.video_id in first_line:
            raise DatasetError(
                f"{path}:{number}: {clip.list_entry!r} is listed twice (first on line "
                f"{first_line[clip.video_id]}); remove the duplicate"
            )
        first_line[clip.video_id] = number
        clips.append(clip)
    return clips


def read_splits(splits_dir: str, split: int) -> dict[str, list[Clip]]:
    """Reads train and test clips of `split`: {'train': [...], 'test': [...]}.

    Raises:
      DatasetError: as read_split, or a clip listed in both subsets.
    """
    names = read_class_index(splits_dir)
    subsets = {subset: read_split(splits_dir, split, subset, names) for subset in SUBSETS}
    both = {c.video_id for c in subsets["train"]} & {c.video_id for c in subsets["test"]}
    if both:
        raise DatasetError(
            f"split {split} in {splits_dir}: {len(both)} clips are in both the train and the "
            f"test list, e.g. {sorted(both)[:3]}"
        )
    return subsets


@dataclasses.dataclass(frozen=True)
class Ucf101(Dataset):
    """UCF-101 as a `Dataset`: the official lists in `splits_dir` (`ucfTrainTestlist`)."""

    splits_dir: str
    name = "ucf101"

    @property
    def splits(self) -> tuple[int, ...]:
        """Splits 1-3 of the official lists."""
        return SPLITS

    def class_names(self) -> list[str]:
        """classInd.txt order (`read_class_index`)."""
        return read_class_index(self.splits_dir)

    def read_splits(self, split: int) -> dict[str, list[Clip]]:
        """The official train/test lists of `split` (`read_splits`)."""
        return read_splits(self.splits_dir, split)
