# The single entry point for developers and CI. Every target that needs the environments brings them
# up to date first (scripts/bootstrap.sh and npm ci are quick when nothing changed), so on a fresh
# clone `make dev` and `make test` are all it takes.
#   make setup     build .venv and .venv-sam from the pinned requirements, npm ci for the web app
#   make test      what CI runs: lint, typecheck, validate, pytest, the web app's unit and browser tests
#   make build     sam build (no container)
#   make dev       the whole application on http://127.0.0.1:3000 (local stack, no Docker, no AWS account)
#   make invoke    one function with an event file: make invoke FN=thumbnailer EVENT=events/thumbnailer/s3-put.json
# PYTEST_ARGS passes options to pytest, e.g. `make test PYTEST_ARGS="-k storage -x"`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

VENV := .venv
VENV_SAM := .venv-sam
BIN := $(VENV)/bin
SAM := $(VENV_SAM)/bin/sam
TEMPLATE := template.yaml
TRANSLATED := .aws-sam/translated-template.yaml
PYTEST_ARGS ?=
# 1 makes problems in the SAM-translated template fail `make validate` (see the validate target).
STRICT_TRANSLATED ?= 1

# No SAM CLI telemetry (this network reaches package registries only); a region even for offline
# commands.
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help setup venvs test check pytest lint format typecheck validate build clean distclean dev invoke frontend \
	frontend-deps frontend-test e2e openapi events bench bench-deps bench-thumbnails bench-coldstart \
	bench-localstack bench-localstack-scale bench-live stress bench-capacity bench-export

help:
	@echo "make setup      create or update .venv and .venv-sam, and the web app's node_modules"
	@echo "                (every target below does this itself when needed)"
	@echo "make test       everything CI runs: check, pytest, the web app's unit and browser tests"
	@echo "make check      lint + typecheck + validate"
	@echo "make pytest     the Python suite only (PYTEST_ARGS=... passes options)"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make format     apply ruff's fixes and formatting"
	@echo "make typecheck  mypy --strict on the shared package, devstack and ops"
	@echo "make validate   sam validate --lint, cfn-lint on the template and on its SAM translation"
	@echo "make build      sam build (no container; uses the Python 3.12 that scripts/find-python312.sh finds)"
	@echo "make dev        run the local stack on http://127.0.0.1:3000 (PORT=... to change; builds the web app)"
	@echo "make invoke     FN=<function dir or logical id> EVENT=<events/...json>: run one function once"
	@echo "make frontend   build the web app into frontend/dist (npm ci when node_modules is missing)"
	@echo "make e2e        browser tests (headless Chromium) against a local stack started for them"
	@echo "make openapi    regenerate docs/openapi.json from the code"
	@echo "make bench      all benchmarks (bench-thumbnails, bench-coldstart, bench-localstack, bench-localstack-scale, bench-live, stress, bench-capacity, bench-export)"
	@echo "make clean      remove build output and tool caches (make distclean also removes the venvs)"

setup: venvs frontend-deps

# .venv and .venv-sam, created or brought up to date (a no-op when nothing changed): a prerequisite of
# every target that runs something from them.
venvs:
	scripts/bootstrap.sh

# Everything: static checks, the Python suite (incl. the local stack end to end), the web app's unit
# tests, then its browser tests in headless Chromium against a local stack.
test: setup check pytest frontend-test e2e

check: lint typecheck validate

pytest: venvs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venvs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venvs
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venvs
	$(BIN)/mypy --strict layers/shared/imagegen devstack ops

# cfn-lint checks SAM resources against SAM's schemas without running the transform, so the
# translated template (what CloudFormation really receives) is linted as well. That last check only
# warns unless STRICT_TRANSLATED=1, until the template's known findings are fixed.
validate: venvs
	$(SAM) validate --lint --template $(TEMPLATE)
	$(BIN)/cfn-lint $(TEMPLATE)
	$(VENV_SAM)/bin/python scripts/sam_translate.py $(TEMPLATE) $(TRANSLATED)
	@if ! $(BIN)/cfn-lint $(TRANSLATED); then \
		if [ "$(STRICT_TRANSLATED)" = "1" ]; then exit 1; fi; \
		echo "warning: the SAM-translated template has the cfn-lint findings above" \
			"(CloudFormation would hit them at deploy time); STRICT_TRANSLATED=1 makes this fatal" >&2; \
	fi

# sam build runs the python3.12 it finds on PATH (pip for the layer's requirements): put the
# interpreter find-python312.sh picked first, since a pyenv shim may shadow it and refuse to run.
build: venvs
	python312="$$(scripts/find-python312.sh)"; \
	PATH="$$(dirname "$$python312"):$$PATH" $(SAM) build --template $(TEMPLATE)

# ---- the local stack and the web app ---------------------------------------------------------------
FRONTEND_SOURCES := $(shell find frontend/src frontend/docs frontend/scripts frontend/index.html frontend/package.json frontend/vite.config.ts \
	-type f 2>/dev/null)

frontend-deps:
	@if command -v npm >/dev/null; then \
		if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules ]; then \
			(cd frontend && npm ci --no-audit --no-fund) && touch frontend/node_modules; fi; \
	else echo "npm not found: the web app will not be built (the API still runs)" >&2; fi

frontend/dist/index.html: $(FRONTEND_SOURCES) frontend/package-lock.json
	$(MAKE) frontend-deps
	cd frontend && npm run build

frontend: frontend/dist/index.html

frontend-test: frontend-deps
	cd frontend && npm test

dev: setup
	@if command -v npm >/dev/null; then $(MAKE) frontend; fi
	$(BIN)/python -m devstack.stack $(DEV_ARGS)

invoke: venvs
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=thumbnailer EVENT=events/thumbnailer/s3-put.json" >&2; exit 2; }
	$(BIN)/python -m devstack.stack.invoke $(FN) $(EVENT)

e2e: setup frontend
	scripts/e2e.sh

openapi: venvs
	$(BIN)/python scripts/openapi.py

events: venvs
	$(BIN)/python scripts/make_events.py

# ---- benchmarks (docs/performance.md): ratios against a baseline measured in the same run ------------
bench-deps: venvs
	@if ! ldconfig -p 2>/dev/null | grep -q libvips; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvips42 >/dev/null; \
		else echo "libvips is missing: install Debian's libvips42 for the thumbnail bench" >&2; exit 1; fi; fi
	$(BIN)/uv pip install --python $(BIN)/python -q -r bench/requirements.txt

bench-thumbnails: bench-deps
	$(BIN)/python bench/thumbnails.py --runs 9

bench-coldstart: build
	$(BIN)/python bench/coldstart.py --runs 15

bench-localstack: venvs
	$(BIN)/python bench/localstack_latency.py

bench-localstack-scale: venvs
	$(BIN)/python bench/localstack_scale.py

bench-live: venvs
	$(BIN)/python bench/live_updates.py

bench-export: venvs  # peak RSS of the exporter for a ~50 MB and a ~1 GB export (docs/performance.md)
	$(BIN)/python bench/export_memory.py --runs 3

stress: venvs
	$(BIN)/python bench/stress_coins.py

# A calculation, not a load test: the capacity model over the request-cost table (docs/performance.md, 4).
bench-capacity: venvs
	$(BIN)/python bench/capacity.py

bench: bench-thumbnails bench-coldstart bench-localstack bench-localstack-scale bench-live stress bench-capacity bench-export

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info layers/shared/*.egg-info
	find . -path ./frontend -prune -o -path './.venv*' -prune -o -name __pycache__ -type d -prune \
		-exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(VENV_SAM)
