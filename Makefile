# mde_exp: the two commands a fresh clone needs are `make reproduce-figures` and `make test`;
# both create the virtual environment first when it is missing.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= quick
ONLY    ?=
CHAPTER ?=
RERUN   ?=
# recipes run at once by reproduce-figures (each in its own process, cores/JOBS torch threads)
JOBS    ?= 2
EXP     ?= dropout_sweep
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (auto: one per core; 0 runs in-process)
TEST_WORKERS ?= auto

export WANDB_SILENT ?= true

.PHONY: install test test-slow test-gpu lint format reproduce-figures sweep bench wandb-sync clean chromium

install: $(STAMP)

# torch is installed first and pinned (2.13.0 is the local CPU build here); every later step keeps it,
# and on a machine without a GPU the step fails if CUDA packages were pulled in anyway.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,cluster,dashboards]'
	@if ! command -v nvidia-smi >/dev/null 2>&1 && $(PY) -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
	  echo "error: CUDA packages were installed on a machine without a GPU"; exit 1; fi
	touch $(STAMP)

test: $(STAMP)
	WANDB_MODE=offline $(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-slow: $(STAMP)
	WANDB_MODE=offline $(PY) -m pytest -q -m slow $(PYTEST_ARGS)

test-gpu: $(STAMP)
	WANDB_MODE=offline $(PY) -m pytest -q -m gpu $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests experiments benchmarks
	$(VENV)/bin/ruff format --check src tests experiments benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests experiments benchmarks
	$(VENV)/bin/ruff check --fix src tests experiments benchmarks

reproduce-figures: $(STAMP)
	$(PY) -m mde_exp.reproduce --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) $(if $(CHAPTER),--chapter $(CHAPTER)) $(if $(RERUN),--rerun) --jobs $(JOBS)

# Headless Chromium for tests/test_report_browser.py: Debian's package, installed when missing (as root).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
	@test -x $(CHROMIUM) && echo "chromium: $(CHROMIUM)"

sweep: $(STAMP)
	$(PY) -m mde_exp +experiment=$(EXP)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Uploads the offline W&B runs of the store (training runs and the recipes' figure runs under _figures/);
# RUNS defaults to $MDE_EXP_RUNS, else runs/; `make wandb-sync SYNC_ARGS=--dry-run` lists them only.
RUNS ?= $(or $(MDE_EXP_RUNS),runs)
SYNC_ARGS ?=
wandb-sync: $(STAMP)
	@found=$$(find "$(RUNS)" -type d -name 'offline-run-*' 2>/dev/null | sort); \
	if [ -z "$$found" ]; then \
	  echo "no offline W&B runs under $(RUNS)/ (runs log offline when W&B has no credentials; RUNS=<dir> looks elsewhere)"; \
	else \
	  echo "$$(echo "$$found" | wc -l) offline W&B run(s) under $(RUNS)/: $$(echo "$$found" | grep -c /_figures/) figure run(s)"; \
	  $(VENV)/bin/wandb sync $(SYNC_ARGS) $$found; \
	fi

clean:
	rm -rf runs figures outputs multirun .pytest_cache .ruff_cache
