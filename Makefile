# Two commands matter: `make run` (the whole stack, no Docker) and
# `make test` (the whole suite, from a fresh clone).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKERS ?= 2
REDIS_PORT ?= 6379
PYTEST_ARGS ?=

.PHONY: help venv deps redis run test test-unit test-integration test-browser bench bench-quick bench-big clean

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

# The web page in headless Chromium (Debian's chromium; `make test` runs these too).
test-browser: deps
	$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache

# --- The Docker stack (fig.yml; see docs/containers.rst) --------------------
# `docker compose` (v2) when it answers, else docker-compose (1.29).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILES ?= -f fig.yml
# `make base-images` records the local base images (PYTHON_IMAGE,
# REDIS_IMAGE) in .env.local; every compose target below then uses them.
-include .env.local
ifdef PYTHON_IMAGE
export PYTHON_IMAGE
endif
ifdef REDIS_IMAGE
export REDIS_IMAGE
endif

.PHONY: up up-local down scale logs ps docker-engine base-images test-containers

up:
	$(COMPOSE) $(COMPOSE_FILES) up -d --build --scale worker=$(WORKERS)

# The same with local debootstrap base images (no registry needed).
up-local: base-images
	set -a && . ./.env.local && set +a && \
	  $(COMPOSE) $(COMPOSE_FILES) up -d --build --scale worker=$(WORKERS)

down:
	$(COMPOSE) $(COMPOSE_FILES) down -v

scale:
	$(COMPOSE) $(COMPOSE_FILES) up -d --no-recreate --scale worker=$(WORKERS)

logs:
	$(COMPOSE) $(COMPOSE_FILES) logs -f --tail=100

ps:
	$(COMPOSE) $(COMPOSE_FILES) ps

docker-engine:
	bash .ci/docker-engine.sh

base-images: docker-engine
	bash .ci/base-images.sh --env-file .env.local

test-containers: venv docker-engine
	REQUIRE_CONTAINERS=1 $(PY) -m pytest -m containers tests/containers $(PYTEST_ARGS)

# --- Benchmarks against Scrapy (bench/README.rst) ----------------------------
# Scrapy and py-spy live in their own venv, never in the runtime one.
BENCH_VENV := bench/.venv
BENCH_ARGS ?=

.PHONY: bench-deps

$(BENCH_VENV)/.installed: bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $@

# wrk is optional: without it the API load test uses a Python client.
bench-deps: deps $(BENCH_VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing wrk with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || true; \
	  fi; \
	  command -v wrk >/dev/null 2>&1 || echo "wrk is not installed: the API load test uses its Python client"; }

bench: bench-deps
	$(PY) -m bench.run $(BENCH_ARGS)

bench-quick: bench-deps
	$(PY) -m bench.run --quick $(BENCH_ARGS)

bench-big: bench-deps
	$(PY) -m bench.run --big $(BENCH_ARGS)

# What each fault (kill -9, SIGSTOP, restarts) adds to a job, with the
# default settings; needs no Scrapy (bench/README.rst).
.PHONY: bench-faults

bench-faults: deps
	$(PY) -m bench.faults $(BENCH_ARGS)
