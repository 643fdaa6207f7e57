# Entry points. Each target sets up what it needs (idempotently): venv, packages, jars, services.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := $(CURDIR)/.state

export DAGSTER_HOME := $(STATE)/dagster
export SPARK_LOCAL_IP := 127.0.0.1
export PYSPARK_PYTHON := $(CURDIR)/$(BIN)/python

.PHONY: bootstrap system tools services migrate down status lint test screenshots demo clean

bootstrap: system $(VENV)/.installed tools $(DAGSTER_HOME)/dagster.yaml

system:
	@devstack/system-packages.sh

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

tools: $(VENV)/.installed
	$(BIN)/reelflow bootstrap

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

services: bootstrap
	$(BIN)/reelflow devstack up
	$(BIN)/reelflow migrate

status:
	$(BIN)/reelflow devstack status

down:
	$(BIN)/reelflow devstack down

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Brings the dev stack up, runs every test against it, and stops what it started.
test: bootstrap lint
	$(BIN)/reelflow devstack up
	status=0; $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/reelflow devstack down; exit $$status

# The README's pictures of the player and the Dagster asset graph, taken again by the browser
# tests that show them (other test runs leave theirs in .state/screenshots/).
screenshots: bootstrap
	$(BIN)/reelflow devstack up
	status=0; REELFLOW_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest \
		tests/e2e/test_player.py tests/e2e/test_dagster_ui.py tests/e2e/test_dashboard.py \
		|| status=$$?; \
	$(BIN)/reelflow devstack down; exit $$status

# Seeds a small library, materializes every asset, then serves the Dagster UI (:3000) and the
# API with the player (:8000) until Ctrl-C. A second run reuses what the first one made.
demo: bootstrap
	$(BIN)/reelflow demo $(DEMO_ARGS)

clean: down
	rm -rf $(STATE) $(VENV)
