# The DP0 community portal. `make run` serves it; `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
PORT ?= 5000
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help install run test lint format docs docs-serve docs-clean bench bench-smoke test-e2e screenshots clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set, every process (gunicorn,
# the worker, each command) would otherwise compile what it imports from source on each start.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --compile-bytecode
	@touch $@

install: $(VENV)/.installed  ## Create the virtualenv with the locked dependencies

run: install docs  ## Migrate the SQLite database, create the first admin, serve the portal with its worker
	$(FLASK) portal bootstrap
	$(FLASK) portal serve --port $(PORT)

# One pytest-xdist worker per core (PYTEST_ARGS="-n 0": in this process; "-m 'not slow'": leave
# out the long tests).
test: install  ## Run the test suite (SQLite; also PostgreSQL when TEST_DATABASE_URL is set)
	$(VENV)/bin/pytest -n auto --ignore=tests/e2e $(PYTEST_ARGS)

lint: install  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install  ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# --- documentation site -------------------------------------------------------
# Options for docs/build.py, e.g. DOCS_ARGS="--jobs 1" (serial) or "--clear-cache" (cold).
DOCS_ARGS ?=

docs: install  ## Build the documentation site into docs/_build/html (executes the tutorials)
	$(PY) docs/build.py $(DOCS_ARGS)

docs-serve: docs  ## Serve the built documentation site on http://127.0.0.1:8000
	$(PY) -m http.server --directory docs/_build/html --bind 127.0.0.1 8000

docs-clean:  ## Remove the built site, the notebook cache and the sample data
	rm -rf docs/_build docs/_cache
	rm -f docs/tutorials/*.ipynb docs/tutorials/downloads/*.ipynb
	rm -rf docs/data-products/dp01 docs/data-products/sample

# --- benchmarks -----------------------------------------------------------------------------
# On the local PostgreSQL (BENCH_DATABASE_URL: a database to use instead, emptied first).
# SCENARIO=name runs one: signup_burst, queue_at_scale, slack_outage, crash_drill, docs_build.
SCENARIO ?=
BENCH_ARGS = $(if $(SCENARIO),--scenario $(SCENARIO))

bench: install  ## Benchmarks and failure drills (about 12 min); writes bench/results/latest.json
	$(PY) -m bench $(BENCH_ARGS)

bench-smoke: install  ## The same scenarios at tiny sizes, then check what they wrote (CI)
	$(PY) -m bench --smoke $(BENCH_ARGS)
	$(VENV)/bin/pytest bench

# --- end-to-end tests in Chromium ---------------------------------------------------------
# Debian's Chromium (/usr/bin/chromium, or E2E_CHROMIUM) drives the journeys; Playwright never
# downloads a browser. axe-core and the Nu Html Checker come from npm (package-lock.json); the
# checker runs on the machine's Java. Page screenshots and HTML go to test-artifacts/e2e/.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

test-e2e: install docs node_modules/.installed  ## Journeys in Chromium with axe-core, the Nu Html Checker and width checks
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

screenshots: install docs node_modules/.installed  ## Run the journeys and save the guides' screenshots (docs/guides/_static/screenshots)
	E2E_SCREENSHOT_DIR=docs/guides/_static/screenshots $(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

clean:  ## Remove the virtualenv and build outputs (keeps instance/ data)
	rm -rf $(VENV) .tools docs/_build .pytest_cache .mypy_cache .ruff_cache
