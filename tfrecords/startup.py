"""A binary's start: other libraries' start-up messages off unless `--verbose`.

TensorFlow prints ~6 lines when it loads (oneDNN's banner, the CPU-instructions notice,
absl's `InitializeLog` notice), Beam a warning about an optional dependency (`apitools`), and
TensorFlow, Keras and absl Python warnings about their own internals; the one line a binary
has to say to its user came after them. Unless the command line has `--verbose`, `quiet`
turns off the Python warnings, Beam's import warning, the INFO log lines of TensorFlow (C++
and Python), Keras and Beam, and `import_tensorflow` imports TensorFlow without the banners
its libraries print before any log setting applies; warnings and errors always show.

`tfrecords.errors.run_binary` calls `quiet` before it parses the flags. train.py, eval.py,
export.py, predict.py and `python -m preprocessing` import nothing that loads TensorFlow (or
Beam) at module level: their flags are parsed (a typo reported in ~0.1 s) and their paths
checked before `main` calls `import_tensorflow` and imports their libraries (the Beam job
loads Beam's options first, ~1 s, to judge the flags it hands to Beam).
`define_config_flag` is the `--config` of every binary that takes one.

Why here: every binary imports `tfrecords/` (errors.py says why that is the one shared layer);
this needs only the standard library and absl.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Sequence

from absl import flags
from ml_collections import config_flags

VERBOSE_FLAG = "verbose"
VERBOSE_HELP = (
    "Show TensorFlow's, oneDNN's and Beam's start-up messages and the libraries' Python "
    "warnings (off by default: stderr starts with this binary's own lines; errors always show)."
)
# TensorFlow's start-up lines: C++ INFO lines (`I0000 00:00:...`: oneDNN's banner, the
# CPU-instructions notice and its continuation) and absl's notice before logging is set up.
_BANNER = re.compile(
    r"(I\d{4} \S+\s+\d+ \S+\] |WARNING: All log messages before absl::InitializeLog"
    r"|To enable the following instructions: )"
)
# The packages whose INFO log lines `quiet` hides (their internals, not the user's input).
_LIBRARY_PACKAGES = ("tensorflow", "keras", "tf_keras", "apache_beam")
# The Python packages whose warnings `quiet` hides (their own internals, not the user's input).
_WARNING_MODULES = r"(tensorflow|keras|tf_keras|absl|apache_beam|google|ml_collections)(\.|$)"


CONFIG_HELP = (
    "Experiment config file, e.g. configs/spatial.py (configs/*.py: its docstring gives the "
    "command and the run time). Override any of its values with --config.<key>=<value>, e.g. "
    "--config.train.batch_size=32 --config.data.image_size=112; the keys are the config "
    "file's (a key it lacks is an error naming the closest one)."
)


def _show_in_help(name: str) -> None:
    """Lists the flag `name` with the binary's own flags in `--help` (not under this module)."""
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def define_config_flag(required: bool = True, note: str = "") -> flags.FlagHolder:
    """Defines `--config` (ml_collections, locked), its overrides explained in the help.

    The file is loaded when the flags are parsed: configs import ml_collections and each
    other only, so parsing still loads no TensorFlow.

    Args:
      required: mark the flag required (absl); eval.py's `--fuse` mode needs no config.
      note: appended to the help, e.g. when the flag is needed; default: `Required.`

    Returns:
      The flag's holder; `.value` is the ConfigDict.
    """
    note = note or (" Required." if required else "")
    holder = config_flags.DEFINE_config_file("config", None, CONFIG_HELP + note, lock_config=True)
    flags.FLAGS["config"].default_as_str = None  # not `(default: 'None')` in the help
    if required:
        flags.mark_flag_as_required("config")
    _show_in_help("config")
    return holder


def define_verbose_flag(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines `--verbose` (see VERBOSE_HELP) unless `flag_values` already has it."""
    if VERBOSE_FLAG not in flag_values:
        flags.DEFINE_bool(VERBOSE_FLAG, False, VERBOSE_HELP, flag_values=flag_values)
        if flag_values is flags.FLAGS:
            _show_in_help(VERBOSE_FLAG)


def verbose_requested(argv: Sequence[str]) -> bool:
    """Whether `argv` asks for `--verbose` (the last of `--verbose` / `--noverbose` wins)."""
    verbose = False
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg in (f"--{VERBOSE_FLAG}", f"--{VERBOSE_FLAG}=true", f"--{VERBOSE_FLAG}=1"):
            verbose = True
        elif arg in (f"--no{VERBOSE_FLAG}", f"--{VERBOSE_FLAG}=false", f"--{VERBOSE_FLAG}=0"):
            verbose = False
    return verbose


class _DropLibraryLines(logging.Filter):
    """Drops log records below `level` that the libraries' own files emit.

    On the root logger (Beam's optional-dependency warning at import) and on absl's (which
    TensorFlow's SavedModel code logs its INFO lines to, beside this project's own lines).
    """

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        path = record.pathname.replace("\\", "/")
        return record.levelno >= self.level or not any(
            f"/{package}/" in path for package in _LIBRARY_PACKAGES
        )


def _add_filter(logger: logging.Logger, level: int) -> None:
    if not any(isinstance(f, _DropLibraryLines) for f in logger.filters):
        logger.addFilter(_DropLibraryLines(level))


def quiet(argv: Sequence[str] | None = None) -> None:
    """Turns other libraries' start-up messages off unless `argv` has `--verbose`.

    Must run before TensorFlow is imported (its C++ log level is read from the environment
    when it loads). Variables the user set are kept.

    Args:
      argv: the command line; default `sys.argv`.
    """
    if verbose_requested(sys.argv if argv is None else argv):
        return
    # 1 = no C++ INFO lines (the CPU-instructions notice); WARNING and ERROR lines still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    warnings.filterwarnings("ignore", module=_WARNING_MODULES)
    # Beam's and TensorFlow's Python INFO lines are their internals (type-hint conversions,
    # which runner Beam tries, SavedModel signature names); warnings and errors still show.
    for name in ("apache_beam", "tensorflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    _add_filter(logging.getLogger(), logging.ERROR)
    _add_filter(logging.getLogger("absl"), logging.WARNING)


def import_tensorflow(argv: Sequence[str] | None = None) -> None:
    """Imports TensorFlow, without its banners on stderr unless `argv` has `--verbose`.

    TensorFlow's shared libraries log oneDNN's banner before absl's C++ logging is set up,
    whatever `TF_CPP_MIN_LOG_LEVEL` says (and `TF_ENABLE_ONEDNN_OPTS`, which only turns
    the operations off). So the import runs with file descriptor 2 sent to a temporary file;
    what it printed is then written to stderr less the lines `_BANNER` matches: an import
    error, or any other line, still shows. Call it before the first import of anything that
    imports TensorFlow; later calls cost nothing.
    """
    if "tensorflow" in sys.modules or verbose_requested(sys.argv if argv is None else argv):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _BANNER.match(line)))
            sys.stderr.flush()
