import pytest

from configs import demo_temporal
from tfrecords import manifest as manifest_lib
from training import experiment


def test_data_seed_fresh_run_keeps_the_config_seed_resumed_runs_draw_new_samples():
    assert experiment.data_seed(7, 0) == 7
    resumed = {experiment.data_seed(7, step) for step in (100, 200, 300)}
    assert len(resumed) == 3 and 7 not in resumed
    assert experiment.data_seed(7, 100) == experiment.data_seed(7, 100)
    assert all(seed >= 0 for seed in resumed)


def test_missing_manifest_names_the_fix(tmp_path):
    with pytest.raises(manifest_lib.ManifestError, match="python -m preprocessing"):
        experiment.train_on_data_dir(
            demo_temporal.get_config(), str(tmp_path / "w"), str(tmp_path), None
        )
