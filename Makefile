# make run   — set up (first time) and fit the default SIREN to cameraman 256x256 into ./mlruns
# make test  — set up (first time), lint (import layers, ruff) and run the whole test suite (2 processes)
# make test-fast — the same lints, then the unit tests only (-m "not slow"): the inner loop, under 2 minutes
# make ui    — the MLflow UI on the local store (http://127.0.0.1:5000)
PYTHON ?= python3
STAMP := .setup-stamp
ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist processes of `make test` and `make test-fast` (each test runs on one thread); TEST_WORKERS=0: one process
TEST_WORKERS ?= 2

.PHONY: setup run test test-fast lint ui

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(PYTHON)
	touch $(STAMP)

run: setup
	$(PYTHON) -m siren_inr train $(ARGS)

lint: setup
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports']; lint_imports_command()"
	$(PYTHON) -m ruff check siren_inr tests experiments scripts

test: lint
	$(PYTHON) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Slow end-to-end tests (marked @pytest.mark.slow: subprocesses, servers, whole jobs) run only in `make test`.
test-fast: lint
	$(PYTHON) -m pytest -q -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

ui: setup
	$(PYTHON) -m siren_inr ui
