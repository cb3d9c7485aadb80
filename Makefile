# The two commands a newcomer needs:
#   make run    run the service on the embedded default (SQLite file + embedded log, no Kafka)
#   make test   start Kafka and PostgreSQL where the machine allows, then ruff, mypy and pytest
# Benchmarks: make bench [BENCH_ARGS="flow|channels|router|email [options]"] (README)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest services services-down bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cskh serve

services:
	tests/services/services.sh up

services-down:
	tests/services/services.sh down

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	set -a; if [ -f .services/env ]; then . ./.services/env; fi; set +a; \
	$(BIN)/pytest $(PYTEST_ARGS)

test: $(STAMP) services lint typecheck pytest

bench: $(STAMP) services
	set -a; if [ -f .services/env ]; then . ./.services/env; fi; set +a; \
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
