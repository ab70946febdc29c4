"""tfrecords/startup.py: `--verbose`, a quiet TensorFlow import, the shared `--config` help."""

import logging
import pathlib
import subprocess
import sys

import pytest

from tfrecords import startup

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv, verbose",
    [
        (["prog"], False),
        (["prog", "--verbose"], True),
        (["prog", "--verbose=true"], True),
        (["prog", "--verbose", "--noverbose"], False),
        (["prog", "--noverbose", "--verbose=1"], True),
        (["prog", "--", "--verbose"], False),  # after `--`: an argument, not a flag
        (["prog", "--verbosity=1"], False),  # absl's own flag
    ],
)
def test_verbose_requested(argv, verbose):
    assert startup.verbose_requested(argv) is verbose


@pytest.mark.parametrize(
    "path, level, kept",
    [
        ("/venv/site-packages/tensorflow/python/saved_model/x.py", logging.INFO, False),
        ("/venv/site-packages/keras/src/x.py", logging.INFO, False),
        ("/venv/site-packages/tensorflow/python/x.py", logging.WARNING, True),
        ("/repo/training/loop.py", logging.INFO, True),  # the project's own line
    ],
)
def test_library_info_lines_are_dropped(path, level, kept):
    record = logging.LogRecord("absl", level, path, 1, "message", None, None)
    assert startup._DropLibraryLines(logging.WARNING).filter(record) is kept


def _import_tensorflow(*argv: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from tfrecords import startup; "
        f"sys.argv = ['prog', *{list(argv)!r}]; startup.quiet(); startup.import_tensorflow(); "
        "import tensorflow as tf; print(tf.constant(2).numpy())"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )


@pytest.mark.slow
def test_tensorflow_loads_quietly_unless_verbose():
    """Nothing on stderr by default; `--verbose` shows TensorFlow's start-up lines again."""
    quiet = _import_tensorflow()
    assert (quiet.stdout, quiet.stderr) == ("2\n", "")
    verbose = _import_tensorflow("--verbose")
    assert verbose.stdout == "2\n"
    banner = [line for line in verbose.stderr.splitlines() if startup._BANNER.match(line)]
    assert banner, verbose.stderr  # e.g. oneDNN's banner and absl's InitializeLog notice


@pytest.mark.parametrize("binary", ["train.py", "eval.py", "export.py", "predict.py"])
def test_help_explains_config_overrides_and_has_no_empty_choice(binary):
    """The help of each binary, in a fraction of a second (no TensorFlow import)."""
    # absl's --help exits with status 1.
    result = subprocess.run(
        [sys.executable, binary, "--help"], cwd=REPO, capture_output=True, text=True
    )
    help_text = result.stdout
    assert "--[no]verbose:" in help_text
    assert "<|" not in help_text and "||" not in help_text  # an empty enum choice
    if binary == "predict.py":
        assert "--config" not in help_text
        assert "--flow_algorithm: <tvl1|tvl1_opencv|dis|farneback>:" in help_text
        return
    config_help = help_text[help_text.index("  --config:") :].split("\n  --")[0]
    assert "--config.<key>=<value>" in " ".join(config_help.split())
    assert "(default: 'None')" not in config_help
    required = "Required unless --fuse." if binary == "eval.py" else "Required."
    assert " ".join(config_help.split()).endswith(required)
