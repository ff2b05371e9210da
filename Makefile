# Two commands matter: `make run` (the whole stack, no Docker) and
# `make test` (the whole suite, from a fresh clone).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKERS ?= 2
REDIS_PORT ?= 6379
PYTEST_ARGS ?=

.PHONY: help venv deps redis run test test-unit test-integration bench bench-quick bench-big clean

help:
	@echo "make run        start redis-server, the API and WORKERS=$(WORKERS) workers locally"
	@echo "make test       set up everything and run the whole test suite"
	@echo "make up / down / scale WORKERS=N   the Docker stack (fig.yml)"
	@echo "make bench-quick / bench / bench-big   benchmarks against Scrapy"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: install it (e.g. sudo apt-get install redis-server) and retry" >&2; exit 1; \
	  fi; }

deps: venv redis

run: deps
	WORKERS=$(WORKERS) REDIS_PORT=$(REDIS_PORT) $(PY) -m tools.runstack

test: deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: deps
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
