"""The Beam job's output directory: its files, and the steps that keep a run atomic.

::

    OUT/
      manifest.json                      written last (tfrecords.manifest.write_manifest)
      failures.jsonl                     one Failure per line, sorted by subset and id
      <subset>-SSSSS-of-NNNNN.tfrecord   shards (preprocessing.sharding names them)
      .staging/                          a running job's scratch, removed at its end:
        <subset>/<video_id>.tfrecord     one record per clip
        shards/<shard name>              shards before they are moved into OUT

Order of a run: `prepare` (before the pipeline) removes the old manifest and failures and
resets the staging area; at the end `publish_shards` moves the new shards into place,
`delete_stale_shards` removes shards the new manifest will not list, `write_failures`, then
the manifest, then `remove_staging`. A crash at any point leaves no manifest, never one that
points at partial shards. The steps after the pipeline are idempotent, so a runner may retry
them. An output directory holds one run: writing only `test` removes an earlier `train`.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from collections.abc import Iterable, Sequence

import tensorflow as tf
from absl import logging

from preprocessing import sharding
from tfrecords.manifest import FAILURES_FILE, MANIFEST_FILE, Shard

STAGING_DIR = ".staging"
_SHARDS_DIR = "shards"


@dataclasses.dataclass(frozen=True)
class Failure:
    """One line of failures.jsonl: a listed clip that has no record, and why.

    Attributes:
      subset: 'train' or 'test'.
      video_id: canonical id of the clip.
      stage: where it failed (preprocessing.clip_sources.STAGES, or 'internal').
      error: the message, naming the file and the fix.
    """

    subset: str
    video_id: str
    stage: str
    error: str


@dataclasses.dataclass(frozen=True)
class TempShard:
    """A shard written to the staging area, not yet in place.

    Attributes:
      subset: 'train' or 'test'.
      index: shard index, 0 .. num_shards-1.
      num_shards: the subset's shard count.
      path: where it is in the staging area.
      num_records: records it holds.
      num_bytes: its size.
      per_class: (class name, records) pairs, sorted by name.
    """

    subset: str
    index: int
    num_shards: int
    path: str
    num_records: int
    num_bytes: int
    per_class: tuple[tuple[str, int], ...]


def staged_record_path(out: str, subset: str, video_id: str) -> str:
    """Where a clip's record waits until its shard is written."""
    return posixpath.join(out, STAGING_DIR, subset, f"{video_id}.tfrecord")


def temp_shard_path(out: str, name: str) -> str:
    """Where shard `name` is written before `publish_shards` moves it into `out`."""
    return posixpath.join(out, STAGING_DIR, _SHARDS_DIR, name)


def prepare(out: str, subsets: Sequence[str]) -> None:
    """Creates `out`, removes its manifest and failures, resets the staging area."""
    tf.io.gfile.makedirs(out)
    for name in (MANIFEST_FILE, FAILURES_FILE):
        if tf.io.gfile.exists(posixpath.join(out, name)):
            tf.io.gfile.remove(posixpath.join(out, name))
    remove_staging(out)
    for folder in (*subsets, _SHARDS_DIR):
        tf.io.gfile.makedirs(posixpath.join(out, STAGING_DIR, folder))


def publish_shards(out: str, temp_shards: Iterable[TempShard]) -> list[Shard]:
    """Moves temp shards into `out`; writes an empty file for a shard no clip hashed to.

    Returns:
      Every shard of every subset that has one, by subset then index.
    """
    by_subset: dict[str, dict[int, TempShard]] = {}
    for temp in temp_shards:
        by_subset.setdefault(temp.subset, {})[temp.index] = temp
    shards = []
    for subset in sorted(by_subset):
        num_shards = next(iter(by_subset[subset].values())).num_shards
        for index in range(num_shards):
            name = sharding.shard_name(subset, index, num_shards)
            final = posixpath.join(out, name)
            temp = by_subset[subset].get(index)
            if temp is None:
                with tf.io.gfile.GFile(final, "wb") as f:
                    f.write(b"")  # GFile creates the file on the first write only
                shards.append(Shard(name, subset, 0, 0))
                continue
            # A retried step finds the shard already moved.
            if tf.io.gfile.exists(temp.path) or not tf.io.gfile.exists(final):
                tf.io.gfile.rename(temp.path, final, overwrite=True)
            shards.append(Shard(name, subset, temp.num_records, temp.num_bytes))
    return shards


def delete_stale_shards(out: str, keep: set[str]) -> None:
    """Deletes shard files in `out` (an earlier run's) whose names are not in `keep`."""
    for name in tf.io.gfile.listdir(out):
        name = name.rstrip("/")
        if sharding.SHARD_NAME.match(name) and name not in keep:
            logging.info("deleting stale shard %s", posixpath.join(out, name))
            tf.io.gfile.remove(posixpath.join(out, name))


def write_failures(out: str, failures: Iterable[Failure]) -> None:
    """Writes failures.jsonl (sorted by subset and id) via a temp file and a rename."""
    path = posixpath.join(out, FAILURES_FILE)
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write("")  # GFile creates the file on the first write only
        for failure in sorted(failures, key=lambda x: (x.subset, x.video_id)):
            f.write(json.dumps(dataclasses.asdict(failure), sort_keys=True) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def remove_staging(out: str) -> None:
    """Removes the staging area, if any."""
    staging = posixpath.join(out, STAGING_DIR)
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
