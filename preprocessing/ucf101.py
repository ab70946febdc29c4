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

* raw videos: `UCF-101/<Class>/v_<Class>_gGG_cCC.avi`
* RGB frames: `jpegs_256/v_<Class>_gGG_cCC/frame000001.jpg` ...
* TV-L1 flow: `tvl1_flow/u/v_<Class>_gGG_cCC/frame000001.jpg` and `tvl1_flow/v/...`

All file access goes through `tf.io.gfile`, so the same code reads local disks and `gs://`.
`Ucf101` is this module as a `preprocessing.dataset.Dataset` (`--dataset=ucf101`).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import sys
from collections.abc import Iterator, Sequence

from absl import flags

from preprocessing.dataset import CLASS_INDEX_FILE, SUBSETS, Clip, Dataset, read_text_lines
from preprocessing.errors import DatasetError
from preprocessing.layout import SPLITS_DIR as SPLITS_DIR  # re-exported: default folders
from preprocessing.layout import VIDEOS_DIR as VIDEOS_DIR
from preprocessing.layout import Layout, SourceIndex, list_frames
from tfrecords.errors import UserError, run_binary

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
        "Point --splits_dir at the `ucfTrainTestlist` folder of UCF-101 (it holds "
        "classInd.txt, trainlist0N.txt and testlist0N.txt).",
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


def split_summary(splits_dir: str, split: int) -> dict:
    """Clip and group counts of one split, and whether train and test groups are disjoint.

    Groups are compared as (class, group) pairs: clips of one group share actor and scene,
    so a group on both sides would leak the test set into training.
    """
    subsets = read_splits(splits_dir, split)
    groups = {s: {(c.label, c.group) for c in clips} for s, clips in subsets.items()}
    return {
        "train": len(subsets["train"]),
        "test": len(subsets["test"]),
        "distinct_clips": len({c.video_id for clips in subsets.values() for c in clips}),
        "train_groups": sorted({g for _, g in groups["train"]}),
        "test_groups": sorted({g for _, g in groups["test"]}),
        "groups_disjoint": not (groups["train"] & groups["test"]),
    }


def sources_summary(clips: Sequence[Clip], layout: Layout) -> dict:
    """What of `clips` is on disk in each layout, with frame counts.

    A clip counts as found in `flow` only when both `u` and `v` folders exist with the same
    number of frames; `flow_count_mismatch` lists clips whose flow count is not the RGB
    count minus one (flow frame i lies between RGB frames i and i+1).
    """
    index = SourceIndex(layout)
    videos = {"folder": layout.videos_dir, "present": index.has_videos, "missing": []}
    frames = {"folder": layout.frames_dir, "present": index.has_frames, "missing": []}
    flow = {"folder": layout.flow_dir, "present": index.has_flow, "missing": []}
    frames["frames"] = flow["frames"] = 0
    flow["count_mismatch"] = []
    for clip in clips:
        if index.has_videos and index.video(clip) is None:
            videos["missing"].append(clip.video_id)
        rgb_count = None
        if index.has_frames:
            rgb_dir = index.rgb_dir(clip)
            if rgb_dir is None:
                frames["missing"].append(clip.video_id)
            else:
                rgb_count = len(list_frames(rgb_dir))
                frames["frames"] += rgb_count
        if index.has_flow:
            x_dir, y_dir = index.flow_dirs(clip)
            if x_dir is None or y_dir is None:
                flow["missing"].append(clip.video_id)
                continue
            x_count, y_count = len(list_frames(x_dir)), len(list_frames(y_dir))
            flow["frames"] += x_count
            if x_count != y_count or (rgb_count is not None and x_count != rgb_count - 1):
                flow["count_mismatch"].append(
                    {"video_id": clip.video_id, "rgb": rgb_count, "u": x_count, "v": y_count}
                )
    for entry in (videos, frames, flow):
        entry["found"] = len(clips) - len(entry["missing"]) if entry["present"] else 0
    return {"listed_clips": len(clips), "videos": videos, "frames": frames, "flow": flow}


def summarize(splits_dir: str, splits: Sequence[int], layout: Layout | None = None) -> dict:
    """The JSON summary printed by `python -m preprocessing.ucf101`."""
    summary = {
        "splits_dir": splits_dir,
        "num_classes": len(read_class_index(splits_dir)),
        "splits": {str(split): split_summary(splits_dir, split) for split in splits},
    }
    if layout is not None:
        clips = {
            c.video_id: c
            for split in splits
            for clips in read_splits(splits_dir, split).values()
            for c in clips
        }
        summary["sources"] = sources_summary(sorted(clips.values(), key=_order), layout)
    return summary


def _order(clip: Clip) -> tuple[int, int, int]:
    return clip.label, clip.group, clip.clip


def summary_ok(summary: dict) -> bool:
    """True when groups are disjoint and every present layout holds every listed clip."""
    if not all(s["groups_disjoint"] for s in summary["splits"].values()):
        return False
    return sources_ok(summary.get("sources", {}))


def sources_ok(sources: dict) -> bool:
    """True when every present layout of a `sources_summary` holds every listed clip."""
    for name in ("videos", "frames", "flow"):
        if name in sources and sources[name]["present"] and sources[name]["missing"]:
            return False
    return not sources.get("flow", {}).get("count_mismatch")


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the summary binary's flags on `flag_values`.

    Called only when this module runs as a program (or by a test with its own FlagValues),
    so importing the dataset layer registers no flag that could clash with another binary's.
    """
    on = {"flag_values": flag_values}
    flags.DEFINE_string(
        "splits_dir", None, "The `ucfTrainTestlist` folder (classInd.txt, lists).", **on
    )
    flags.DEFINE_list("split", ["1", "2", "3"], "Split(s) to summarize: 1, 2 and/or 3.", **on)
    flags.DEFINE_string(
        "root",
        None,
        "Dataset root holding UCF-101/, jpegs_256/, tvl1_flow/ (any may be absent).",
        **on,
    )
    flags.DEFINE_string("videos_dir", None, "Overrides ROOT/UCF-101.", **on)
    flags.DEFINE_string("frames_dir", None, "Overrides ROOT/jpegs_256.", **on)
    flags.DEFINE_string("flow_dir", None, "Overrides ROOT/tvl1_flow.", **on)
    flags.mark_flag_as_required("splits_dir", flag_values=flag_values)


def run(flag_values: flags.FlagValues) -> None:
    """Prints the JSON summary; exits 1 if a present layout misses clips.

    Raises:
      UserError: bad input (exit status 2 through the binary).
    """
    splits = []
    for value in flag_values.split:
        if value not in ("1", "2", "3"):
            raise UserError(f"--split must be 1, 2 or 3 (comma-separated), got {value!r}")
        splits.append(int(value))
    fv = flag_values
    layout = None
    if fv.root or fv.videos_dir or fv.frames_dir or fv.flow_dir:
        layout = Layout.under(fv.root or ".", fv.videos_dir, fv.frames_dir, fv.flow_dir)
    summary = summarize(fv.splits_dir, splits, layout)
    print(json.dumps(summary, indent=2))
    if not summary_ok(summary):
        sys.exit(1)


def main(argv: Sequence[str]) -> None:
    """The binary's entry point: `run` on the global flags."""
    del argv  # run_binary refuses positional arguments
    run(flags.FLAGS)


if __name__ == "__main__":
    define_flags(flags.FLAGS)
    run_binary(main, status=2)
