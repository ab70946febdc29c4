"""Which shard a record goes to, its place there, and how many shards a subset's modality gets.

Shards are per (subset, modality) (`tfrecords.manifest.shard_name` names them, e.g.
`train-rgb-00003-of-00012.tfrecord`). A record's shard is `stable_hash(key) % num_shards`
with `key = record_key(video_id, chunk)`: it depends on the record alone, never on the order
in which workers finish, so the same inputs give the same shards. The chunk is part of the
key so that the K RGB chunks of one video land in different shards (a reader interleaving a
few shards then rarely draws two chunks of one video together). Inside a shard, records are
ordered by the same hash, which interleaves classes (ids sort by class name), so a reader
streaming one shard with a small shuffle buffer still sees mixed classes.
"""

from __future__ import annotations

import hashlib
import math

from tfrecords.errors import UserError

# tf.io.TFRecordWriter frames each record: 8-byte length, 4-byte CRC, data, 4-byte CRC.
TFRECORD_FRAMING_BYTES = 16


def stable_hash(key: str) -> int:
    """A 64-bit hash of `key`, the same in every process and on every machine."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def record_key(video_id: str, chunk: int) -> str:
    """The key a record is sharded and ordered by: `<video_id>/<chunk>` (flow: chunk 0)."""
    return f"{video_id}/{chunk}"


def shard_index(key: str, num_shards: int) -> int:
    """The shard (0 .. num_shards-1) that holds the record with `record_key` `key`."""
    return stable_hash(key) % num_shards


def record_order(key: str) -> tuple[int, str]:
    """Sort key of records inside a shard: by hash (mixes classes), then key (ties)."""
    return stable_hash(key), key


def num_shards_for(total_bytes: int, shard_bytes: int) -> int:
    """Shards needed to hold `total_bytes` in shards of about `shard_bytes` (at least one).

    Raises:
      UserError: `shard_bytes` is not positive.
    """
    if shard_bytes <= 0:
        raise UserError(f"shard size {shard_bytes} bytes: must be positive")
    return max(1, math.ceil(total_bytes / shard_bytes))
