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
# CPU-instructions continuation line) and Beam's import warning: allowed only from the binaries
# that do not quiet them (tfrecords/startup.py); the others' stderr is the one line.
NOISE = re.compile(
    r"([IWEF]\d{4} |WARNING: All log messages|To enable the following instr|WARNING:root:apitools)"
)
QUIET = ("train.py", "eval.py", "export.py", "predict.py", "demo.py", "preprocessing")
QUIET += ("preprocessing.check",)
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


# The folder's configs, listed here (base.py, demo_common.py, ..., temporal.py, ...).
# The files of configs/ that define get_config (not demo_common.py or tsn.py, shared parts).
CONFIGS = "base.py, demo_spatial.py, demo_temporal.py, spatial.py, temporal.py"
SPATAIL = (
    "error: --config=configs/spatail.py: no such file; did you mean configs/spatial.py? "
    f"(configs/ has {CONFIGS})"
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


# Placeholders of the CLI table, filled per case with a folder of its own: {tmp} the folder,
# {data} a data directory (a manifest.json: the checks before the work look no further), {w}
# an empty folder, {file} a file.
CONFIG = ["--config=configs/demo_spatial.py", "--workdir={w}/run", "--data_dir={data}"]
CROPS = "error: config.data.eval_num_crops=2: use 1, 5 or 10"
UNDER_FILE = (
    "error: {file}/sub: {file} is a file, not a folder; give %s a path under a folder (or move "
    "the file {file} away)"
)
IS_FILE = "error: {file}: is a file, not a folder; give %s a folder"
NO_DATA = (
    "error: {tmp}/none: no such folder; give --data_dir an existing folder (python -m "
    "preprocessing writes it)"
)
NO_WORKDIR = (
    "error: {tmp}/none: no such folder; give --workdir an existing folder (train.py writes it)"
)
NO_CHECKPOINT = (
    "error: --checkpoint={w}/checkpoints/ckpt-7: no {w}/checkpoints/ckpt-7.index; give a "
    "checkpoint path prefix such as {w}/checkpoints/ckpt-1000"
)
UNKNOWN = "error: Unknown command line flag 'bogus' (pass --help to see the flags)"
PREDICT = ["predict.py", "--video=x.avi"]
PREPROCESS = ["-m", "preprocessing", "--root={w}", "--output_dir={tmp}/out"]
# name: (arguments, exit status, the one line on stderr); every case leaves its folder as it
# was (nothing written) and fails before TensorFlow's work, most before TensorFlow loads.
CASES = {
    "train.py bad config value": (
        ["train.py", *CONFIG, "--config.data.eval_num_crops=2"],
        1,
        CROPS,
    ),
    "train.py image size below the model's smallest input": (
        [
            "train.py",
            "--config=configs/demo_temporal.py",
            *CONFIG[1:],
            "--config.data.image_size=2",
        ],
        1,
        "error: config.data.image_size=2: model 'tiny' needs at least 8 pixels; use "
        "--config.data.image_size=8 or more",
    ),
    "train.py missing config file": (
        ["train.py", "--config=configs/spatail.py", *CONFIG[1:]],
        1,
        SPATAIL,
    ),
    "train.py unknown flag": (["train.py", "--bogus"], 1, UNKNOWN),
    "train.py --workdir is a file": (
        ["train.py", *CONFIG, "--workdir={file}"],
        1,
        IS_FILE % "--workdir",
    ),
    "train.py --workdir under a file": (
        ["train.py", *CONFIG, "--workdir={file}/sub"],
        1,
        UNDER_FILE % "--workdir",
    ),
    "train.py --data_dir missing": (["train.py", *CONFIG, "--data_dir={tmp}/none"], 1, NO_DATA),
    "train.py --data_dir without a manifest": (
        ["train.py", *CONFIG, "--data_dir={w}"],
        1,
        "error: {w}: has no manifest.json or dataset_info.json; give --data_dir a folder that has "
        "one (python -m preprocessing writes it)",
    ),
    "eval.py bad config value": (
        ["eval.py", *CONFIG, "--workdir={w}", "--config.data.eval_num_crops=2"],
        1,
        CROPS,
    ),
    "eval.py unknown flag": (["eval.py", "--bogus"], 1, UNKNOWN),
    "eval.py --workdir missing": (["eval.py", *CONFIG, "--workdir={tmp}/none"], 1, NO_WORKDIR),
    "eval.py --checkpoint missing": (
        ["eval.py", *CONFIG, "--workdir={w}", "--checkpoint={w}/checkpoints/ckpt-7"],
        1,
        NO_CHECKPOINT,
    ),
    "export.py --checkpoint missing": (
        ["export.py", *CONFIG, "--workdir={w}", "--checkpoint={w}/checkpoints/ckpt-7"],
        1,
        NO_CHECKPOINT,
    ),
    "eval.py --output_dir is a file": (
        ["eval.py", *CONFIG, "--workdir={w}", "--output_dir={file}"],
        1,
        IS_FILE % "--output_dir",
    ),
    "eval.py --watch_export under a file": (
        ["eval.py", *CONFIG, "--watch", "--watch_export={file}/sub"],
        1,
        UNDER_FILE % "--watch_export",
    ),
    "eval.py --fuse file missing": (
        ["eval.py", "--fuse={tmp}/none.npz,{file}", "--output_dir={tmp}/fused"],
        1,
        "error: {tmp}/none.npz: no such file; give --fuse an existing file",
    ),
    "eval.py --fuse --output_dir under a file": (
        ["eval.py", "--fuse={file},{file}", "--output_dir={file}/sub"],
        1,
        UNDER_FILE % "--output_dir",
    ),
    "export.py unknown config key": (
        ["export.py", *CONFIG, "--config.unknown_key=1"],
        1,
        "error: --config.unknown_key=1: the config has no key 'unknown_key' (config keys are "
        "set, never added)",
    ),
    "export.py unknown flag": (["export.py", "--bogus"], 1, UNKNOWN),
    "export.py --workdir missing": (["export.py", *CONFIG, "--workdir={tmp}/none"], 1, NO_WORKDIR),
    "export.py --export_dir is a file": (
        ["export.py", *CONFIG, "--workdir={w}", "--export_dir={file}"],
        1,
        IS_FILE % "--export_dir",
    ),
    "train.py nested config key typo": (
        ["train.py", *CONFIG, "--config.train.warmup_step=3"],
        1,
        "error: --config.train.warmup_step=3: the config has no key 'warmup_step'; did you mean "
        "warmup_steps? (config keys are set, never added)",
    ),
    "predict.py unknown flag": (
        [*PREDICT, "--top_kk=3"],
        1,
        "error: Unknown command line flag 'top_kk'. Did you mean: top_k ? "
        "(pass --help to see the flags)",
    ),
    "predict.py --spatial_model missing": (
        [*PREDICT, "--spatial_model={tmp}/none"],
        1,
        "error: {tmp}/none: no such folder; give --spatial_model an existing folder (export.py "
        "writes it)",
    ),
    # Models that exist as folders: the outputs are checked before they load (or a video
    # decodes).
    "predict.py --output_json under a file": (
        [*PREDICT, "--spatial_model={w}", "--output_json={file}/sub"],
        1,
        UNDER_FILE % "--output_json",
    ),
    "predict.py --sheet is a folder": (
        [*PREDICT, "--spatial_model={w}", "--sheet={w}"],
        1,
        "error: {w}: is a folder; give --sheet a file name, e.g. {w}/out",
    ),
    "predict.py --xla_cache_dir is a file": (
        [*PREDICT, "--spatial_model={w}", "--xla_cache_dir={file}"],
        1,
        IS_FILE % "--xla_cache_dir",
    ),
    "preprocessing --root missing": (
        ["-m", "preprocessing", "--root={tmp}/none", "--output_dir={tmp}/out"],
        2,
        "error: {tmp}/none: no such folder; give --root an existing folder",
    ),
    "preprocessing --splits_dir missing": (
        [*PREPROCESS, "--splits_dir={tmp}/none"],
        2,
        "error: {tmp}/none: no such folder; give --splits_dir an existing folder",
    ),
    "preprocessing --output_dir under a file": (
        [*PREPROCESS, "--output_dir={file}/sub"],
        2,
        UNDER_FILE % "--output_dir",
    ),
    "preprocessing --flow_cache_dir is a file": (
        [*PREPROCESS, "--source=videos", "--flow_cache_dir={file}"],
        2,
        IS_FILE % "--flow_cache_dir",
    ),
    "preprocessing --xla_cache_dir under a file": (
        [*PREPROCESS, "--xla_cache_dir={file}/sub"],
        2,
        UNDER_FILE % "--xla_cache_dir",
    ),
    "preprocessing unknown flag": (
        [*PREPROCESS, "--bogus"],
        2,
        "error: unknown flag '--bogus' (neither this binary nor Beam defines it); did you mean "
        "--verbose? (pass --help to see the flags)",
    ),
    "demo.py stray": (["demo.py", "stray"], 1, STRAY),
    "demo.py --workspace is a file": (
        ["demo.py", "--workspace={file}"],
        1,
        IS_FILE % "--workspace",
    ),
    "synthetic --output_dir under a file": (
        ["-m", "synthetic", "--output_dir={file}/sub"],
        1,
        UNDER_FILE % "--output_dir",
    ),
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


def _tree(folder: pathlib.Path) -> dict[str, bytes]:
    """Every file and folder under `folder` with its bytes (b'' for a folder)."""
    return {
        str(path.relative_to(folder)): b"" if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Every case's finished process and its folder before and after, all started together.

    Each case costs little more than its imports (train/eval/export/predict refuse most
    before TensorFlow loads).
    """
    processes, folders = {}, {}
    for index, (name, (args, _, _)) in enumerate(CASES.items()):
        tmp = tmp_path_factory.mktemp(f"case{index}")
        (tmp / "data").mkdir()
        (tmp / "data" / "manifest.json").write_text("{}")
        (tmp / "w").mkdir()
        (tmp / "file").write_text("keep")
        names = {"tmp": tmp, "data": tmp / "data", "w": tmp / "w", "file": tmp / "file"}
        folders[name] = (tmp, names, _tree(tmp))
        processes[name] = subprocess.Popen(
            [sys.executable, *(a.format(**names) for a in args)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finished = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate()
        tmp, names, before = folders[name]
        finished[name] = (process.returncode, stdout, stderr, names, before, _tree(tmp))
    return finished


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_binary_refuses_with_one_line(refusals, name):
    """The exact line and nothing else on stderr, the exit status, nothing written."""
    returncode, _, stderr, names, before, after = refusals[name]
    args, status, line = CASES[name]
    lines = stderr.splitlines()
    if (args[1] if args[0] == "-m" else args[0]) not in QUIET:
        lines = [text for text in lines if text.strip() and not NOISE.match(text)]
    assert lines == [line.format(**names)], stderr[-3000:]
    assert returncode == status
    assert after == before
