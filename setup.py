"""Setuptools shim so Dataflow's `--setup_file=./setup.py` can package this project.

All metadata lives in pyproject.toml; Beam runs `python setup.py sdist` on this file and
installs the result on every worker.
"""

import setuptools

setuptools.setup()
