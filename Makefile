# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo lint schema docs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check vvrun tests bench

test: lint
	$(BIN)/python -m pytest -q

schema: $(BIN)/.installed
	$(BIN)/vvrun schema > schema/runbook.schema.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .sandbox
