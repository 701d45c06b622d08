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

.PHONY: help setup browser postgres run run-prod stop-prod test ui bench bench-real lint format clean

help:
	@echo "make run    # set up, then run the whole pipeline on the embedded simulated world"
	@echo "make test   # set up, then run the tests"
	@echo "make run-prod  # the same run on PostgreSQL + an MLflow server + a Dask cluster (.karma/prod); make stop-prod"
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

# $(call install_missing,PACKAGE,TEST,WHAT): when TEST fails, install Debian's PACKAGE if possible (root
# and apt), else say that WHAT will be skipped (those tests skip themselves with a message).
define install_missing
	@if ! ( $(2) ) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(1) (Debian) for $(3)"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null) \
	      || echo "$(1) could not be installed: $(3) will be skipped"; \
	  else echo "$(1) not found: $(3) will be skipped"; fi; \
	fi
endef

# The live UI test drives Debian's Chromium: install it when missing and possible (root + apt);
# without it the browser tests skip themselves with a message.
browser:
	$(call install_missing,chromium,command -v chromium,the browser tests)

# The prod profile and its tests need PostgreSQL's server: Debian's package, installed when missing and
# possible (root + apt); without it the PostgreSQL tests skip themselves with a message.
postgres:
	$(call install_missing,postgresql,command -v initdb || ls /usr/lib/postgresql/*/bin/initdb,the PostgreSQL tests)

# The production stack on this machine (KARMA_PROFILE=prod, see README "Production profile"): PostgreSQL,
# an MLflow server on it and a Dask LocalCluster of two workers, left running under $(KARMA_HOME)/prod;
# then the same `run` there (the Dagster instance on PostgreSQL, the multiprocess executor).
run-prod: setup postgres
	$(UV) run --frozen python -m karma_pipelines.apps.prod start --home $(KARMA_HOME)
	set -a && . $(KARMA_HOME)/prod/stack.env && set +a && \
	  $(UV) run --frozen karma-pipelines run --source '$(SOURCE)' --home $(KARMA_HOME)/prod \
		$(if $(LAYOUT),--layout '$(LAYOUT)') $(if $(REF),--ref '$(REF)')

# Stops what `make run-prod` started, by the process ids in $(KARMA_HOME)/prod/prod.pid.
stop-prod:
	$(UV) run --frozen python -m karma_pipelines.apps.prod stop --home $(KARMA_HOME)

test: setup browser postgres
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
