# `make run` and `make test` are all a fresh machine with Python 3.11 and make needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: install run test lint typecheck schema migrations bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# GraphiQL's JavaScript and CSS, pinned and hash-checked, from the npm registry (api/graphiql.py):
# quick when they are there; without network the page says how to install them (never a CDN).
install: $(STAMP)
	@$(BIN)/python -m api.graphiql

run: install
	$(BIN)/jornada migrate
	$(BIN)/jornada bootstrap --offer-demo
	@echo "GraphiQL: http://$(HOST):$(PORT)/graphql  (add the header Authorization: Bearer <key>)"
	$(BIN)/jornada serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# SQLite always; PostgreSQL too when JORNADA_TEST_POSTGRES_URL is set (as .ci/run does), in a
# second pytest process run at the same time (Tortoise caches SQL per process: stack.md 1.8-D).
test: lint typecheck
	BIN=$(BIN) ./tests/run-suites

schema: install
	$(BIN)/python -c "from schema.build import build_schema, SCHEMA_FILE; SCHEMA_FILE.write_text(str(build_schema()) + '\n')"

migrations: install
	$(BIN)/tortoise -c api.settings.MIGRATIONS_CONFIG makemigrations

bench: install
	$(BIN)/python -m bench.read_path

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache api/static/graphiql
