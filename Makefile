# Two commands matter: `make run` (the service on SQLite and the sandbox) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench migrate clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	SANDBOX=true $(BIN)/arenabrain serve

test: $(STAMP)
	$(BIN)/pytest -q -n 2 --cov=arenabrain --cov-report=term:skip-covered

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

migrate: $(STAMP)
	$(BIN)/arenabrain migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
