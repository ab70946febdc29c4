"""Which shard a clip goes to, how many shards a subset gets, and what shards are called.

A clip's shard is `stable_hash(video_id) % num_shards`: it depends on the id alone, never on
the order in which workers finish, so the same inputs give the same shards. Inside a shard,
records are ordered by the same hash, which interleaves classes (ids sort by class name), so
a reader streaming one shard with a small shuffle buffer still sees mixed classes.

Shard files are `<subset>-SSSSS-of-NNNNN.tfrecord` (e.g. `train-00000-of-00004.tfrecord`).
"""

from __future__ import annotations

import hashlib
import math
import re

SHARD_NAME = re.compile(r"^(?P<subset>[a-z]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$")
# tf.io.TFRecordWriter frames each record: 8-byte length, 4-byte CRC, data, 4-byte CRC.
TFRECORD_FRAMING_BYTES = 16


def stable_hash(video_id: str) -> int:
    """A 64-bit hash of `video_id`, the same in every process and on every machine."""
    return int.from_bytes(hashlib.sha256(video_id.encode()).digest()[:8], "big")


def shard_index(video_id: str, num_shards: int) -> int:
    """The shard (0 .. num_shards-1) that holds `video_id`'s record."""
    return stable_hash(video_id) % num_shards


def record_order(video_id: str) -> tuple[int, str]:
    """Sort key of records inside a shard: by hash (mixes classes), then id (ties)."""
    return stable_hash(video_id), video_id


def shard_name(subset: str, index: int, num_shards: int) -> str:
    """`<subset>-SSSSS-of-NNNNN.tfrecord`."""
    return f"{subset}-{index:05d}-of-{num_shards:05d}.tfrecord"


def num_shards_for(total_bytes: int, shard_bytes: int) -> int:
    """Shards needed to hold `total_bytes` in shards of about `shard_bytes` (at least one).

    Raises:
      ValueError: `shard_bytes` is not positive (names the --shard_size_mb flag).
    """
    if shard_bytes <= 0:
        raise ValueError(f"--shard_size_mb must be positive, got {shard_bytes} bytes")
    return max(1, math.ceil(total_bytes / shard_bytes))
