"""`python -m preprocessing.check`: a dataset's splits and what of it is on disk, as JSON.

    .venv/bin/python -m preprocessing.check --dataset=ucf101 --root=ROOT [--split=1,2,3]
    .venv/bin/python -m preprocessing.check --splits_dir=ROOT/ucfTrainTestlist [--split=1]
    .venv/bin/python -m preprocessing.check --dataset=hmdb51 --root=ROOT [--split=1,2,3]
    .venv/bin/python -m preprocessing.check --dataset=folder --root=ROOT [--split_csv=CSV]

For `--dataset=ucf101` the summary is `summarize_ucf101`'s: per split, train/test clips,
distinct clips, the train and test groups and whether they are disjoint. For the other
datasets (`summarize`): per split, train/test clips, distinct clips, the fewest and most clips
of a class per subset. With the source folders present (`--root` or a folder flag), both add
what of the listed clips they hold (`sources_summary`). Exit status: 0; 1 when a present
layout misses listed clips (or, for ucf101, train and test groups overlap); 2 on bad input (a
message naming file and line).
"""

from __future__ import annotations

import sys

from tfrecords import startup

if __name__ == "__main__":  # the binary (tests import the module): TensorFlow loads quietly
    startup.quiet()
    startup.import_tensorflow()

import collections
import json
from collections.abc import Sequence

from absl import flags

from preprocessing import DATASETS, DEFAULT_DATASET, datasets, folder, ucf101
from preprocessing import layout as layout_lib
from preprocessing.dataset import SUBSETS, Clip, Dataset
from preprocessing.layout import Layout, SourceIndex, list_frames
from tfrecords.errors import UserError, run_binary


def split_summary(dataset: Dataset, split: int) -> dict:
    """Clip counts of `split`, with the fewest / most clips of a class per subset."""
    subsets = dataset.read_splits(split)
    names = dataset.class_names()
    summary: dict = {subset: len(subsets[subset]) for subset in SUBSETS}
    summary["distinct_clips"] = len({c.video_id for s in subsets.values() for c in s})
    for subset in SUBSETS:
        per_class = collections.Counter(c.class_name for c in subsets[subset])
        counts = [per_class[name] for name in names]
        summary[f"{subset}_per_class"] = {"min": min(counts), "max": max(counts)}
    return summary


def group_summary(splits_dir: str, split: int) -> dict:
    """UCF-101: clip and group counts of one split, and whether its groups are disjoint.

    Groups are compared as (class, group) pairs: clips of one group share actor and scene,
    so a group on both sides would leak the test set into training.
    """
    subsets = ucf101.read_splits(splits_dir, split)
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


def _listed_clips(dataset: Dataset, splits: Sequence[int]) -> list[Clip]:
    """The distinct clips of `splits`, by label then id."""
    clips = {
        c.video_id: c
        for split in splits
        for clips in dataset.read_splits(split).values()
        for c in clips
    }
    return sorted(clips.values(), key=lambda c: (c.label, c.video_id))


def summarize(dataset: Dataset, splits: Sequence[int], layout: Layout | None = None) -> dict:
    """The JSON summary of `dataset`'s `splits` (and of `layout`, if given)."""
    for split in splits:
        dataset.check_split(split)
    summary = {
        "dataset": dataset.name,
        "num_classes": len(dataset.class_names()),
        "splits": {str(split): split_summary(dataset, split) for split in splits},
    }
    if layout is not None:
        summary["sources"] = sources_summary(_listed_clips(dataset, splits), layout)
    return summary


def summarize_ucf101(splits_dir: str, splits: Sequence[int], layout: Layout | None = None) -> dict:
    """The JSON summary of UCF-101's `splits` with their groups (and of `layout`, if given)."""
    dataset = ucf101.Ucf101(splits_dir)
    for split in splits:
        dataset.check_split(split)
    summary = {
        "splits_dir": splits_dir,
        "num_classes": len(dataset.class_names()),
        "splits": {str(split): group_summary(splits_dir, split) for split in splits},
    }
    if layout is not None:
        summary["sources"] = sources_summary(_listed_clips(dataset, splits), layout)
    return summary


def sources_ok(sources: dict) -> bool:
    """True when every present layout of a `sources_summary` holds every listed clip."""
    for name in ("videos", "frames", "flow"):
        if name in sources and sources[name]["present"] and sources[name]["missing"]:
            return False
    return not sources.get("flow", {}).get("count_mismatch")


def summary_ok(summary: dict) -> bool:
    """True when groups (if summarized) are disjoint and present layouts hold every clip."""
    splits = summary["splits"].values()
    if not all(s.get("groups_disjoint", True) for s in splits):
        return False
    return sources_ok(summary.get("sources", {}))


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the binary's flags on `flag_values`.

    Called only when this module runs as a program (or by a test with its own FlagValues),
    so importing the dataset layer registers no flag that could clash with another binary's.
    """
    on = {"flag_values": flag_values}
    flags.DEFINE_enum("dataset", DEFAULT_DATASET, list(DATASETS), "Dataset.", **on)
    flags.DEFINE_string("root", None, "Dataset root (as for python -m preprocessing).", **on)
    flags.DEFINE_string("splits_dir", None, "Overrides the split-files folder.", **on)
    flags.DEFINE_list("split", None, "Split(s) to summarize; default: all.", **on)
    flags.DEFINE_string("videos_dir", None, "Overrides the videos folder.", **on)
    flags.DEFINE_string("frames_dir", None, f"Overrides ROOT/{layout_lib.FRAMES_DIR}.", **on)
    flags.DEFINE_string("flow_dir", None, f"Overrides ROOT/{layout_lib.FLOW_DIR}.", **on)
    flags.DEFINE_string("split_csv", None, "--dataset=folder: the split CSV.", **on)
    flags.DEFINE_float(
        "test_fraction", folder.DEFAULT_TEST_FRACTION, "--dataset=folder: hash split.", **on
    )


def run(flag_values: flags.FlagValues) -> None:
    """Prints the JSON summary; exits 1 if a present layout misses clips.

    Raises:
      UserError: bad input (exit status 2 through the binary).
    """
    fv = flag_values
    if fv.root is None and not (fv.splits_dir or fv.videos_dir):
        raise UserError("give --root (or --splits_dir / --videos_dir)")
    layout = datasets.default_layout(
        fv.dataset, fv.root or "", fv.videos_dir, fv.frames_dir, fv.flow_dir
    )
    splits_dir = fv.splits_dir or datasets.default_splits_dir(fv.dataset, fv.root or "")
    with_sources = fv.root is not None or bool(fv.videos_dir or fv.frames_dir or fv.flow_dir)
    sources = layout if with_sources else None
    dataset = datasets.create(fv.dataset, splits_dir, layout, fv.split_csv, fv.test_fraction)
    if fv.split and not all(s.isdigit() for s in fv.split):
        raise UserError(f"--split must be split numbers, comma-separated; got {fv.split}")
    splits = [int(s) for s in fv.split] if fv.split else list(dataset.splits)
    if fv.dataset == "ucf101":
        summary = summarize_ucf101(splits_dir, splits, sources)
    else:
        summary = summarize(dataset, splits, sources)
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
