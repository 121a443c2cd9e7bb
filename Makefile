# Bootstraps .venv from the lock on first use; needs only python3, pip and PyPI.
# requirements.lock pins every package for Python 3.11 on Linux x86_64 (uv pip compile);
# `make lock` refreshes it from the ranges in pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
UV_VERSION := 0.13.9
UV     := $(BIN)/uv
LATEST := build/venv-latest
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# One BLAS thread per process: `make test` runs two test processes and `make report` one kernel per CPU at
# once, and OpenBLAS's spinning threads would fight over the cores (measured: test files 1.5x slower with 2).
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1

.PHONY: install lock report power test test-latest lab bench clean chromium

install: $(STAMP)

# uv from PyPI through pip; then exactly the lock's packages (uv pip sync removes any others but
# pip and uv), then this package itself, editable and without dependencies (the lock holds them all).
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and \
	  "requirements.lock is for Python 3.11; run make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# The newest versions the ranges in pyproject.toml allow, pinned for Python 3.11 on Linux x86_64
# whatever machine runs it.
lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra dev --extra cluster --upgrade --quiet \
	  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	  --custom-compile-command "make lock" -o $(LOCK)

report: $(STAMP)
	$(BIN)/analysis run

# The full power curve of config/power.yml (1000 trials per size; the report's 07_power runs 100):
# reports/power/power.csv and power_curve.png.
power: $(STAMP)
	$(BIN)/analysis power --config config/power.yml

# Two test processes (pytest-xdist): the suite's notebook runs and fits spread over the CI's 2 cores.
# --dist loadfile keeps each test file on one worker: test_bayes.py's fits that compile the same model (a
# minute or more with numba; notebook 03 and the recovery fits on the bundled trial's sizes) run one
# after the other there, so the later ones read it from the cache instead of compiling it at once twice,
# and a module fixture is built once. (loadgroup would group finer, but pytest-xdist 3.8 cannot rename
# pytest 9.2's test ids, so its groups are ignored.) xdist starts the files with most tests first; putting
# the longest files first instead (tried 2026-12-02) ran the multi-process tests together (report kernels,
# Dask clusters, nutpie's chains) and was no faster.
test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The same tests in a second environment (build/venv-latest) with the newest versions the ranges in
# pyproject.toml allow, not the lock's: run it before `make lock` to see whether refreshing the lock
# would break anything. It skips only the check that the environment is the lock's.
test-latest: chromium | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(BIN)/python $(LATEST)
	$(UV) pip install --quiet --python $(LATEST)/bin/python -e '.[dev,cluster]'
	$(LATEST)/bin/python -m pytest -n 2 --dist loadfile \
	  --deselect tests/test_packaging.py::test_installed_versions_are_the_locks_pins

# Debian's chromium for the browser test (tests/test_browser.py); sudo only when not root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	command -v chromium >/dev/null || { $(SUDO) apt-get update && \
	  $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# Registers this environment's Jupyter kernel; tests/test_lab.py runs this same line (with --prefix
# in a temporary folder instead of --sys-prefix) and executes a notebook on it through a Jupyter server.
KERNEL_INSTALL := -m ipykernel install --name analysis --display-name "Python (analysis)"

lab: $(STAMP)
	$(BIN)/python $(KERNEL_INSTALL) --sys-prefix
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/bench_mixed.py
	$(BIN)/python benchmarks/bench_multilevel.py
	$(BIN)/python benchmarks/bench_glmm.py
	$(BIN)/python benchmarks/bench_mmrm.py
	$(BIN)/python benchmarks/bench_missing.py
	$(BIN)/python benchmarks/coverage_missing.py
	$(BIN)/python benchmarks/bench_meta.py
	$(BIN)/python benchmarks/bench_sem.py
	$(BIN)/python benchmarks/coverage_mediation.py
	$(BIN)/python benchmarks/bench_bayes.py
	$(BIN)/python benchmarks/coverage_mixed.py
	$(BIN)/python benchmarks/bench_power.py
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf $(VENV) reports build src/*.egg-info
