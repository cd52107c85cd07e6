# gitlab-ha: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
LAB := lab

.PHONY: help sysdeps venv test check pytest demo bench clean

help:
	@echo "make demo   install what is needed, then run the seed's cluster in the lab (./lab) and print its status"
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
	$(BIN)/pytest -q -n 2 --dist loadscope -m "not lab"
	$(BIN)/pytest -q -m lab

test: sysdeps venv check pytest

demo: sysdeps venv
	$(BIN)/gitlab-ha lab up --preset seed-15 --dir $(LAB)

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	@if [ -x $(BIN)/gitlab-ha ] && [ -d $(LAB) ]; then $(BIN)/gitlab-ha lab down --purge --dir $(LAB); fi
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
