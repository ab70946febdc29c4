r"""Exports one stream's checkpoint as a SavedModel that `predict.py` classifies videos with.

    python export.py --config=configs/temporal.py --workdir=W --data_dir=OUT \
        [--checkpoint=W/checkpoints/ckpt-N] [--export_dir=DIR]

Writes DIR/<stream>/ (DIR defaults to W/export): the SavedModel taking frames in stored
units (its `serving_sample` signature cuts the evaluation's views itself: README.md, "Serving
the SavedModel"), class_names.txt and export.json, the evaluation protocol `predict.py`
reproduces (evaluation/export.py). The data directory's manifest gives the class names, the training
frame size and the flow algorithm. Exit status 1 on bad input (one line, no traceback).
"""

import posixpath

from absl import flags, logging
from ml_collections import config_flags

from evaluation import export
from tfrecords.errors import run_binary

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config (configs/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training directory holding the checkpoints.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "The data directory the stream was trained on (has manifest.json)."
)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Checkpoint path prefix; '' = the latest.")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", "", "Parent of the SavedModel directory DIR/<stream>; '' = W/export."
)
flags.mark_flags_as_required(["config", "workdir", "data_dir"])


def main(argv: list[str]) -> None:
    """Restores the checkpoint and writes the export."""
    del argv  # run_binary refuses positional arguments
    path = export.export_checkpoint(
        _CONFIG.value,
        _WORKDIR.value,
        _DATA_DIR.value,
        _CHECKPOINT.value,
        _EXPORT_DIR.value or posixpath.join(_WORKDIR.value, export.DEFAULT_EXPORT_DIR),
    )
    logging.info("SavedModel written to %s", path)


if __name__ == "__main__":
    run_binary(main)
