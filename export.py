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

# Nothing imported here loads TensorFlow: the flags are parsed (a typo reported) before it
# loads, in `main` (tfrecords/startup.py).
from absl import flags, logging

from evaluation import DEFAULT_EXPORT_DIR
from tfrecords import output_checks, startup
from tfrecords.errors import run_binary
from training import CHECKPOINTS

_CONFIG = startup.define_config_flag()
_WORKDIR = flags.DEFINE_string("workdir", None, "Training directory holding the checkpoints.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "The data directory the stream was trained on (has manifest.json)."
)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "", "Checkpoint path prefix; '' = the latest.")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", "", "Parent of the SavedModel directory DIR/<stream>; '' = W/export."
)
flags.mark_flags_as_required(["workdir", "data_dir"])


def main(argv: list[str]) -> None:
    """Checks the paths, restores the checkpoint and writes the export."""
    del argv  # run_binary refuses positional arguments
    export_dir = _EXPORT_DIR.value or posixpath.join(_WORKDIR.value, DEFAULT_EXPORT_DIR)
    output_checks.check_input_dir(_WORKDIR.value, "--workdir", fix="train.py")
    output_checks.check_data_dir(_DATA_DIR.value)
    output_checks.check_output_dir(export_dir, "--export_dir")
    if _CHECKPOINT.value:
        output_checks.check_checkpoint(
            _CHECKPOINT.value, "--checkpoint", f"{_WORKDIR.value}/{CHECKPOINTS}/ckpt-1000"
        )
    startup.import_tensorflow()  # after the flags and paths are checked
    from evaluation import export

    path = export.export_checkpoint(
        _CONFIG.value, _WORKDIR.value, _DATA_DIR.value, _CHECKPOINT.value, export_dir
    )
    logging.info("SavedModel written to %s", path)


if __name__ == "__main__":
    run_binary(main)
