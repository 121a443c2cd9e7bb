# Bootstraps .venv from pyproject.toml on first use; needs only python3 and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: install report test lab bench clean chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/analysis run

# Two test processes (pytest-xdist): the suite's notebook runs and fits spread over the CI's 2 cores.
test: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2

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
	$(BIN)/python benchmarks/bench_bayes.py
	$(BIN)/python benchmarks/coverage_mixed.py
	$(BIN)/python benchmarks/bench_power.py
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf $(VENV) reports build src/*.egg-info
