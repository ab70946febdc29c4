# Every target sets up .venv itself, so a fresh clone needs only python3 (3.11) and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
WORKSPACE ?= workspace
PYTEST_ARGS ?=

.PHONY: setup test lint format demo bench clean

# Re-installs only when pyproject.toml or setup.py changed (the stamp is older).
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Two workers, one test file each at a time: most of the suite's time is single-threaded
# (TensorFlow imports in subprocesses driving the real CLIs), so 2 cores finish in ~4-5 min.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The whole system end to end on generated UCF-format data (see demo.py); re-runs skip
# completed stages.
demo: $(STAMP)
	$(PY) demo.py --workspace=$(WORKSPACE)/demo

bench: $(STAMP)
	$(PY) -m bench.pipeline_throughput

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
