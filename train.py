r"""Trains one stream on a data directory written by `python -m preprocessing`.

    python train.py --config=configs/demo_spatial.py --workdir=workspace/runs/demo_spatial \
        --data_dir=workspace/demo/records [--strategy=default|mirrored|multi_worker|tpu] \
        [--config.train.batch_size=64 ...]

Re-running the same command resumes from the workdir's latest checkpoint. The workdir gets
config.json (the resolved config), checkpoints/ and train/ (TensorBoard:
`tensorboard --logdir=WORKDIR`). See training/loop.py. It logs the `eval.py --watch` command
that evaluates each checkpoint as it is written (evaluation/watch.py). Exit status 1 on bad
input (one line naming the file, flag or config key, no traceback) or a NaN loss.
"""

import os
import sys

# TensorFlow's default CPU allocator maps fresh pages for every large tensor (~1,000 page
# faults per 224x224x20 float32 flow sample); BFC reuses them: about +50% input throughput
# (bench/README.md). Must be set before TensorFlow starts.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# Nothing imported here loads TensorFlow: the flags are parsed (a typo reported) before it
# loads, in `main` (tfrecords/startup.py).
from absl import flags, logging

from tfrecords import output_checks, startup
from tfrecords.errors import run_binary
from training import STRATEGIES

_CONFIG = startup.define_config_flag()
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory (checkpoints, summaries); resumed if it has any."
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Output directory of `python -m preprocessing` (has manifest.json)."
)
_STRATEGY = flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy.")
_TPU = flags.DEFINE_string("tpu", "", "TPU name or grpc address for --strategy=tpu.")
flags.mark_flags_as_required(["workdir", "data_dir"])


def main(argv: list[str]) -> None:
    """Checks the config and paths, builds the strategy and trains."""
    del argv  # run_binary refuses positional arguments
    output_checks.check_data_dir(_DATA_DIR.value)
    output_checks.check_output_dir(_WORKDIR.value, "--workdir")
    startup.import_tensorflow()  # after the flags and paths are checked
    from evaluation import watch
    from training import experiment
    from training import strategy as strategy_lib

    experiment.check_config(_CONFIG.value)  # a bad config value stops before any I/O
    strategy = strategy_lib.create_strategy(_STRATEGY.value, _TPU.value)
    strategy_lib.log_devices(_STRATEGY.value, strategy)
    if strategy_lib.is_chief(strategy):
        logging.info("%s", watch.announcement(sys.argv, _WORKDIR.value, _DATA_DIR.value))
    result = experiment.train_on_data_dir(_CONFIG.value, _WORKDIR.value, _DATA_DIR.value, strategy)
    ended = "preempted" if result.preempted else "finished"
    logging.info("%s at step %d of %d", ended, result.step, result.total_steps)


if __name__ == "__main__":
    run_binary(main)
