# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_DEV  := $(VENV)/.installed-dev

.PHONY: run test install install-dev lint typecheck security unit fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

run: $(STAMP_RUN)
	$(BIN)/neo demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP_DEV)
	$(BIN)/mypy --strict src/

security: $(STAMP_DEV)
	$(BIN)/bandit -q -c pyproject.toml -r src/

# Hypothesis profiles live in tests/conftest.py: `ci` (default: derandomized, fixed seed) for
# `make test`; `fuzz` draws random seeds and NEO_FUZZ_SCALE (20) times each property's examples.
unit: $(STAMP_DEV)
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest --cov=neo --cov-report=term --cov-fail-under=90

fuzz: $(STAMP_DEV)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider -m "not slow" \
		$$(grep -rl --include='test_*.py' -e '@given' tests)

test: lint typecheck security unit

bench: $(STAMP_DEV)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache neo-data
