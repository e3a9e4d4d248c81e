# make run   — set up (first time) and fit the default SIREN to cameraman 256x256 into ./mlruns
# make test  — set up (first time) and run the test suite
# make ui    — the MLflow UI on the local store (http://127.0.0.1:5000)
PYTHON ?= python3
STAMP := .setup-stamp
ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test ui

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(PYTHON)
	touch $(STAMP)

run: setup
	$(PYTHON) -m siren_inr train $(ARGS)

test: setup
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports']; lint_imports_command()"
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

ui: setup
	$(PYTHON) -m siren_inr ui
