"""The Beam job's accounting check (`preprocessing.finalize`).

Publishing the shards and writing the manifest run end to end in tests/test_pipeline.py and
tests/test_crash_recovery.py.
"""

import pytest

from preprocessing import finalize, outputs
from tfrecords import schema

RGB, FLOW = schema.RGB_MODALITY, schema.FLOW_MODALITY


def _temp(modality: str, index: int, per_class: dict[str, int]) -> outputs.TempShard:
    records = sum(per_class.values())
    return outputs.TempShard(
        "train", modality, index, 2, f"{index}", records, 0, tuple(per_class.items()), (1, 1)
    )


def test_accounting_counts_videos_and_checks_every_modality():
    temps = [
        _temp(RGB, 0, {"A": 4, "B": 1}),
        _temp(RGB, 1, {"A": 2, "B": 2}),
        _temp(FLOW, 0, {"A": 2}),
        _temp(FLOW, 1, {"A": 0, "B": 1}),
    ]
    videos = finalize.videos_per_class("train", temps, ["A", "B", "C"], rgb_chunks=3)
    assert videos == {"A": 2, "B": 1, "C": 0}
    with pytest.raises(RuntimeError, match="internal error: train: rgb shards hold"):
        finalize.videos_per_class("train", temps[1:], ["A", "B", "C"], rgb_chunks=3)
    with pytest.raises(RuntimeError, match="internal error: train: rgb shards hold"):
        finalize.videos_per_class("train", temps[:3], ["A", "B", "C"], rgb_chunks=3)
