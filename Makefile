# listings-pipeline: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LISTINGS := $(BIN)/listings
PG_MAJOR ?= 15
POSTGIS_CONTROL := /usr/share/postgresql/$(PG_MAJOR)/extension/postgis.control
export LISTINGS_HOME ?= $(CURDIR)/.listings
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: help install system-deps browser-deps demo stop status docs test test-fast test-unit lint pre-commit format bench bench-deps bench-real lock clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The pinned set as it is, without resolving it again (requirements.txt is complete: `pip check` proves it),
# installed by uv: it downloads and unpacks in parallel where pip goes one package at a time (a fresh venv:
# 1:50 with pip, about 30 s with uv). Byte-code stays compiled at install: with PYTHONDONTWRITEBYTECODE set
# (as on this machine) Python would otherwise compile Airflow, dbt and pandas again in every process (an
# import of them: 4 s -> 9 s).
UV_VERSION := 0.13.10
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) --compile-bytecode -r requirements.txt
	$(UV) -e .
	$(BIN)/pip check
	@touch $@

install: $(STAMP) system-deps  ## Create .venv with the pinned requirements; install PostGIS if missing

system-deps:  ## Debian packages the pipeline needs (PostGIS for PostgreSQL $(PG_MAJOR))
	@test -f $(POSTGIS_CONTROL) || { \
	  echo "Installing postgresql-$(PG_MAJOR)-postgis-3 ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-$(PG_MAJOR)-postgis-3; }

browser-deps:  ## Debian's Chromium, which the browser tests drive through Playwright (no browser download)
	@test -x /usr/bin/chromium || { \
	  echo "Installing chromium ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The demo's credentials for its local source sites (not secrets: only the demo sites accept them), and
# geotagging against the local Places stand-in, never Google. Set for `make demo` only.
demo: export AIRFLOW_CONN_LISTINGS_DEMO_AFFILIATE ?= {"conn_type": "http", "password": "demo-key"}
demo: export AIRFLOW_CONN_LISTINGS_DEMO_HERE ?= {"conn_type": "http", "password": "demo-key"}
demo: export AIRFLOW_CONN_GOOGLE_PLACES ?= {"conn_type": "http", "password": "demo-key"}
demo: export LISTINGS_GEOCODER_URL ?= http://127.0.0.1:8765
demo: install  ## Local PostgreSQL and demo source sites, migrate, load and run every sample DMO, serve Airflow
	$(LISTINGS) db start --database listings --database airflow
	$(LISTINGS) demo-sites start
	$(LISTINGS) db migrate
	$(LISTINGS) config apply include/config/dmos
	@for dmo in $$($(LISTINGS) config list --json | $(BIN)/python -c 'import json,sys; print(" ".join(str(c["dmo"]["id"]) for c in json.load(sys.stdin) if c["active"]))'); do \
	  echo "== listings run $$dmo"; $(LISTINGS) run $$dmo || exit 1; echo; done
	$(LISTINGS) airflow start --demo-logins

stop:  ## Stop Airflow, the demo sites and the local PostgreSQL (all data is kept under .listings/)
	-$(LISTINGS) airflow stop
	-$(LISTINGS) demo-sites stop
	-$(LISTINGS) db stop

status:  ## Show what runs
	-$(LISTINGS) db status
	-$(LISTINGS) airflow status

docs: install  ## dbt docs (models, sources, lineage) from the local database, served on http://127.0.0.1:8081
	$(LISTINGS) db start --database listings
	$(LISTINGS) db migrate
	$(LISTINGS) dbt run
	$(LISTINGS) dbt docs generate
	@echo "dbt docs: http://127.0.0.1:8081/  (Ctrl-C stops the server)"
	$(LISTINGS) dbt docs serve --host 127.0.0.1 --port 8081 --no-browser

# The project's own modules compiled once: with PYTHONDONTWRITEBYTECODE set, each of the suite's subprocesses
# (Airflow's tasks, crawls, promotions) would compile them again.
COMPILE_PROJECT = $(BIN)/python -m compileall -q include plugins dags scrapers > /dev/null

# One pytest worker more than the machine has cores: a test spends about a quarter of its time waiting on
# the servers and subprocesses it starts (PostgreSQL, Airflow, Chromium, dbt), and the spare worker uses it
# (on 2 cores: 13.5 CPU-minutes either way; 9:30 of pytest on 2 workers, 8:32 on 3).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: install browser-deps  ## The whole test suite (starts its own PostgreSQL, S3 server, Airflow and Chromium); PYTEST_ARGS=... adds pytest options
	@$(COMPILE_PROJECT)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test-fast: install  ## Unit and integration tests (no Airflow, no browser: the e2e marker)
	@$(COMPILE_PROJECT)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "unit or integration" $(PYTEST_ARGS)

test-unit: install  ## Unit tests only (no database): seconds
	$(BIN)/pytest -n auto -m unit $(PYTEST_ARGS)

lint: install  ## ruff (incl. Airflow 3 rules), mypy, import-linter contracts, sqlfluff on the dbt SQL
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/sqlfluff lint dbt/models dbt/tests

pre-commit: install  ## Install the git pre-commit hook (the checks of make lint on the changed files)
	$(BIN)/pre-commit install

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## Ingest benchmark at 100,000 rows (prints figures)
	$(BIN)/python bench/ingest.py --rows 100000

bench-deps: install  ## Bench-only packages (Splink, DuckDB) from requirements-bench.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-bench.txt

bench-real: bench-deps  ## Real-data matching bench: the product vs Splink on public listings, both import orders
	$(BIN)/python bench/matching_real.py --order both

lock:  ## Re-resolve requirements.txt from pyproject.toml in a scratch venv
	rm -rf /tmp/listings-lock && $(PYTHON) -m venv /tmp/listings-lock
	/tmp/listings-lock/bin/pip install --quiet --upgrade pip
	/tmp/listings-lock/bin/pip install --quiet -e '.[dev]'
	{ echo "# Pinned, resolved set for Python 3.11 (pip freeze of a clean install of the top-level"; \
	  echo "# requirements in pyproject.toml). Regenerate with: make lock"; \
	  /tmp/listings-lock/bin/pip freeze --exclude-editable; } > requirements.txt

clean:  ## Remove the venv and caches (keeps .listings data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dbt/target dbt/logs
