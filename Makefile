# The commands people type. `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
PORT ?= 7071
PYTEST_ARGS ?=

CITY_DB := data/cities.sqlite3

.PHONY: install run test test-unit test-integration test-e2e bench lint typecheck clean outbox city-index

install: $(STAMP_PY) $(STAMP_NODE)

# The city index database: a build output (git-ignored) of the tracked GeoNames rows, built
# when missing or older than its inputs. azd builds it in its prepackage hook (azure.yaml),
# the Dockerfile in the image.
city-index: $(CITY_DB)

$(CITY_DB): data/cities15000.json.gz shared/adapters/city_index_build.py | $(STAMP_PY)
	$(PY) -m shared.adapters.city_index_build --output $@

$(STAMP_PY): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

local.settings.json: local.settings.example.json | $(STAMP_PY)
	$(PY) -m devtools.settings_init

run: install local.settings.json $(CITY_DB)
	$(PY) -m devtools.run --port $(PORT)

test: install $(CITY_DB)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install $(CITY_DB)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install $(CITY_DB)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: install $(CITY_DB)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

outbox: install
	$(PY) -m devtools.outbox

bench: install $(CITY_DB)
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

clean:
	rm -rf $(CITY_DB) $(VENV) node_modules .azurite .outbox .pytest_cache .mypy_cache .ruff_cache
