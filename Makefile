# The single entry point for developers and CI.
#   make setup     build .venv and .venv-sam from the pinned requirements (fast when nothing changed)
#   make test      what CI runs: lint, typecheck, validate, then the test suite
#   make build     sam build (no container)
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

.PHONY: help setup test lint format typecheck validate build clean distclean

help:
	@echo "make setup      create or update .venv and .venv-sam"
	@echo "make test       lint + typecheck + validate + pytest (what CI runs)"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make format     apply ruff's fixes and formatting"
	@echo "make typecheck  mypy --strict on the shared package"
	@echo "make validate   sam validate --lint, cfn-lint on the template and on its SAM translation"
	@echo "make build      sam build (no container; uses the Python 3.12 that scripts/find-python312.sh finds)"
	@echo "make clean      remove build output and tool caches (make distclean also removes the venvs)"

setup:
	scripts/bootstrap.sh

# The virtual environments are made by `make setup`; say so instead of failing with "not found".
$(BIN)/python $(SAM):
	@echo "error: $@ is missing; run 'make setup' first" >&2; exit 1

test: lint typecheck validate | $(BIN)/python
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: | $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: | $(BIN)/python
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: | $(BIN)/python
	$(BIN)/mypy --strict layers/shared/imagegen

# cfn-lint checks SAM resources against SAM's schemas without running the transform, so the
# translated template (what CloudFormation really receives) is linted as well. That last check only
# warns unless STRICT_TRANSLATED=1, until the template's known findings are fixed.
validate: | $(BIN)/python $(SAM)
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
build: | $(SAM)
	python312="$$(scripts/find-python312.sh)"; \
	PATH="$$(dirname "$$python312"):$$PATH" $(SAM) build --template $(TEMPLATE)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info layers/shared/*.egg-info
	find . -path ./frontend -prune -o -path './.venv*' -prune -o -name __pycache__ -type d -prune \
		-exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(VENV_SAM)
