"""The Beam job ships to Dataflow workers as the sdist Beam builds from `--setup_file`.

This builds the package with Beam's own stager (the code path `--setup_file=./setup.py` runs),
installs the tarball into an empty folder without dependencies, imports the Beam job's
modules from there alone (in a process whose working directory is not the checkout), and
checks the installed metadata declares what workers must install with it.
"""

import email
import pathlib
import re
import subprocess
import sys
import tarfile

from apache_beam.runners.portability.stager import Stager

REPO = pathlib.Path(__file__).resolve().parents[1]
# Every module of ours the Beam job imports (python -m preprocessing and its transforms).
WORKER_MODULES = [
    "tfrecords.schema",
    "tfrecords.manifest",
    "tfrecords.errors",
    "preprocessing.__main__",
    "preprocessing.pipeline",
    "preprocessing.outputs",
    "preprocessing.clip_sources",
    "preprocessing.optical_flow",
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


def test_setup_file_builds_an_sdist_holding_the_beam_job(tmp_path):
    tarball = Stager._build_setup_package(str(REPO / "setup.py"), str(tmp_path))
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
    names = {re.split(r"[\s\[=<>;!~]", line, maxsplit=1)[0].lower() for line in requires}
    for requirement in WORKER_REQUIREMENTS:
        assert requirement in names, (requirement, requires)
