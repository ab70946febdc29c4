# Every target sets up its venv itself, so a fresh clone needs only python3 (3.11-3.13) and make.
# Another interpreter installs beside the default one: `make test PYTHON=python3.13 VENV=.venv-3.13`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORKSPACE ?= workspace
PYTEST_ARGS ?=

# Which TensorFlow the venv holds: cpu (the default; CI and the demo) or gpu, as setup.py maps
# them. Chosen once (`make setup ACCEL=gpu`) and remembered by the stamp's name, so later
# targets keep it; naming the other choice re-installs.
INSTALLED_ACCEL := $(patsubst $(VENV)/.installed-accel-%,%,$(wildcard $(VENV)/.installed-accel-*))
ACCEL ?= $(or $(INSTALLED_ACCEL),cpu)
# Each choice's TensorFlow distribution. Both provide the `tensorflow` module, so installing one
# first removes the other (pip would leave both, one overwriting the other's files).
TF_DISTRIBUTION_cpu := tensorflow-cpu
TF_DISTRIBUTION_gpu := tensorflow
ifeq ($(TF_DISTRIBUTION_$(ACCEL)),)
$(error ACCEL=$(ACCEL): use cpu or gpu)
endif
OTHER_TF_DISTRIBUTION := $(filter-out $(TF_DISTRIBUTION_$(ACCEL)),$(TF_DISTRIBUTION_cpu) $(TF_DISTRIBUTION_gpu))
STAMP := $(VENV)/.installed-accel-$(ACCEL)

.PHONY: setup test lint format demo bench clean

# Re-installs when pyproject.toml or setup.py changed (the stamp is older) or ACCEL did (no
# stamp of that name).
$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	rm -f $(VENV)/.installed-*
	$(PY) -m pip uninstall -qq --yes $(OTHER_TF_DISTRIBUTION)
	TWO_STREAM_ACCEL=$(ACCEL) $(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Two workers, one test file each at a time: most of the suite's time is single-threaded
# (TensorFlow imports in subprocesses driving the real CLIs): ~12 min on 2 cores.
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
