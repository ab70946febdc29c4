"""`python -m preprocessing.check`: a dataset's splits and what of it is on disk, as JSON.

    .venv/bin/python -m preprocessing.check --dataset=hmdb51 --root=ROOT [--split=1,2,3]
    .venv/bin/python -m preprocessing.check --dataset=folder --root=ROOT [--split_csv=CSV]

For `--dataset=ucf101` the summary is `preprocessing.ucf101.summarize`'s (with group
disjointness), exactly what `python -m preprocessing.ucf101 --splits_dir=...` prints. For the
other datasets: per split, train/test clips, distinct clips, the fewest and most clips of a
class per subset; with the source folders present, what of the listed clips they hold
(`ucf101.sources_summary`). Exit status: 0; 1 when a present layout misses listed clips;
2 on bad input (a message naming file and line).
"""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Sequence

from absl import flags

from preprocessing import datasets, folder, ucf101
from preprocessing.dataset import SUBSETS, Dataset
from preprocessing.layout import Layout
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
        clips = {
            c.video_id: c
            for split in splits
            for clips in dataset.read_splits(split).values()
            for c in clips
        }
        ordered = sorted(clips.values(), key=lambda c: (c.label, c.video_id))
        summary["sources"] = ucf101.sources_summary(ordered, layout)
    return summary


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the binary's flags on `flag_values` (see `ucf101.define_flags` for why)."""
    on = {"flag_values": flag_values}
    flags.DEFINE_enum(
        "dataset", datasets.DEFAULT_DATASET, list(datasets.DATASETS), "Dataset.", **on
    )
    flags.DEFINE_string("root", None, "Dataset root (as for python -m preprocessing).", **on)
    flags.DEFINE_string("splits_dir", None, "Overrides the split-files folder.", **on)
    flags.DEFINE_list("split", None, "Split(s) to summarize; default: all.", **on)
    flags.DEFINE_string("videos_dir", None, "Overrides the videos folder.", **on)
    flags.DEFINE_string("frames_dir", None, "Overrides ROOT/jpegs_256.", **on)
    flags.DEFINE_string("flow_dir", None, "Overrides ROOT/tvl1_flow.", **on)
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
    dataset = datasets.create(fv.dataset, splits_dir, layout, fv.split_csv, fv.test_fraction)
    if fv.split and not all(s.isdigit() for s in fv.split):
        raise UserError(f"--split must be split numbers, comma-separated; got {fv.split}")
    splits = [int(s) for s in fv.split] if fv.split else list(dataset.splits)
    with_sources = fv.root is not None or bool(fv.videos_dir or fv.frames_dir or fv.flow_dir)
    if fv.dataset == "ucf101":
        summary = ucf101.summarize(splits_dir, splits, layout if with_sources else None)
    else:
        summary = summarize(dataset, splits, layout if with_sources else None)
    print(json.dumps(summary, indent=2))
    ok = (
        ucf101.summary_ok(summary)
        if fv.dataset == "ucf101"
        else ucf101.sources_ok(summary.get("sources", {}))
    )
    if not ok:
        sys.exit(1)


def main(argv: Sequence[str]) -> None:
    """The binary's entry point: `run` on the global flags."""
    del argv  # run_binary refuses positional arguments
    run(flags.FLAGS)


if __name__ == "__main__":
    define_flags(flags.FLAGS)
    run_binary(main, status=2)
