# karma-pipelines: `make run` runs the whole pipeline on the embedded simulated world; `make test` tests it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION   := 0.13.9
PYTHON       ?= python3.11
KARMA_HOME   ?= $(CURDIR)/.karma
# SOURCE: simulator (default), events:/path/to/world or git:/path/to/repo (with LAYOUT=..., REF=...;
# LAYOUT may hold several layouts separated by ';': a file belongs to the first that matches)
SOURCE       ?= simulator
export DAGSTER_HOME := $(KARMA_HOME)/dagster
export KARMA_HOME
# The UIs' ports: `make ui` serves on them, and `make run` writes its links between the UIs for them.
DAGSTER_PORT ?= 3000
MLFLOW_PORT  ?= 5000
export KARMA_DAGSTER_UI_URL ?= http://127.0.0.1:$(DAGSTER_PORT)
export KARMA_MLFLOW_UI_URL  ?= http://127.0.0.1:$(MLFLOW_PORT)
# uv from PATH, else a private copy installed from PyPI into .karma/tools.
UV := $(or $(shell command -v uv 2>/dev/null),$(KARMA_HOME)/tools/bin/uv)

.PHONY: help setup browser run test ui bench bench-real lint format clean

help:
	@echo "make run    # set up, then run the whole pipeline on the embedded simulated world"
	@echo "make test   # set up, then run the tests"
	@echo "make ui     # Dagster (127.0.0.1:\$$DAGSTER_PORT, 3000) and MLflow (\$$MLFLOW_PORT, 5000); make ui-stop"
	@echo "make bench  # benchmark figures"
	@echo "make bench-real REPOS='owner/name ...'  # figures on fetched real repositories (assets/bench/real_repos.yaml)"

$(KARMA_HOME)/tools/bin/uv:
	$(PYTHON) -m venv $(KARMA_HOME)/tools
	$(KARMA_HOME)/tools/bin/pip install --quiet uv==$(UV_VERSION)

setup: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@$(UV) run --frozen python -m compileall -q karma_pipelines  # imports stay fast even where PYTHONDONTWRITEBYTECODE is set
	@mkdir -p $(DAGSTER_HOME)
	@cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

run: setup
	$(UV) run --frozen karma-pipelines run --source '$(SOURCE)' --home $(KARMA_HOME) \
		$(if $(LAYOUT),--layout '$(LAYOUT)') $(if $(REF),--ref '$(REF)')

# The live UI test drives Debian's Chromium: install it when missing and possible (root + apt);
# without it the browser tests skip themselves with a message.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian) for the browser test"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser tests will be skipped"; \
	  else echo "chromium not found: the browser tests will be skipped"; fi; \
	fi

test: setup browser
	$(UV) run --frozen ruff check .
	$(UV) run --frozen pytest

ui: setup
	$(UV) run --frozen karma-pipelines ui --home $(KARMA_HOME) \
		--dagster-port $(DAGSTER_PORT) --mlflow-port $(MLFLOW_PORT)

# Stops a running `make ui` (SIGTERM to the pid in $(KARMA_HOME)/ui.pid) and whatever is left of both servers.
.PHONY: ui-stop
ui-stop:
	$(UV) run --frozen python -m karma_pipelines.apps.ui stop --home $(KARMA_HOME)

bench: setup
	$(UV) run --frozen python -m karma_pipelines.bench

# Real repositories fetched outside the checkout (KARMA_REAL_MIRROR, default /work/.mirror); REPOS names
# some of assets/bench/real_repos.yaml (default: all), SECTIONS=suggester or forecaster (default: both).
bench-real: setup
	$(UV) run --frozen python -m karma_pipelines.bench.real $(REPOS) $(foreach s,$(SECTIONS),--section=$(s))

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

format: setup
	$(UV) run --frozen ruff format .

clean:
	rm -rf $(KARMA_HOME)/dagster $(KARMA_HOME)/mlflow.db $(KARMA_HOME)/mlartifacts $(KARMA_HOME)/world
