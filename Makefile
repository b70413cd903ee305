# Fresh machine: python3 and make are all these targets need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# dbt in a venv of its own (dbt/requirements.txt): the code location runs it as a command and
# never imports dbt-core, which cost every run 1.9 s (docs/performance.md).
DBT_VENV := .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
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
	# A .venv from before dbt moved to .venv-dbt: dagster-dbt imports dbt-core wherever it finds it.
	$(BIN)/pip uninstall --quiet --yes dbt-core dbt-duckdb dbt-postgres 2>/dev/null
	touch $(STAMP)

$(DBT_STAMP): dbt/requirements.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/pip install --quiet -r dbt/requirements.txt
	touch $(DBT_STAMP)

$(MANIFEST): $(DBT_STAMP) $(DBT_FILES)
	cd dbt && ../$(DBT_VENV)/bin/dbt parse --quiet --target duckdb
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
