# dlmath: the two commands a fresh machine needs are `make labs` and `make test`.
# Everything else here is a step they call. No step needs a GPU or the network at run time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= report
# torch: the CPU build that this machine installs from a local file in seconds. It is only
# installed when no torch is importable, so an existing CUDA/NGC torch is kept.
TORCH_PIN ?= torch==2.13.0
# 2 cores: two pytest workers, one BLAS/torch thread each (no oversubscription)
TEST_WORKERS ?= 2

.PHONY: labs test venv install install-dev browser lint unit quick-labs bench clean help exercises

help:
	@echo "make labs   create $(VENV), install dlmath, run all five labs into $(OUT)/"
	@echo "make test   ruff + unit/property tests + notebooks + browser check + dlmath labs --quick"
	@echo "make bench  run every benchmark in benchmarks/ (prints ratios for the README table)"
	@echo "make exercises  write the exercise notebooks into exercises/ and open them in JupyterLab"

$(BIN)/python:
	$(PYTHON) -m venv --system-site-packages $(VENV)

venv: $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_PIN)"

# Reinstall only when pyproject.toml changes (the stamp records the last install).
$(VENV)/.installed: pyproject.toml | venv
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | venv
	$(BIN)/python -m pip install -q -e ".[dev,distributed]"
	@touch $(VENV)/.installed $@

install: venv $(VENV)/.installed
install-dev: venv $(VENV)/.installed-dev

# Debian's Chromium for the report's browser test (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

labs: install
	$(BIN)/dlmath labs --out $(OUT)

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

quick-labs: install
	rm -rf .quick-report
	$(BIN)/dlmath labs --quick --no-progress --out .quick-report
	test -f .quick-report/index.html

# The browser test opens the report that quick-labs just wrote.
# pytest exits 5 when it collects no test: that is a failure here, never a silent pass.
unit: install-dev browser quick-labs
	DLMATH_REPORT_DIR=.quick-report OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 -p no:cacheprovider

test: lint quick-labs unit

# The benchmarks' peers (loss-landscapes, PyHessian, otter-grader) come from the `bench` extra.
$(VENV)/.installed-bench: pyproject.toml | venv
	$(BIN)/python -m pip install -q -e ".[dev,distributed,bench]"
	@touch $(VENV)/.installed $(VENV)/.installed-dev $@

bench: venv $(VENV)/.installed-bench
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Learner mode: the exercise notebooks (your work in exercises/ is kept: --keep), JupyterLab
# from the `learner` extra (installed here only, never by `make test`). The checks need no network.
$(VENV)/.installed-learner: pyproject.toml | venv
	$(BIN)/python -m pip install -q -e ".[learner]"
	@touch $(VENV)/.installed $@

exercises: venv $(VENV)/.installed-learner
	$(BIN)/dlmath exercises --out exercises --keep
	$(BIN)/jupyter lab exercises

clean:
	rm -rf $(OUT) .quick-report .pytest_cache .ruff_cache .hypothesis
