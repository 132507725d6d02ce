# The commands people type. `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
PORT ?= 7071
PYTEST_ARGS ?=
# make test runs on this many pytest-xdist workers (auto: one per core); each worker starts
# its own Azurite and servers on free ports. Most tests wait on servers, so more workers
# than cores can pay on a quiet machine (TEST_WORKERS=4); 0 runs in one process.
TEST_WORKERS ?= auto
# Branch coverage of the app, its tools and the local host's subprocesses may not fall
# below this (docs/benchmarks.md, "The test suite"): raise it when coverage rises.
COVERAGE_FLOOR ?= 90

CITY_DB := data/cities.sqlite3

.PHONY: install run test test-fast test-unit test-integration test-e2e bench lint typecheck clean outbox city-index

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

# --dist loadscope keeps a module's tests (and its module-scoped servers) on one worker.
test: install $(CITY_DB)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope \
		--cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

# The loop while coding (under a minute): unit tests and the contract suites (fakes and
# adapters on Azurite), no app process, no browser.
FAST_TESTS := tests/unit $(sort $(wildcard tests/integration/test_*_contract.py))

test-fast: install $(CITY_DB)
	$(PY) -m pytest -n auto $(FAST_TESTS) $(PYTEST_ARGS)

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
	rm -rf $(CITY_DB) $(VENV) node_modules .azurite .outbox .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
