"""`UserError` and how binaries report it: one line on stderr, an exit status, no traceback.

The CLI table drives each kind of binary (the config binaries, predict.py, the demo, the
dataset and bench modules) once with input it must refuse before any heavy work (a config
value the pipeline rejects, an unknown config key or flag, a stray positional argument), all
started together: each costs little more than its imports.
"""

import pathlib
import re
import subprocess
import sys

import pytest
from absl import flags
from ml_collections import config_flags

from tfrecords.errors import ConfigError, UserError, binary_main, parse_flags, report

REPO = pathlib.Path(__file__).resolve().parents[1]
# TensorFlow's and absl's own log lines (`I0000 00:00:...`, the absl::InitializeLog notice, the
# CPU-instructions continuation line) and Beam's import warning: not the binary's output.
NOISE = re.compile(
    r"([IWEF]\d{4} |WARNING: All log messages|To enable the following instr|WARNING:root:apitools)"
)
STRAY = (
    "error: unexpected argument(s) 'stray': this binary takes only --flags (pass --help to see "
    "them)"
)


def test_errors_are_value_errors_and_config_errors_user_errors():
    assert issubclass(UserError, ValueError) and issubclass(ConfigError, UserError)


def test_report_prints_one_line_and_exits_with_the_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        report("a.txt: line 3\nis bad", 2)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: a.txt: line 3 is bad\n"


def test_binary_main_reports_user_errors_and_stray_arguments(capsys):
    def main(argv):
        raise ConfigError(f"config.seed={argv[-1]}: use an integer >= 0")

    with pytest.raises(SystemExit) as exit_info:
        binary_main(main, takes_arguments=True)(["prog", "-1"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: config.seed=-1: use an integer >= 0\n"
    with pytest.raises(SystemExit) as exit_info:
        binary_main(main, status=2)(["prog", "stray"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == STRAY + "\n"


def test_binary_main_lets_other_errors_through():
    def main(argv):
        raise KeyError("a bug, not a user error")

    with pytest.raises(KeyError):
        binary_main(main)(["prog"])


SPATAIL = (
    "error: --config=configs/spatail.py: no such file; did you mean configs/spatial.py? "
    "(configs/ has base.py, demo_common.py, demo_spatial.py, demo_temporal.py, spatial.py, "
    "temporal.py)"
)


@pytest.mark.parametrize(
    "argv, line",
    [
        (["--config=configs/spatail.py"], SPATAIL),
        (["--config", "configs/spatail.py", "--config.seed=3"], SPATAIL),  # override: parse time
        (["--config=configs/spatail.py:arg"], SPATAIL.replace(".py:", ".py:arg:", 1)),
        (
            ["--config=nope/x.py"],
            "error: --config=nope/x.py: no such file (no folder nope); give a config file, e.g. "
            "configs/spatial.py",
        ),
        (
            ["--config=configs"],
            "error: --config=configs: is a folder; give a config file, e.g. configs/spatial.py",
        ),
    ],
)
def test_a_config_file_that_does_not_load_is_one_line(argv, line, capsys, monkeypatch):
    """train.py, eval.py and export.py parse with `parse_flags` (through `run_binary`)."""
    monkeypatch.chdir(REPO)
    argv = ["prog", *argv]
    monkeypatch.setattr(sys, "argv", argv)  # ml_collections reads overrides from sys.argv
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "Config.", flag_values=flag_values)
    with pytest.raises(SystemExit) as exit_info:
        parse_flags(argv, 1, flag_values)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == line + "\n"


CONFIG = ["--config=configs/demo_spatial.py", "--workdir=/nonexistent/w", "--data_dir=/nonexistent"]
CROPS = "error: config.data.eval_num_crops=2: use 1, 5 or 10"
CASES = {
    "train.py bad config value": (
        ["train.py", *CONFIG, "--config.data.eval_num_crops=2"],
        1,
        CROPS,
    ),
    "train.py missing config file": (
        ["train.py", "--config=configs/spatail.py", *CONFIG[1:]],
        1,
        SPATAIL,
    ),
    "eval.py bad config value": (["eval.py", *CONFIG, "--config.data.eval_num_crops=2"], 1, CROPS),
    "export.py unknown config key": (
        ["export.py", *CONFIG, "--config.unknown_key=1"],
        1,
        "error: --config.unknown_key=1: the config has no key 'unknown_key' (config keys are "
        "set, never added)",
    ),
    "train.py nested config key typo": (
        ["train.py", *CONFIG, "--config.train.warmup_step=3"],
        1,
        "error: --config.train.warmup_step=3: the config has no key 'warmup_step'; did you mean "
        "warmup_steps? (config keys are set, never added)",
    ),
    "predict.py unknown flag": (
        ["predict.py", "--video=x.avi", "--top_kk=3"],
        1,
        "error: Unknown command line flag 'top_kk'. Did you mean: top_k ? "
        "(pass --help to see the flags)",
    ),
    # Models that do not exist: the output is checked before they load (or a video decodes).
    "predict.py --output_json under a file": (
        [
            "predict.py",
            "--video=x.avi",
            "--spatial_model=/nonexistent/spatial",
            "--output_json=predict.py/sub/p.json",
        ],
        1,
        "error: predict.py/sub/p.json: predict.py is a file, not a folder; give --output_json a "
        "path under a folder (or move the file predict.py away)",
    ),
    "demo.py stray": (["demo.py", "stray"], 1, STRAY),
    "preprocessing.check stray": (
        ["-m", "preprocessing.check", "--root=/nonexistent", "stray"],
        2,
        STRAY,
    ),
    "synthetic stray": (
        ["-m", "synthetic", "--output_dir=/nonexistent", "stray"],
        1,
        STRAY,
    ),
    "bench.pipeline_throughput stray": (["-m", "bench.pipeline_throughput", "stray"], 1, STRAY),
}


@pytest.fixture(scope="module")
def refusals():
    """Every case's finished process, all started together (imports dominate each)."""
    processes = {
        name: subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, _, _) in CASES.items()
    }
    finished = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate()
        finished[name] = (process.returncode, stdout, stderr)
    return finished


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_binary_refuses_with_one_line(refusals, name):
    returncode, _, stderr = refusals[name]
    _, status, line = CASES[name]
    own = [text for text in stderr.splitlines() if text.strip() and not NOISE.match(text)]
    assert own == [line], stderr[-3000:]
    assert returncode == status
