"""`UserError`, the base of every user-facing error, and how a binary reports one.

A `UserError` is a problem with what the user gave (a file, a folder, a config value, a
flag's value) whose message is one line naming it and the fix, e.g.
`config.data.eval_num_crops=2: use 1, 5 or 10`. Library errors derive from it
(`preprocessing.errors.DatasetError`, `tfrecords.manifest.ManifestError`,
`training.checkpoints.CheckpointError`, ...) and say what is wrong with the value or file,
never which flag of which binary carried it: a binary that wants its flag named says so
itself. A binary catches the base alone, through `binary_main`, so adding an error class
never means editing a list of classes in every binary.

Why here: the base must be importable by every package without importing upward, and
`tfrecords/` is the one package all of them already import (it is the contract the writing
and reading sides share) and that imports nothing of ours. A new top-level package for one
class and one function would add a layer to an architecture that the folder list states.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import sys
from collections.abc import Callable, Sequence

from absl import app, flags
from ml_collections.config_flags.config_flags import ConfigFileFlagParser

from tfrecords import startup


class UserError(ValueError):
    """A problem with the user's input; the message is one line naming it and the fix.

    A ValueError, so callers that already catch ValueError for bad values keep working.
    """


class ConfigError(UserError):
    """A config value the code cannot use; the message names the key, e.g. `config.seed=-1`.

    The key is spelled as on the command line (`--config.seed=...`), so the message needs no
    translation in the binaries.
    """


def print_error(message: str) -> None:
    """Prints `error: <message>` as one line on stderr (a run that goes on, or `report`)."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)


def report(message: str, status: int) -> None:
    """Prints `error: <message>` as one line on stderr and exits with `status`.

    Raises:
      SystemExit: always, with `status`.
    """
    print_error(message)
    raise SystemExit(status)


def binary_main(
    main: Callable[[Sequence[str]], None], *, status: int = 1, takes_arguments: bool = False
) -> Callable[[Sequence[str]], None]:
    """Wraps a binary's `main` for `absl.app.run`: user errors become one line, no traceback.

    Positional arguments (absl passes what is not a flag to `main`) are refused unless the
    binary takes them; a `UserError` raised by `main` is printed by `report`.

    Args:
      main: the binary's entry point, called with absl's argv (argv[0] first).
      status: exit status of a user error (each binary documents its own).
      takes_arguments: pass positional arguments to `main` instead of refusing them.

    Returns:
      The wrapped entry point.
    """

    @functools.wraps(main)
    def wrapped(argv: Sequence[str]) -> None:
        if len(argv) > 1 and not takes_arguments:
            report(
                f"unexpected argument(s) {' '.join(argv[1:])!r}: this binary takes only "
                "--flags (pass --help to see them)",
                status,
            )
        try:
            main(argv)
        except UserError as e:
            report(str(e), status)

    return wrapped


def _config_key_error(argv: Sequence[str], error: LookupError | AttributeError) -> str:
    """The message for an ml_collections override naming a key its config lacks."""
    # ml_collections wraps a KeyError whose text is the quoted key and, for a near miss,
    # a line 'Did you mean "<key>" instead of ...'.
    cause = error.args[0] if error.args else error
    text = str(cause.args[0] if isinstance(cause, Exception) and cause.args else cause)
    quoted = re.search(r"'([^']+)'", text)
    key = quoted.group(1) if quoted else text.strip("\"'")
    overrides = [a for a in argv[1:] if a.startswith("--") and "." in a.split("=", 1)[0]]
    culprit = next((a for a in overrides if key and key in a.split("=", 1)[0]), None)
    culprit = culprit or (overrides[-1] if overrides else "a --config.<key> override")
    suggestion = re.search(r'Did you mean "([^"]+)"', text)
    hint = f"; did you mean {suggestion.group(1)}?" if suggestion else ""
    return f"{culprit}: the config has no key {key!r}{hint} (config keys are set, never added)"


