# LeaderForge: `make run` serves it, `make test` proves it. A bare `make` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# make test talks to real servers; override these to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/leaderforge
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.DEFAULT_GOAL := help
.PHONY: help run test test-postgres test-embedded check format bench bench-compare bench-deps services browser-deps nginx-deps postgres-deps backup restore clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime  ## Serve LeaderForge on http://127.0.0.1:$(PORT) with demo data (SQLite, no servers needed)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed --users 10000 --sessions 50000 --demo-boards --follows 5 --if-empty
	$(PY) manage.py demo_api_key --base-url http://127.0.0.1:$(PORT)
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

services:  ## Make sure PostgreSQL and Redis answer (start them if installed here)
	@bin/ensure-services

bench-deps:  ## Install wrk, the load generator of make bench
	@bin/ensure-wrk

browser-deps:  ## Install Debian's Chromium for the browser tests
	@bin/ensure-chromium

nginx-deps:  ## Install Debian's nginx for the reverse-proxy tests
	@bin/ensure-nginx

postgres-deps:  ## Install PostgreSQL's server programs for the backup, recovery and replica tests
	@bin/ensure-postgres-server

test: $(VENV)/.dev services browser-deps nginx-deps postgres-deps  ## Run the whole suite on PostgreSQL + Redis, then on the embedded default
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory test-embedded

test-postgres: $(VENV)/.dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

test-embedded: $(VENV)/.dev
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS)

check: $(VENV)/.dev  ## Lint, format check and type check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/hadolint Dockerfile

# BENCH_DATABASE_URL / BENCH_REDIS_URL choose the servers; BENCH_ARGS passes options (python -m bench.run -h),
# e.g. BENCH_ARGS=--write-docs to rewrite the figures in docs/PERFORMANCE.md. The fixed-rate generator is
# Python (aiohttp, uvloop: requirements-dev.txt).
bench: $(VENV)/.dev services bench-deps  ## Load-test gunicorn + PostgreSQL + Redis at 1M players (seeds once)
	$(PY) -m bench.run $(BENCH_ARGS)

bench-compare: $(VENV)/.dev services bench-deps  ## Compare gunicorn workers/threads and pooled vs persistent DB connections
	$(PY) -m bench.run --compare $(BENCH_ARGS)

# BACKUP_DATABASE_URL (else DATABASE_URL) is dumped; BACKUP_DIR (default backups/) receives the file.
backup:  ## Dump PostgreSQL to a timestamped pg_dump custom-format file under backups/
	@bin/backup

# RESTORE_DATABASE_URL (else DATABASE_URL) is the target; FORCE=1 replaces a database that holds tables.
restore:  ## Restore a dump: make restore FILE=backups/leaderforge-....dump (then rebuild_rank_index)
	@test -n "$(FILE)" || { echo "Usage: make restore FILE=backups/leaderforge-<time>.dump [FORCE=1]" >&2; exit 2; }
	@bin/restore "$(FILE)" $(if $(filter 1 true yes,$(FORCE)),--force) $(if $(JOBS),--jobs $(JOBS))

format: $(VENV)/.dev  ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## Remove the virtualenv, the SQLite file and caches
	rm -rf $(VENV) db.sqlite3 .pytest_cache .mypy_cache .ruff_cache staticfiles
