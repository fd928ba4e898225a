# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv and installs everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench compile gas clean

$(STAMP): pyproject.toml package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bflc demo

test: $(STAMP)
	$(BIN)/python -m pytest

compile: $(STAMP)
	$(BIN)/bflc contract compile

gas: $(STAMP)
	$(BIN)/python benchmarks/gas_table.py

bench: gas

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
