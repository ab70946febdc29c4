"""The Beam job's output directory: its files, and the steps that keep a run atomic.

::

    OUT/
      manifest.json                       written last (tfrecords.manifest.write_manifest)
      failures.jsonl                      one Failure per line, sorted by subset and id
      <subset>-<modality>-SSSSS-of-NNNNN.tfrecord
                                          shards (tfrecords.manifest.shard_name)
      .staging/                           a running job's scratch, removed at its end:
        <subset>/<modality>/<video_id>-<chunk>.tfrecord
                                          one record (RGB: chunks 0..K-1, flow: chunk 0)
        shards/<shard name>               shards before they are moved into OUT

Order of a run: `prepare` (before the pipeline) removes the old manifest and failures and
resets the staging area; at the end `publish_shards` moves the new shards into place,
`delete_stale_shards` removes shards the new manifest will not list (also schema-v1 shards,
`<subset>-SSSSS-of-NNNNN.tfrecord`, so a re-run converts an old directory), `write_failures`, then
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

from tfrecords.manifest import (
    FAILURES_FILE,
    MANIFEST_FILE,
    SHARD_NAME,
    V1_SHARD_NAME,
    Shard,
    shard_name,
)
from tfrecords.schema import MODALITIES

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
      modality: tfrecords.schema.RGB_MODALITY or FLOW_MODALITY.
      index: shard index, 0 .. num_shards-1.
      num_shards: the shard count of (subset, modality).
      path: where it is in the staging area.
      num_records: records it holds (RGB: chunk records).
      num_bytes: its size.
      per_class: (class name, records) pairs, sorted by name.
      max_frame_hw: (largest frame height, largest frame width) of its records' videos.
    """

    subset: str
    modality: str
    index: int
    num_shards: int
    path: str
    num_records: int
    num_bytes: int
    per_class: tuple[tuple[str, int], ...]
    max_frame_hw: tuple[int, int]


def staged_record_path(out: str, subset: str, modality: str, video_id: str, chunk: int) -> str:
    """Where record `chunk` (flow: 0) of a clip's `modality` waits until its shard is written."""
    return posixpath.join(out, STAGING_DIR, subset, modality, f"{video_id}-{chunk}.tfrecord")


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
    folders = [posixpath.join(s, m) for s in subsets for m in MODALITIES]
    for folder in (*folders, _SHARDS_DIR):
        tf.io.gfile.makedirs(posixpath.join(out, STAGING_DIR, folder))


def publish_shards(out: str, temp_shards: Iterable[TempShard]) -> list[Shard]:
    """Moves temp shards into `out`; writes an empty file for a shard no record hashed to.

    Returns:
      Every shard of every (subset, modality) that has one, sorted by subset, modality,
      index.
    """
    by_set: dict[tuple[str, str], dict[int, TempShard]] = {}
    for temp in temp_shards:
        by_set.setdefault((temp.subset, temp.modality), {})[temp.index] = temp
    shards = []
    for subset, modality in sorted(by_set):
        temps = by_set[subset, modality]
        num_shards = next(iter(temps.values())).num_shards
        for index in range(num_shards):
            name = shard_name(subset, modality, index, num_shards)
            final = posixpath.join(out, name)
            temp = temps.get(index)
            if temp is None:
                with tf.io.gfile.GFile(final, "wb") as f:
                    f.write(b"")  # GFile creates the file on the first write only
                shards.append(Shard(name, subset, modality, 0, 0))
                continue
            # A retried step finds the shard already moved.
            if tf.io.gfile.exists(temp.path) or not tf.io.gfile.exists(final):
                tf.io.gfile.rename(temp.path, final, overwrite=True)
            shards.append(Shard(name, subset, modality, temp.num_records, temp.num_bytes))
    return shards


def delete_stale_shards(out: str, keep: set[str]) -> None:
    """Deletes shard files in `out` (an earlier run's) whose names are not in `keep`.

    Schema-v1 shards (`tfrecords.manifest.V1_SHARD_NAME`) are always stale.
    """
    for name in tf.io.gfile.listdir(out):
        name = name.rstrip("/")
        is_shard = SHARD_NAME.match(name) or V1_SHARD_NAME.match(name)
        if is_shard and name not in keep:
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
