# Fresh machine: python3 and make are all these targets need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo ui test browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: sandbox API -> dagster asset materialize -> DuckDB, then a summary.
demo: $(STAMP)
	$(BIN)/python -m support_assets.demo run

# The Dagster UI (dagster dev) against the sandbox API, on http://127.0.0.1:3000.
ui: $(STAMP)
	$(BIN)/python -m support_assets.demo ui

test: $(STAMP)
	$(BIN)/pytest

# Debian's Chromium for the browser test (needs root; skips when /usr/bin/chromium exists).
browser:
	.ci/install-chromium

clean:
	rm -rf data .pytest_cache
