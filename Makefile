# amxmodel: `make` lists the targets.
PY ?= python3

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lab lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: ## install the package with notebooks and test tools (plain pip)
	$(PY) -m pip install -e '.[dev]'

run: ## the main job: execute notebooks/01_sync_overhead.ipynb, export charts to reports/
	$(PY) -m amxmodel main

test: ## the full test suite, as CI runs it
	$(PY) -m pytest

test-fast: ## tests without the slow (statistical, notebook) ones
	$(PY) -m pytest -m "not slow"

lab: ## JupyterLab on notebooks/ with an 'amxmodel' kernel
	$(PY) -m ipykernel install --user --name amxmodel --display-name "amxmodel (Python 3)"
	$(PY) -m jupyter lab notebooks/

lint: ## ruff
	$(PY) -m ruff check amxmodel tests

bench: ## performance benchmark (ratios against baselines in the same run)
	$(PY) -m amxmodel bench

clean: ## remove generated reports and caches
	rm -rf reports/ .pytest_cache .hypothesis
