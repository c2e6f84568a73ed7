# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_DEV  := $(VENV)/.installed-dev

.PHONY: run test install install-dev lint typecheck security unit fuzz soak bench clean browser-deps \
	deploy-test lock

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
	if [ -f /tmp/neo-ci/postgres.env ]; then . /tmp/neo-ci/postgres.env; fi; \
	[ ! -f /tmp/neo-ci/redis.env ] || . /tmp/neo-ci/redis.env; \
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest --cov=neo --cov-report=term --cov-fail-under=90

fuzz: $(STAMP_DEV)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider -m "not slow" \
		$$(grep -rl --include='test_*.py' -e '@given' tests)

test: lint typecheck security unit deploy-test

# The deployment proven to run (docs/deployment.md): builds the image from a debootstrap'd Debian
# base (cached in /var/cache/neo-ci), runs it read-only as uid 1000, plays the Kubernetes API
# Deployment with podman and evaluates every dashboard query and alert on a real Prometheus.
# Needs root; installs podman, buildah, runc, debootstrap, prometheus, docker-compose if missing.
deploy-test: $(STAMP_DEV)
	$(SUDO) bash scripts/ci/deploy_test.sh

# Regenerate the image's lock files from pyproject.toml at the dev venv's versions.
lock: $(STAMP_DEV)
	$(BIN)/python scripts/ci/lock_requirements.py

# The report's browser test drives Debian's chromium through Playwright (never `playwright
# install`, which downloads). .ci/run calls this; apt-get only when chromium is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium; }

# The issue-sized crash test: 10,000-bar live and paper sessions against neo exchange-sim,
# SIGKILLed at random points and restarted (make test runs the same test at 180 bars).
soak: $(STAMP_DEV)
	NEO_SOAK_CYCLES=10000 $(BIN)/pytest -q -p no:cacheprovider \
		tests/integration/test_live_venue_sigkill.py

bench: $(STAMP_DEV)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache neo-data
