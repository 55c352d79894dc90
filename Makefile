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

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups
	@touch $@

install: $(VENV)/.installed  ## Create the virtualenv with the locked dependencies

run: install docs  ## Migrate the SQLite database, create the first admin, serve the portal with its worker
	$(FLASK) portal bootstrap
	$(FLASK) portal serve --port $(PORT)

test: install  ## Run the test suite (SQLite; also PostgreSQL when TEST_DATABASE_URL is set)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

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

clean:  ## Remove the virtualenv and build outputs (keeps instance/ data)
	rm -rf $(VENV) .tools docs/_build .pytest_cache .mypy_cache .ruff_cache
