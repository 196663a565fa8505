# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
# Needs only Python >= 3.11 (PYTHON=python3.12 to pick one); everything else goes into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test demo demo-down lint schema docs bench clean python-check

python-check:
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  2>/dev/null || { echo "vvrun needs Python >= 3.11, and '$(PYTHON)' is" \
	  "$$($(PYTHON) --version 2>/dev/null || echo 'not found')."; \
	  echo "Run e.g. 'make $(or $(MAKECMDGOALS),test) PYTHON=python3.12'."; exit 1; }

# The venv: `.installed` with the test extra (a superset of the sandbox extra), for make test;
# `.installed-sandbox` with the sandbox extra only, for make demo.
$(BIN)/.installed: EXTRA = test
$(BIN)/.installed-sandbox: EXTRA = sandbox
$(BIN)/.installed $(BIN)/.installed-sandbox: pyproject.toml | python-check
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "could not create $(VENV): on Debian/Ubuntu, 'apt install python3-venv'"; exit 1; }
	@echo "installing vvrun[$(EXTRA)] into $(VENV) (log: $(VENV)/pip.log) ..."
	@{ $(BIN)/python -m pip install -q --upgrade pip && \
	   $(BIN)/python -m pip install -q -e '.[$(EXTRA)]'; } >$(VENV)/pip.log 2>&1 || \
	  { cat $(VENV)/pip.log; echo "pip install failed (the log is above)"; exit 1; }
	@$(BIN)/python -c 'from vvrun.dataclass_code import warm; warm()' || \
	  echo "(the dataclass cache was not warmed: vvrun starts a little slower, nothing else)"
	@touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check $(wildcard vvrun tests bench demo)

# The whole suite: against VVRUN_TEST_POSTGRES_URL / VVRUN_TEST_REDIS_URL when set (CI sets
# them), otherwise against a sandbox that the tests start and stop themselves.
# Bytecode first: many tests start `vvrun` as a process, and where PYTHONDONTWRITEBYTECODE
# is set each of them would compile the whole package again.
test: lint
	@$(BIN)/python -m compileall -q vvrun >/dev/null
	$(BIN)/python -m pytest -q

# A real incident in a sandbox, handled by runbooks/db-emergency.yaml. KEEP=1 keeps the sandbox.
demo: $(BIN)/.installed-sandbox
	@$(BIN)/python demo/demo.py

demo-down: $(BIN)/.installed-sandbox
	$(BIN)/vvrun sandbox down --dir .sandbox/demo

# Generated files (tests fail when they are stale): the schema, its reference, runbook docs.
schema: $(BIN)/.installed
	$(BIN)/vvrun schema > schema/runbook.schema.json
	$(BIN)/vvrun schema --format markdown > docs/reference.md

docs: schema
	$(BIN)/vvrun docs runbooks/ --out docs/runbooks

bench: $(BIN)/.installed
	bench/run

clean:
	-test -x $(BIN)/vvrun && $(BIN)/vvrun sandbox down --dir .sandbox/demo
	rm -rf $(VENV) .pytest_cache .ruff_cache .sandbox
