# Ordo developer entry points. `make up` runs the stack, `make test` runs every gate and test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export UV_VERSION := 0.13.8
# uv from PATH or ~/.local/bin, installed with pip (pinned) when missing.
ifeq ($(origin UV), undefined)
UV := $(shell infra/bin/ensure-uv.sh)
endif
PYTEST_WORKERS ?= auto
export UV_PYTHON := 3.11
# Use the machine's Python 3.11; never download one.
export UV_PYTHON_DOWNLOADS := never

# Each area's own targets live in make/<area>.mk. An area adds a quality gate to `make test` with
# `TEST_GATES += <target>` (run after the stack is up, before the tests) and work to run after
# the tests with `TEST_AFTER += <target>`.
# Servers an area adds to the local stack: `INFRA_UP += <target>` (run at the end of infra-up),
# `INFRA_DOWN += <target>` (run first in infra-down), `STATUS += <target>` (in make status).
TEST_GATES :=
TEST_AFTER :=
INFRA_UP :=
INFRA_DOWN :=
STATUS :=
include $(sort $(wildcard make/*.mk))

.PHONY: help bootstrap infra-up infra-down migrate topics up down status logs lint fmt test \
        test-unit test-integration

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

bootstrap: ## install uv (pinned) and the locked Python environment
	@$(UV) sync --frozen --quiet
	@[ -d tools/asyncapi/node_modules/@asyncapi/parser ] || npm ci --prefix tools/asyncapi --ignore-scripts --silent
	@[ tools/docs/node_modules/.package-lock.json -nt tools/docs/package-lock.json ] || npm ci --prefix tools/docs --ignore-scripts --silent

infra-up: bootstrap ## install (if missing) and start PostgreSQL, Redis and Kafka; create topics
	@infra/postgres/ctl.sh up
	@infra/redis/ctl.sh up
	@infra/kafka/ctl.sh up
	@infra/kafka/ctl.sh topics
	@infra/prometheus/ctl.sh up
	@$(if $(strip $(INFRA_UP)),$(MAKE) --no-print-directory $(INFRA_UP),true)

infra-down: ## stop PostgreSQL, Redis and Kafka (and Prometheus, Alertmanager)
	@$(if $(strip $(INFRA_DOWN)),$(MAKE) --no-print-directory $(INFRA_DOWN),true)
	@infra/prometheus/ctl.sh stop
	@infra/kafka/ctl.sh stop
	@infra/redis/ctl.sh stop
	@infra/postgres/ctl.sh stop

migrate: ## apply every service's migrations to its own database
	@infra/services.sh migrate

topics: ## apply infra/kafka/topics.toml to the local broker
	@infra/kafka/ctl.sh topics

up: infra-up migrate ## run the whole stack: servers, migrations, every service process
	@infra/services.sh start
	@$(MAKE) --no-print-directory status

down: ## stop every process of ours (services first, then servers)
	@infra/services.sh stop
	@$(MAKE) --no-print-directory infra-down

status: ## what runs where
	@infra/postgres/ctl.sh status
	@infra/redis/ctl.sh status
	@infra/kafka/ctl.sh status
	@infra/prometheus/ctl.sh status
	@$(if $(strip $(STATUS)),$(MAKE) --no-print-directory $(STATUS),true)
	@infra/services.sh status

logs: ## follow every log of the local stack
	@tail -n 20 -F .data/logs/*.log

lint: bootstrap ## ruff (lint + format check), mypy, bandit, import-linter
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy libs/shared/src services/*/src infra/fakes/*/src tools/ops/src
	$(UV) run --frozen bandit -q -c pyproject.toml -r libs/shared/src services/*/src infra/fakes/*/src tools/ops/src
	$(UV) run --frozen lint-imports

fmt: bootstrap ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

test: up lint contracts-check docs-check browser $(TEST_GATES) ## every quality gate, then all tests (e2e against the running stack)
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) -m "not serial" libs services infra/fakes tests
	$(UV) run --frozen pytest -m serial tests/e2e
	@$(if $(strip $(TEST_AFTER)),$(MAKE) --no-print-directory $(TEST_AFTER),true)

test-unit: bootstrap ## only the IO-free unit tests
	$(UV) run --frozen pytest -n $(PYTEST_WORKERS) -m "not integration and not e2e" libs services infra/fakes

.PHONY: contracts contracts-check

contracts: bootstrap ## regenerate models (contracts/generated) and the /v1 client (clients/python/generated)
	$(UV) run --frozen python tools/contracts/codegen.py

contracts-check: bootstrap ## fail if the generated models or client differ from what the contracts give
	$(UV) run --frozen python tools/contracts/codegen.py --check

.PHONY: docs docs-check browser

docs: bootstrap ## rebuild tools/docs/site (error pages, event catalogue, start page) from the sources
	$(UV) run --frozen python tools/docs/site.py

docs-check: bootstrap ## fail if tools/docs/site differs from what the error tree and contracts give
	$(UV) run --frozen python tools/docs/site.py --check

browser: ## install Debian's chromium (when missing) for the browser tests of /docs
	@tools/docs/ensure-chromium.sh

.PHONY: bench-outbox bench-saga
bench-outbox: bootstrap ## outbox relay vs raw aiokafka and faststream-outbox; latency; inbox cost
	$(UV) run --frozen python bench/outbox/run.py

bench-saga: up ## CPU per order vs bare, capacity, 2x overload (BENCH_SAGA_ARGS="--quick", "--help")
	@bench/tools/ensure.sh
	$(UV) run --frozen python bench/saga/run.py $(BENCH_SAGA_ARGS)
