# Two commands do all the set-up on a fresh machine:
#   make demo   # install, then run the full instructor cycle on a sample cohort
#   make test   # install, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo hub test test-browser stress lint clean

$(STAMP): pyproject.toml requirements-torch.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-torch.txt
	$(BIN)/python -m pip install --quiet -c requirements-torch.txt -e '.[test]'
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node configurable-http-proxy@5
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/autograder demo

hub: $(STAMP)  # the course on a real JupyterHub (as root: one unix user per student); see docs/classroom.md
	$(BIN)/autograder hub $(HUB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadgroup

test-browser: $(STAMP)
	$(BIN)/python -m pytest -m browser

stress:  # the full suite 3 times on a fresh clone, with two CPU burners running (no timing races)
	tests/stress.sh 3

lint: $(STAMP)
	$(BIN)/ruff check autograder tests bench

clean:
	rm -rf build autograded feedback submitted reports exports gradebook.db
