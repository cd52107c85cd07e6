# gitlab-ha: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo

.PHONY: help sysdeps venv test check pytest demo bench clean

help:
	@echo "make demo   install what is needed, then render the seed's 15-node cluster and show it"
	@echo "make test   install what is needed, then run ruff, mypy and the whole test suite"
	@echo "make bench  print the performance figures of bench/"

sysdeps:
	@scripts/install-system-deps.sh

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

check: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

pytest: sysdeps venv
	$(BIN)/pytest -q

test: sysdeps venv check pytest

demo: sysdeps venv
	@mkdir -p $(DEMO)
	@if [ ! -f $(DEMO)/cluster.yml ]; then $(BIN)/gitlab-ha init --preset seed-15 -o $(DEMO)/cluster.yml; fi
	@if [ ! -f $(DEMO)/secrets.json ]; then $(BIN)/gitlab-ha secrets init --store $(DEMO)/secrets.json; fi
	$(BIN)/gitlab-ha render $(DEMO)/cluster.yml --secrets $(DEMO)/secrets.json -o $(DEMO)/out
	$(BIN)/gitlab-ha show $(DEMO)/cluster.yml
	@echo
	@echo "Rendered files are in $(DEMO)/out; the ordered steps are in $(DEMO)/out/RUNBOOK.md"

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
