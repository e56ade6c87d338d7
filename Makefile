# syncsched: `make demo` shows it live, `make test` proves it. Both set up what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What syncsched runs on; what its tests need besides (pgTAP, plpgsql_check, a browser, a failover monitor).
RUN_PACKAGES := postgresql-15 postgresql-15-cron
DEB_PACKAGES := $(RUN_PACKAGES) postgresql-15-pgtap postgresql-15-plpgsql-check \
                libtap-parser-sourcehandler-pgtap-perl chromium postgresql-15-auto-failover
SQL_DIRS := migrations plpgsql sql

.PHONY: help setup system-packages venv demo test lint pytest bench soak schema clean

help:
	@echo "make demo   - the whole system live on an embedded PostgreSQL with pg_cron"
	@echo "make test   - lint, type check, SQL lint, plpgsql_check, pgTAP and pytest"
	@echo "make setup  - install Debian packages when missing and the .venv"
	@echo "make bench  - benchmarks, results in tests/bench/results/ (make bench web: one of them)"
	@echo "make soak   - the reliability battery (SOAK_ARGS=\"--minutes 10\"), tests/bench/results/soak.json;"
	@echo "              make soak FAILOVER=1: a primary killed, its standby promoted 76 s later"
	@echo "make schema - write tests/schema.sql anew (pg_dump --schema-only of a fresh migrate)"

setup: system-packages $(STAMP)

# Installs the Debian packages that are missing (apt-get update first); elsewhere, says what to install.
system-packages:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "syncsched needs PostgreSQL 15 with pg_cron, pgTAP, plpgsql_check and pg_prove."; \
	  echo "This machine has no apt-get: install the equivalents of:$$missing"; \
	  echo "then set SYNCSCHED_PG_BINDIR to the folder of initdb and pg_ctl if it is not on PATH."; \
	  exit 1; \
	fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	echo "installing Debian packages:$$missing"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# make demo DEMO_ARGS="--duration 120 --orgs 20" (installs what syncsched runs on, not the test tools)
demo: DEB_PACKAGES := $(RUN_PACKAGES)
demo: setup
	$(BIN)/syncsched demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check --no-cache python_shim tests
	$(BIN)/ruff format --no-cache --check python_shim tests
	$(BIN)/mypy
	$(BIN)/sqlfluff lint --processes 2 $(SQL_DIRS)

# Two pytest processes, each with its own PostgreSQL, one test file apiece at a time: most of the
# slow tests wait for the clock (pg_cron's minute, leases, a demo's two minutes), not for a core.
# (PYTEST_WORKERS=0, or empty: one process.)
PYTEST_WORKERS ?= 2

pytest: setup
	$(BIN)/pytest -n $(or $(PYTEST_WORKERS),0) --dist loadfile --durations=15 tests

test: lint pytest

# make bench [NAME ...] (or BENCH="NAME ..."): the names after `bench` are benchmarks, not targets
BENCH_NAMES := $(BENCH) $(if $(filter bench,$(firstword $(MAKECMDGOALS))),$(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS)))
ifeq (bench,$(firstword $(MAKECMDGOALS)))
$(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS)):
	@:
endif

bench: setup
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python tests/bench/run.py $(BENCH_NAMES)

# The reliability battery: faults on an accelerated clock, 10 minutes unless SOAK_ARGS says otherwise.
soak: setup
ifeq ($(FAILOVER),1)
	SYNCSCHED_FAILOVER_OUTAGE=76 $(BIN)/pytest -q -s tests/integration/test_failover.py -k primary_killed
else
	$(BIN)/python tests/bench/soak.py $(SOAK_ARGS)
endif

# The committed schema dump: make test fails when the migrations or plpgsql/ change it and it was not rewritten.
schema: setup
	SYNCSCHED_WRITE_SCHEMA=1 $(BIN)/pytest -q tests/integration/test_migrate.py -k committed_schema

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
