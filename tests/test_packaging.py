"""How the project installs: the accelerator choice, and the sdist Dataflow workers install.

The accelerator is chosen when the metadata is built (`TWO_STREAM_ACCEL`, set by
`make setup ACCEL=...`): each choice's metadata, as `pip install --dry-run --report` gives it,
requires exactly one TensorFlow distribution, and the Makefile removes the other choice's
before installing (both provide the `tensorflow` module).

The Beam job ships to Dataflow workers as the sdist Beam builds from `--setup_file`: this
builds the package with Beam's own stager (the code path `--setup_file=./setup.py` runs) on a
machine that chose the GPU, installs the tarball into an empty folder without dependencies and
without the choice (as a worker does), imports the Beam job's modules from there alone (in a
process whose working directory is not the checkout), and checks the installed metadata
declares what workers must install with it: the CPU TensorFlow among it.
"""

import email
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
from apache_beam.runners.portability.stager import Stager

REPO = pathlib.Path(__file__).resolve().parents[1]
# Every module of ours the Beam job imports (python -m preprocessing and its transforms).
WORKER_MODULES = [
    "tfrecords.schema",
    "tfrecords.manifest",
    "tfrecords.errors",
    "preprocessing.__main__",
    "preprocessing.pipeline",
    "preprocessing.job_config",
    "preprocessing.finalize",
    "preprocessing.progress",
    "preprocessing.outputs",
    "preprocessing.clip_sources",
    "optical_flow.algorithms",
    "optical_flow.video_frames",
    "preprocessing.sharding",
    "preprocessing.errors",
    "preprocessing.ucf101",
    "preprocessing.layout",
]
# What Dataflow workers must pip-install next to the package for those modules to import.
WORKER_REQUIREMENTS = [
    "apache-beam",
    "opencv-contrib-python-headless",
    "simplejpeg",
    "tensorflow-cpu",
]
ACCEL_VARIABLE = "TWO_STREAM_ACCEL"
# Each accelerator choice -> the one TensorFlow distribution its install requires.
TENSORFLOW = {"cpu": "tensorflow-cpu", "gpu": "tensorflow"}


def _name(requirement: str) -> str:
    """The distribution a requirement names: 'tensorflow[and-cuda]==2.21.0' -> 'tensorflow'."""
    return re.split(r"[\s\[=<>;!~]", requirement, maxsplit=1)[0].lower()


def _pip_report(tmp_path: pathlib.Path, accel: str) -> subprocess.CompletedProcess:
    """`pip install --dry-run --report -` of the project with `TWO_STREAM_ACCEL=accel`."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)  # metadata only: no packages needed
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--quiet",
            "--report",
            "-",
            ".",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, ACCEL_VARIABLE: accel},
        check=False,
    )


def _requires_dist(tmp_path: pathlib.Path, accel: str) -> list[str]:
    """The project's requirements as pip reads its metadata with `TWO_STREAM_ACCEL=accel`."""
    result = _pip_report(tmp_path, accel)
    assert result.returncode == 0, result.stderr[-2000:]
    (install,) = json.loads(result.stdout)["install"]
    return install["metadata"]["requires_dist"]


@pytest.mark.parametrize("accel", sorted(TENSORFLOW))
def test_each_accelerator_requires_one_tensorflow(tmp_path, accel):
    requires = _requires_dist(tmp_path, accel)
    tensorflows = [line for line in requires if _name(line) in TENSORFLOW.values()]
    expected = {"cpu": "tensorflow-cpu==2.21.0", "gpu": "tensorflow[and-cuda]==2.21.0"}[accel]
    assert tensorflows == [expected]
    # Everything else is the same known-good set whichever TensorFlow it runs with.
    others = sorted(line for line in requires if line not in tensorflows)
    assert others == sorted(
        line for line in _requires_dist(tmp_path, "cpu") if _name(line) != "tensorflow-cpu"
    )
    assert any(_name(line) == "apache-beam" for line in others)


def test_an_unknown_accelerator_stops_the_build(tmp_path):
    result = _pip_report(tmp_path, "tpu")
    assert result.returncode != 0
    assert f"{ACCEL_VARIABLE}='tpu': use one of ('cpu', 'gpu')" in result.stderr


def _make_dry_run(venv: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    """`make -n` in the checkout with `VENV=venv`: the commands make would run, none run."""
    env = {key: value for key, value in os.environ.items() if key != "ACCEL"}
    return subprocess.run(
        ["make", "-n", f"VENV={venv}", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )


def _install_commands(output: str) -> list[str]:
    return [line for line in output.splitlines() if " -m pip " in line]


def test_make_installs_the_chosen_tensorflow_and_removes_the_other(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    for accel, args in (("cpu", ()), ("gpu", ("ACCEL=gpu",))):
        result = _make_dry_run(venv, "setup", *args)
        assert result.returncode == 0, result.stderr
        commands = _install_commands(result.stdout)
        (other,) = set(TENSORFLOW) - {accel}
        # The other choice's distribution goes first, then the project with this choice.
        assert any(f"uninstall -qq --yes {TENSORFLOW[other]}" in line for line in commands)
        assert commands[-1].startswith(f"{ACCEL_VARIABLE}={accel} ")
        assert commands[-1].endswith("-m pip install --quiet -e '.[test]'")


def test_make_keeps_the_installed_choice_until_another_is_named(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-accel-gpu").touch()  # newer than pyproject.toml and setup.py
    result = _make_dry_run(venv, "test")
    assert result.returncode == 0, result.stderr
    assert _install_commands(result.stdout) == []
    assert "-m pytest" in result.stdout
    switched = _install_commands(_make_dry_run(venv, "setup", "ACCEL=cpu").stdout)
    assert f"{ACCEL_VARIABLE}=cpu " in switched[-1]


def test_make_rejects_an_unknown_accelerator(tmp_path):
    result = _make_dry_run(tmp_path, "setup", "ACCEL=tpu")
    assert result.returncode != 0
    assert "ACCEL=tpu: use cpu or gpu" in result.stderr


def test_setup_file_builds_an_sdist_holding_the_beam_job(tmp_path, monkeypatch):
    monkeypatch.setenv(ACCEL_VARIABLE, "gpu")  # the submitting machine chose the GPU
    tarball = Stager._build_setup_package(str(REPO / "setup.py"), str(tmp_path))
    monkeypatch.delenv(ACCEL_VARIABLE)  # a worker has no choice
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for module in WORKER_MODULES:
        assert any(name.endswith(module.replace(".", "/") + ".py") for name in names), module
    assert not any("/.venv/" in name or "/workspace/" in name for name in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--target",
            str(target),
            tarball,
        ],
        check=True,
        cwd=tmp_path,
    )
    code = (
        "import importlib, sys\n"
        f"mods = {WORKER_MODULES!r}\n"
        "for m in mods:\n"
        "    f = importlib.import_module(m).__file__\n"
        f"    assert f.startswith({str(target)!r}), f\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"

    (metadata,) = target.glob("two_stream_ucf101-*.dist-info/METADATA")
    requires = email.message_from_string(metadata.read_text()).get_all("Requires-Dist")
    names = {_name(line) for line in requires}
    for requirement in WORKER_REQUIREMENTS:
        assert requirement in names, (requirement, requires)
    assert TENSORFLOW["gpu"] not in names, requires
