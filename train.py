r"""Trains one stream on a data directory written by `python -m preprocessing`.

    python train.py --config=configs/demo_spatial.py --workdir=workspace/runs/demo_spatial \
        --data_dir=workspace/demo/records [--strategy=default|mirrored|multi_worker|tpu] \
        [--config.train.batch_size=64 ...]

Re-running the same command resumes from the workdir's latest checkpoint. The workdir gets
config.json (the resolved config), checkpoints/ and train/ (TensorBoard:
`tensorboard --logdir=WORKDIR`). See training/loop.py. It logs the `eval.py --watch` command
that evaluates each checkpoint as it is written (evaluation/watch.py).
"""

import os
import sys

# TensorFlow's default CPU allocator maps fresh pages for every large tensor (~1,000 page
# faults per 224x224x20 float32 flow sample); BFC reuses them: about +50% input throughput
# (bench/README.md). Must be set before TensorFlow starts.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from absl import app, flags, logging
from ml_collections import config_flags

from evaluation import watch
from models.backbones import BackboneWeightsError
from tfrecords.manifest import ManifestError
from training import experiment, loop
from training import strategy as strategy_lib
from training.checkpoints import CheckpointError

# Errors whose message names the file or flag and the fix: logged without a traceback.
_USER_ERRORS = (ManifestError, CheckpointError, BackboneWeightsError, loop.NonFiniteLossError)

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/spatial.py.", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory (checkpoints, summaries); resumed if it has any."
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Output directory of `python -m preprocessing` (has manifest.json)."
)
_STRATEGY = flags.DEFINE_enum(
    "strategy", "default", strategy_lib.STRATEGIES, "tf.distribute strategy."
)
_TPU = flags.DEFINE_string("tpu", "", "TPU name or grpc address for --strategy=tpu.")
flags.mark_flags_as_required(["config", "workdir", "data_dir"])


def main(argv: list[str]) -> None:
    """Builds the strategy and trains."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    strategy = strategy_lib.create_strategy(_STRATEGY.value, _TPU.value)
    logging.info("strategy %s with %d replicas", _STRATEGY.value, strategy.num_replicas_in_sync)
    try:
        if strategy_lib.is_chief(strategy):
            logging.info("%s", watch.announcement(sys.argv, _WORKDIR.value, _DATA_DIR.value))
        result = experiment.train_on_data_dir(
            _CONFIG.value, _WORKDIR.value, _DATA_DIR.value, strategy
        )
    except _USER_ERRORS as e:
        logging.error("%s", e)
        raise SystemExit(1) from e
    ended = "preempted" if result.preempted else "finished"
    logging.info("%s at step %d of %d", ended, result.step, result.total_steps)


if __name__ == "__main__":
    app.run(main)
