# HotCRM AI Cloud. `make run` serves, `make test` runs the whole suite; both set up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WORKERS ?= 3
export CACHE_KEY_PREFIX ?= hotcrm

.PHONY: setup run test bench load bench-ab bench-cache bench-monitoring lint

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(VENV)/.installed
	bash scripts/setup-assets

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py train_builtin_models --if-missing
	$(PY) manage.py create_api_token default --staff --if-first
	$(VENV)/bin/gunicorn hotcrm_ai.wsgi --config gunicorn.conf.py --bind 127.0.0.1:$(PORT) --workers $(WORKERS)

test: setup
	bash scripts/setup-browser
	bash scripts/setup-bench
	bash scripts/setup-mlserver
	$(PY) manage.py collectstatic --noinput --verbosity 0
	CACHE_KEY_PREFIX=hotcrm-test-$$$$ $(PY) -m pytest

bench: setup
	bash scripts/setup-bench
	$(PY) bench/run.py

bench-monitoring: setup
	$(PY) bench/monitoring.py

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
