# amxmodel: `make` lists the targets. Everything runs in a virtual environment (.venv),
# so the distribution's own python3 works (PEP 668).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lab lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(PY) ## install the package with notebooks, test and lint tools into .venv
	$(PY) -m pip install -q -e '.[dev]'

run: $(PY) ## the main job: execute notebooks/01_sync_overhead.ipynb, export charts to reports/
	$(PY) -m pip install -q -e '.[notebooks]' && $(VENV)/bin/amxmodel main

test: $(PY) ## the full test suite, as CI runs it
	$(PY) -m pip install -q -e '.[test]' && $(PY) -m pytest

test-fast: $(PY) ## tests without the slow (statistical, notebook) ones
	$(PY) -m pytest -m "not slow"

lab: $(PY) ## JupyterLab on notebooks/ with an 'amxmodel' kernel
	$(PY) -m ipykernel install --user --name amxmodel --display-name "amxmodel (Python 3)"
	$(PY) -m jupyter lab notebooks/

lint: $(PY) ## ruff and the layering contract
	$(PY) -m ruff check amxmodel tests
	$(VENV)/bin/lint-imports

bench: $(PY) ## performance benchmark (ratios against floors measured in the same run)
	$(VENV)/bin/amxmodel bench

clean: ## remove generated reports and caches
	rm -rf reports/ .pytest_cache .hypothesis
