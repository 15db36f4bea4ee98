# mde_exp: the two commands a fresh clone needs are `make reproduce-figures` and `make test`;
# both create the virtual environment first when it is missing.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= quick
ONLY    ?=
EXP     ?= dropout_sweep
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (auto: one per core; 0 runs in-process)
TEST_WORKERS ?= auto

export WANDB_SILENT ?= true

.PHONY: install test test-slow test-gpu lint format reproduce-figures sweep bench wandb-sync clean

install: $(STAMP)

# torch is installed first and pinned (2.13.0 is the local CPU build here); every later step keeps it,
# and on a machine without a GPU the step fails if CUDA packages were pulled in anyway.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
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
	$(PY) -m mde_exp.reproduce --profile $(PROFILE) $(if $(ONLY),--only $(ONLY))

sweep: $(STAMP)
	$(PY) -m mde_exp +experiment=$(EXP)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

wandb-sync: $(STAMP)
	@found=$$(find runs -type d -name 'offline-run-*' 2>/dev/null); \
	if [ -z "$$found" ]; then echo "no offline W&B runs under runs/"; else $(VENV)/bin/wandb sync $$found; fi

clean:
	rm -rf runs figures outputs multirun .pytest_cache .ruff_cache
