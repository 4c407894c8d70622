# The two commands: `make demo` and `make test`. Everything else supports them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
REDIS_URL ?= redis://127.0.0.1:6379/0
export FL5G_TEST_REDIS_URL ?= $(REDIS_URL)

.PHONY: demo test venv dev system-deps redis lint typecheck pytest bench clean openapi

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned, so that nothing later can pull a CUDA build
	$(BIN)/pip install -q torch==2.13.0

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

# Debian packages the tests use: redis-server, the Fashion-MNIST images, prometheus + promtool.
system-deps:
	@bash scripts/system-deps.sh

redis:
	@bash scripts/ensure-redis.sh "$(REDIS_URL)"

demo: venv system-deps
	$(BIN)/fl5g demo --report out

lint: dev
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: dev system-deps redis
	$(BIN)/python -m pytest

test: dev system-deps redis
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

openapi: dev
	$(BIN)/python -m af_server.openapi && $(BIN)/python -m nef_mock.openapi

bench: venv system-deps
	for b in rounds transfer radio compression selection timeline load; do $(BIN)/python -m bench.$$b --quick || exit 1; done

clean:
	rm -rf $(VENV) out var .pytest_cache .mypy_cache .ruff_cache
