# HotCRM AI Cloud. `make run` serves, `make test` runs the whole suite; both set up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WORKERS ?= 3
export CACHE_KEY_PREFIX ?= hotcrm

.PHONY: setup lock lock-add run test bench bench-jobs load bench-ab bench-cache bench-monitoring bench-purge lint

# The venv holds exactly requirements.lock (uv pip sync: nothing more, nothing less).
$(VENV)/.installed: requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) scripts/lockfile.py install
	touch $@

setup: $(VENV)/.installed
	$(PY) scripts/lockfile.py check
	bash scripts/setup-assets

# Re-resolve every lock (project and bench venvs) to the newest versions pyproject.toml and
# bench/*.in allow, then install the result. `make lock-add` keeps the current pins and only
# resolves what was added.
lock: $(VENV)/.installed
	$(PY) scripts/lockfile.py compile --upgrade
	$(PY) scripts/lockfile.py install
	touch $(VENV)/.installed

lock-add: $(VENV)/.installed
	$(PY) scripts/lockfile.py compile
	$(PY) scripts/lockfile.py install
	touch $(VENV)/.installed

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py train_builtin_models --if-missing
	$(PY) manage.py create_api_token default --staff --if-first
	$(PY) manage.py create_first_admin
	VENV=$(VENV) PORT=$(PORT) WORKERS=$(WORKERS) bash scripts/run-service

test: setup
	bash scripts/setup-browser
	bash scripts/setup-promtool
	bash scripts/setup-bench
	bash scripts/setup-mlserver
	$(PY) manage.py collectstatic --noinput --verbosity 0
	CACHE_KEY_PREFIX=hotcrm-test-$$$$ $(PY) -m pytest

bench: setup
	bash scripts/setup-bench --mlflow
	$(PY) bench/run.py

# Bulk scoring: a 1,000,000-row file with one and two Celery workers vs `mlflow models predict`.
bench-jobs: setup
	bash scripts/setup-bench --mlflow
	$(PY) bench/jobs.py

bench-monitoring: setup
	$(PY) bench/monitoring.py

# Retention: 1,000,000 old log rows purged while single predictions are served; p99 with vs
# without the purge (bench/purge.py; run it once embedded and once with DATABASE_URL set).
bench-purge: setup
	$(PY) bench/purge.py

# 60 s of load on gunicorn: rate, errors, memory before/after (bench/load.py).
load: setup
	bash scripts/setup-bench
	$(PY) bench/load.py

bench-ab: setup
	$(PY) bench/ab_shadow.py

bench-cache: setup
	$(PY) bench/cache_bench.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/check-import-cycles
	$(VENV)/bin/mypy
