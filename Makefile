# Fresh machine: python3 and make are all these targets need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# The metrics' dbt manifest (docs/metrics.md): built here so that loading the code location
# does not parse the dbt project; rebuilt when a file of the project changes.
MANIFEST := dbt/target/manifest.json
DBT_FILES := $(wildcard dbt/*.yml dbt/models/*.sql dbt/models/*.yml dbt/macros/*.sql)

.PHONY: install demo ui test browser bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(MANIFEST): $(STAMP) $(DBT_FILES)
	cd dbt && ../$(BIN)/dbt parse --quiet --target duckdb
	touch $(MANIFEST)

install: $(STAMP) $(MANIFEST)

# The main job: sandbox API -> dagster asset materialize -> DuckDB, then a summary.
demo: $(STAMP) $(MANIFEST)
	$(BIN)/python -m support_assets.demo run

# The Dagster UI (dagster dev) against the sandbox API, on http://127.0.0.1:3000.
ui: $(STAMP) $(MANIFEST)
	$(BIN)/python -m support_assets.demo ui

test: $(STAMP) $(MANIFEST)
	$(BIN)/pytest

# Debian's Chromium for the browser test (needs root; skips when /usr/bin/chromium exists).
browser:
	.ci/install-chromium

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Every sync scenario side by side, written to bench/results/ (docs/performance.md).
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The same in a few minutes: one repeat, no 1M-record memory run.
bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

clean:
	rm -rf data .pytest_cache
