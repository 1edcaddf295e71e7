# Two commands for a fresh machine: `make demo` and `make test` (see README's quick start).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench golden clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## demo: run a whole request on embedded defaults (SQLite, local git repositories, no credentials)
demo: $(STAMP)
	$(BIN)/launchpad plan examples/ranking-web.yaml --out .launchpad/plan

## test: the whole suite — ruff, mypy, pytest (what CI runs)
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check bot provisioners tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile

## golden: regenerate tests/golden/ from examples/ (review the diff before committing)
golden: $(STAMP)
	LAUNCHPAD_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden.py

## bench: run every benchmark, write bench/results/*.json and docs/performance.md
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .launchpad .pytest_cache .mypy_cache .ruff_cache
