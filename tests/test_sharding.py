"""Tests of record -> shard assignment, record order and shard counts."""

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


def test_record_key_names_video_and_chunk():
    assert sharding.record_key("v_YoYo_g25_c05", 3) == "v_YoYo_g25_c05/3"
    assert sharding.record_key("v_YoYo_g25_c05", 0) != sharding.record_key("v_YoYo_g25_c0", 50)


def test_shard_index_spreads_records_over_all_shards():
    ids = [f"v_Class{c}_g{g:02d}_c01" for c in range(10) for g in range(1, 26)]
    counts = [0] * 4
    for video_id in ids:
        counts[sharding.shard_index(sharding.record_key(video_id, 0), 4)] += 1
    assert sum(counts) == 250 and min(counts) > 40


def test_chunks_of_one_video_spread_over_shards():
    """With 8 chunks over 8 shards, a video's chunks rarely share a shard."""
    ids = [f"v_Class{c}_g{g:02d}_c01" for c in range(4) for g in range(1, 26)]
    distinct = [
        len({sharding.shard_index(sharding.record_key(i, chunk), 8) for chunk in range(8)})
        for i in ids
    ]
    # Uniform hashing: E[distinct] = 8 (1 - (7/8)^8) = 5.25; all in one shard: (1/8)^7.
    assert min(distinct) > 1 and 4.5 < sum(distinct) / len(distinct) < 6.0


def test_record_order_mixes_classes():
    ids = [f"v_Class{c}_g{g:02d}_c01" for c in "ABC" for g in range(1, 8)]
    keys = sorted(sharding.record_key(video_id, 0) for video_id in ids)
    ordered = sorted(keys, key=sharding.record_order)
    assert ordered != keys and sorted(ordered) == keys


@pytest.mark.parametrize(
    "total, target, expected", [(0, 100, 1), (100, 100, 1), (101, 100, 2), (950, 100, 10)]
)
def test_num_shards_for(total, target, expected):
    assert sharding.num_shards_for(total, target) == expected


def test_num_shards_for_rejects_bad_target():
    with pytest.raises(ValueError, match="shard size .* must be positive"):
        sharding.num_shards_for(10, 0)
