"""Tests of clip -> shard assignment, shard counts and shard names."""

import hashlib
import subprocess
import sys

import pytest

from preprocessing import sharding


def test_stable_hash_is_sha256_prefix():
    # sha256(b"v_ApplyEyeMakeup_g08_c01") starts with ea7df110423f4eba.
    assert sharding.stable_hash("v_ApplyEyeMakeup_g08_c01") == 0xEA7DF110423F4EBA
    digest = hashlib.sha256(b"v_YoYo_g25_c05").digest()
    assert sharding.stable_hash("v_YoYo_g25_c05") == int.from_bytes(digest[:8], "big")


def test_stable_hash_is_the_same_in_another_process():
    """Unlike hash(), which Python salts per process."""
    code = "from preprocessing import sharding; print(sharding.stable_hash('v_YoYo_g01_c01'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == sharding.stable_hash("v_YoYo_g01_c01")


def test_shard_index_spreads_clips_over_all_shards():
    ids = [f"v_Class{c}_g{g:02d}_c01" for c in range(10) for g in range(1, 26)]
    counts = [0] * 4
    for video_id in ids:
        counts[sharding.shard_index(video_id, 4)] += 1
    assert sum(counts) == 250 and min(counts) > 40


def test_record_order_mixes_classes():
    ids = sorted(f"v_Class{c}_g{g:02d}_c01" for c in "ABC" for g in range(1, 8))
    ordered = sorted(ids, key=sharding.record_order)
    assert ordered != ids and sorted(ordered) == ids


def test_shard_name_and_pattern():
    name = sharding.shard_name("train", 3, 12)
    assert name == "train-00003-of-00012.tfrecord"
    match = sharding.SHARD_NAME.match(name)
    assert match and match["subset"] == "train" and int(match["count"]) == 12
    assert sharding.SHARD_NAME.match("train-00003-of-00012.tfrecord.tmp") is None


@pytest.mark.parametrize(
    "total, target, expected", [(0, 100, 1), (100, 100, 1), (101, 100, 2), (950, 100, 10)]
)
def test_num_shards_for(total, target, expected):
    assert sharding.num_shards_for(total, target) == expected


def test_num_shards_for_rejects_bad_target():
    with pytest.raises(ValueError, match="--shard_size_mb must be positive"):
        sharding.num_shards_for(10, 0)
