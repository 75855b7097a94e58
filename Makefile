# The commands that matter: `make demo` (four simulated weeks of both systems against the
# sandbox, then the API on that state), `make run` (the service on the sandbox, its clock at 60x)
# and `make test`. Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
DEMO_ARGS ?=

.PHONY: demo run test lint typecheck bench migrate clean

# The service alone (what the demo and `run` need).
$(RUN_STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(RUN_STAMP)

# The service and the test, lint and type-check tools.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/arenabrain demo $(DEMO_ARGS)

run: $(RUN_STAMP)
	$(BIN)/arenabrain serve --sandbox

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
