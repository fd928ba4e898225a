# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv and installs everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint browser chaos bench compile gas clean

$(STAMP): pyproject.toml package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bflc demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2

# Style, types and layers: ruff (with NumPy docstring rules), strict mypy on
# src/bflc, and import-linter's layer contract (docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The dashboard's browser test drives Debian's Chromium (Playwright downloads
# no browser). Installed here when missing and apt-get can run: a half-finished
# upgrade of the image's own packages is completed first (seen: perl), and a
# mirror that fails for a moment is tried three times. Otherwise that one test
# is skipped and says why.
browser:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && for try in 1 2 3; do \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get --fix-broken install -y -qq >/dev/null \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } && break; sleep 10; done; }; \
	[ -x /usr/bin/chromium ] || echo "note: no /usr/bin/chromium; the dashboard's browser test will be skipped (apt-get install chromium)"

chaos: $(STAMP)
	$(BIN)/python -m pytest -m chaos tests/chaos -q

compile: $(STAMP)
	$(BIN)/bflc contract compile

gas: $(STAMP)
	$(BIN)/python benchmarks/gas_table.py

# `make bench QUICK=1` for a few-minute run. Installs Flower's simulation extra (Ray) for the comparison.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/gas_table.py $(if $(QUICK),--rounds 2)
	$(BIN)/python benchmarks/bench.py $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
