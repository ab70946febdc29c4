"""`JobConfig.check`: every bad value is a UserError naming the field (the binary's flag)."""

import pytest
from conftest import frames_job_config

from tfrecords.errors import UserError


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"split": 4}, "split"),
        ({"subsets": ("train", "val")}, "subsets"),
        ({"subsets": ("test", "test")}, "subsets"),
        ({"source": "zip"}, "source"),
        ({"flow_algorithm": "lk"}, "flow_algorithm"),
        ({"num_shards": 0}, "num_shards"),
        ({"shard_size_mb": 0.0}, "shard_size_mb"),
        ({"output_dir": ""}, "output_dir"),
        ({"rgb_chunks": 0}, "rgb_chunks"),
        ({"rgb_chunks": 2.5}, "rgb_chunks"),
    ],
)
def test_config_check_names_the_field(tmp_path, changes, field):
    config = frames_job_config(tmp_path, tmp_path / "out", **changes)
    with pytest.raises(UserError, match=rf"^{field}\b"):
        config.check()
