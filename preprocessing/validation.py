"""The validation subset: training clips held out, group-disjoint from train and from test.

UCF-101 has no validation split, and choosing checkpoints on the test list is how a
reproduction flatters itself. On request the Beam job moves part of a split's train list into
a `val` subset, written and listed in the manifest like `train` and `test`; `train.py` reads
only `train`, so training runs on the remaining clips.

* `--val_groups=N`: in every class, all clips of the N lowest-numbered groups among the
  class's training clips (UCF-101 split 1: groups 8 .. 7+N of the training groups 8-25). A
  group's clips share actor and scene, so no val clip shares them with a train clip, and the
  official lists already keep test groups out of train. Datasets without groups (HMDB-51,
  folder: every `Clip.group` is 0) refuse it, naming `--val_fraction`.
* `--val_fraction=F`: in every class, `round(n * F)` of its n training keys, the first when
  ranked by `stable_hash("val/<key>")`; the key is the group (`g08`: whole groups move, the
  same group numbers in every class) when the dataset has groups, else the clip id.

Both are functions of the lists and the flag alone: the same lists and flags give the same
split on every machine. A class must keep at least one training key.
"""

from __future__ import annotations

import collections
import dataclasses
import math

from preprocessing import sharding
from preprocessing.dataset import SUBSETS, Clip
from tfrecords.errors import UserError

VAL_SUBSET = "val"
TRAIN_SUBSET = "train"
# Subsets the Beam job can write: the dataset's two, and the validation subset held out here.
WRITABLE_SUBSETS = (TRAIN_SUBSET, VAL_SUBSET, *(s for s in SUBSETS if s != TRAIN_SUBSET))


def check(val_groups: int | None, val_fraction: float | None, subsets: tuple[str, ...]) -> None:
    """Checks the validation flags against each other and against `--subsets`.

    Raises:
      UserError: both flags, a value out of range, or `val` in `subsets` without a flag
        that chooses its clips (the message names the field).
    """
    if val_groups is not None and val_fraction is not None:
        raise UserError(
            f"val_groups={val_groups} and val_fraction={val_fraction}: give one of the two"
        )
    if val_groups is not None and val_groups < 1:
        raise UserError(f"val_groups={val_groups}: use at least 1")
    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction={val_fraction}: use a fraction in (0, 1)")
    if VAL_SUBSET in subsets and val_groups is None and val_fraction is None:
        raise UserError(
            f"subsets={','.join(subsets)}: the {VAL_SUBSET} subset needs val_groups or "
            "val_fraction to choose its clips"
        )


def rule(val_groups: int | None, val_fraction: float | None) -> str:
    """How the val clips were chosen, for the manifest's `split_rule` ('' without val)."""
    if val_groups is not None:
        return f"val: the {val_groups} lowest-numbered training groups of each class"
    if val_fraction is not None:
        return f"val: {val_fraction:g} of each class's training groups (or clips), by stable hash"
    return ""


def _key(clip: Clip) -> str:
    return f"g{clip.group:02d}" if clip.group else clip.video_id


def _held_out_keys(
    keys: list[str], class_name: str, val_groups: int | None, val_fraction: float | None
) -> set[str]:
    """The keys of one class's training clips that go to val."""
    if val_groups is not None:
        count, ranked, flag = val_groups, sorted(keys), f"val_groups={val_groups}"
    else:
        count = math.floor(len(keys) * val_fraction + 0.5)
        ranked = sorted(keys, key=lambda k: (sharding.stable_hash(f"val/{k}"), k))
        flag = f"val_fraction={val_fraction:g}"
    if count >= len(keys):
        raise UserError(
            f"{flag}: class {class_name!r} has {len(keys)} training "
            f"{'groups' if val_groups is not None else 'keys'}, so nothing would stay in "
            "train; hold out fewer"
        )
    return set(ranked[:count])


def hold_out(
    subsets: dict[str, list[Clip]],
    val_groups: int | None,
    val_fraction: float | None,
    dataset_name: str,
) -> dict[str, list[Clip]]:
    """Moves the val clips out of `subsets['train']` (see the module docstring).

    Args:
      subsets: a `Dataset.read_splits` result, {'train': [...], 'test': [...]}.
      val_groups: N groups per class, or None.
      val_fraction: fraction per class, or None.
      dataset_name: named in errors (`--dataset`).

    Returns:
      `subsets` unchanged without a flag; else {'train', 'val', 'test'}, val clips with
      `subset='val'`, each list in its input order.

    Raises:
      UserError: `--val_groups` on a dataset without groups, or a class that would keep no
        training clip (names the field).
    """
    if val_groups is None and val_fraction is None:
        return subsets
    train = subsets[TRAIN_SUBSET]
    if val_groups is not None and any(clip.group == 0 for clip in train):
        raise UserError(
            f"val_groups={val_groups}: the {dataset_name} dataset has no groups (clips sharing "
            "actor and scene are not marked); use val_fraction, which holds out clips"
        )
    keys: dict[int, set[str]] = collections.defaultdict(set)
    names: dict[int, str] = {}
    for clip in train:
        keys[clip.label].add(_key(clip))
        names[clip.label] = clip.class_name
    val_keys = {
        label: _held_out_keys(sorted(k), names[label], val_groups, val_fraction)
        for label, k in keys.items()
    }
    out = {name: clips for name, clips in subsets.items() if name != TRAIN_SUBSET}
    out[TRAIN_SUBSET] = [c for c in train if _key(c) not in val_keys[c.label]]
    out[VAL_SUBSET] = [
        dataclasses.replace(c, subset=VAL_SUBSET) for c in train if _key(c) in val_keys[c.label]
    ]
    return out
