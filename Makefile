# The commands a contributor runs; CI runs `make test` too (.ci/run).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install demo test test-deps lint format docs

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(PYTHON) -m venv $(VENV)/codegen
	$(VENV)/codegen/bin/python -m pip install --quiet --disable-pip-version-check \
		$$($(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["creditmeter"]["codegen"])')
	touch $@

demo: install
	$(BIN)/creditmeter demo

test: install test-deps lint
	$(BIN)/python -m pytest

test-deps:
	scripts/install-test-deps

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Settings from the Settings class; --help and example output from the real commands.
docs: install
	$(BIN)/python scripts/gen_settings_doc.py > docs/settings.md
	$(BIN)/python scripts/gen_docs.py
