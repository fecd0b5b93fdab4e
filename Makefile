# Two commands on a fresh machine:
#   make reproduce [PROFILE=smoke|cpu|paper]   run every notebook in order (default: cpu; resumable)
#   make test                                  unit tests + notebook regression (nbval)
PROFILE ?= cpu
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.radarface-installed
# Kernels started by papermill and nbval must find the venv's python first.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Waiting OpenMP threads sleep instead of spinning: spinning ones slow training 8-10x when
# anything else runs beside it (docs/tuning.md, "Threads under load").
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install reproduce test test-fast notebooks results bench clean-runs

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(PY) -m radarface.run --profile $(PROFILE)

# Two workers: the whole-run tests (own folders) beside the rest, which share data/ (tests/conftest.py).
test: $(STAMP)
	$(PY) -m pytest -n 2

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" tests lib/radarface

# Rebuild the smoke-executed copies that nbval checks (tests/notebooks/) from notebooks/src, on
# data made afresh (as CI makes them), so files cached by an earlier renderer cannot leak in.
notebooks: $(STAMP)
	fresh=$$(mktemp -d) && RADARFACE_DATA=$$fresh $(PY) -m radarface.run --profile smoke --out tests/notebooks \
		--force --no-publish && rm -rf $$fresh

# Regenerate the README's results tables from the committed results/ files.
results: $(STAMP)
	$(PY) -m radarface.results readme

# Timing benchmarks that print side-by-side ratios (encoder_accuracy.py and physics_recovery.py are
# experiments with arguments and long runs: call them directly).
BENCHMARKS := render renderer_speed dataset encoder decoder physics_fit
bench: $(STAMP)
	for b in $(BENCHMARKS); do $(PY) benchmarks/$$b.py || exit 1; done

clean-runs:
	rm -rf runs