def _flag_error_message(error: flags.Error) -> str:
    """The message of absl's error, with only the last line of a config file's traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and any(line.startswith("Traceback") for line in lines):
        return f"{lines[0]} {lines[-1]}"
    return " ".join(lines)


def _flag_argument(argv: Sequence[str], name: str) -> str | None:
    """The last value of `--name=value` or `--name value` in `argv`, None when absent."""
    value = None
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
    return value


def _defines_get_config(path: str) -> bool:
    """Whether `path` is a Python file with a module-level `get_config` (a loadable config)."""
    if not path.endswith(".py") or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        return any(line.startswith("def get_config(") for line in f)


def _missing_config_file(path: str) -> str:
    """What is wrong with the config file `path` that does not load, and the fix."""
    if os.path.isdir(path):
        return "is a folder; give a config file, e.g. configs/spatial.py"
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        return f"no such file (no folder {folder}); give a config file, e.g. configs/spatial.py"
    configs = sorted(n for n in os.listdir(folder) if _defines_get_config(os.path.join(folder, n)))
    close = difflib.get_close_matches(os.path.basename(path), configs, n=1)
    hint = f"did you mean {os.path.join(os.path.dirname(path), close[0])}? " if close else ""
    listing = f"({folder}/ has {', '.join(configs)})" if configs else f"({folder}/ has none)"
    return f"no such file; {hint}{listing}"


def _config_file_message(argv: Sequence[str], error: OSError, flag_values: flags.FlagValues) -> str:
    """The message for a `--config` file that ml_collections could not load (an OSError)."""
    for name in flag_values:
        if not isinstance(flag_values[name].parser, ConfigFileFlagParser):
            continue
        value = _flag_argument(argv, name)
        # `path:argument` passes the argument to get_config (ml_collections).
        if value is not None and not os.path.isfile(value.split(":", 1)[0]):
            return f"--{name}={value}: {_missing_config_file(value.split(':', 1)[0])}"
    return _flag_error_message(flags.Error(str(error)))


def parse_flags(
    argv: Sequence[str],
    status: int = 1,
    flag_values: flags.FlagValues = flags.FLAGS,
    known_only: bool = False,
) -> list[str]:
    """Parses the flags as absl does; every refusal is one line and exit `status`.

    Unknown flags and bad values are absl's errors; an ml_collections `--config.<key>=...`
    naming a key the config lacks, and a `--config` file that cannot be loaded (named, with
    the config files of its folder), are the ones absl would otherwise show as tracebacks.

    Args:
      argv: the full command line, argv[0] first.
      status: exit status of a refusal.
      flag_values: the flags to parse (absl's global FLAGS; a test passes its own).
      known_only: leave the flags `flag_values` does not define in the result (the Beam
        job's, for Beam's PipelineOptions) instead of refusing them.

    Returns:
      The positional arguments, argv[0] first (what absl passes to `main`), and with
      `known_only` the unknown flags.
    """
    try:
        rest = flag_values(list(argv), known_only=known_only)
        for name in flag_values:
            value = flag_values[name].value
            if isinstance(flag_values[name].parser, ConfigFileFlagParser):
                # ml_collections keeps a file that failed to load as a value whose every
                # attribute raises its OSError: touch one to raise it now.
                getattr(value, "_loaded_check", None)
    except flags.Error as e:
        report(f"{_flag_error_message(e)} (pass --help to see the flags)", status)
    except (AttributeError, LookupError) as e:
        report(_config_key_error(argv, e), status)
    except OSError as e:  # ml_collections: a --config file that cannot be read
        report(_config_file_message(argv, e, flag_values), status)
    return rest


def run_binary(
    main: Callable[[Sequence[str]], None],
    *,
    status: int = 1,
    takes_arguments: bool = False,
    known_only: bool = False,
) -> None:
    """`absl.app.run` of a binary whose every user error ends in one line and exit `status`.

    Defines `--verbose`; other libraries' start-up messages are turned off unless it is given
    (`tfrecords.startup.quiet`, before the flags are parsed: a binary that imports
    TensorFlow in `main` gets a typo reported before TensorFlow loads, and a quiet start).
    Flags go through `parse_flags` (`known_only`: see there), `main` through `binary_main`
    (see both).
    """
    startup.define_verbose_flag()

    def parse(argv: Sequence[str]) -> list[str]:
        startup.quiet(argv)
        return parse_flags(argv, status, known_only=known_only)

    app.run(binary_main(main, status=status, takes_arguments=takes_arguments), flags_parser=parse)
