# Two commands set everything up on a machine with only Python 3.11 and pip:
#   make demo   creates .venv from the lockfile and runs the whole engine on a synthetic book
#   make test   creates .venv from the lockfile and runs the linters (ruff, the layers' import
#               contracts, mypy strict on the core) and the test suite
# While working, `make test-fast` runs the code, data and model suites on two cores in a few minutes
# (not the end-to-end, database and simulation suites, nor the tests marked slow).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.8

.PHONY: env demo test test-fast lint format lock bench clean browser

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "recover needs Python 3.11; found %d.%d (set PYTHON=...)" % v)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the locked environment into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --compile-bytecode -r requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/recover demo

test: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

# Two pytest-xdist workers (the machines have two cores); each builds the session's small book and
# models once for itself.
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -m "not slow" tests/code tests/data tests/model

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-resolve the lockfile after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

# Benchmarks, never part of the tests: the nightly run at 100k, 300k and 1M overdue loans (books
# built once into bench/cache/), then training on 2M snapshot rows. Figures in bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/nightly.py
	$(BIN)/python bench/training.py

clean:
	rm -rf $(VENV) .recover demo-output .pytest_cache .ruff_cache

# Optional: Debian's Chromium for the headless-browser test of review.html (skipped without it).
browser:
	apt-get update && apt-get install -y --no-install-recommends chromium
