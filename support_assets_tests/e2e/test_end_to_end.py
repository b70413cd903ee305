"""The real materialization path over real HTTP: the sandbox, Dagster, dlt, DuckDB."""

import subprocess
import sys

import dagster as dg

from support_assets.sources.settings import Endpoint
from support_assets.definitions import build_definitions
from support_assets.sandbox import Fault

from support_assets_tests.helpers import DAGSTER, TICKETS_ONLY, failure_text, rows, run_cli
from support_assets_tests.helpers import offset_endpoint

TICKETS = "support_api.customer_support_data"


def materialize(definitions, warehouse):
    assets = [a for a in definitions.assets]
    resources = {**definitions.resources, "warehouse": warehouse}
    return dg.materialize(assets, resources=resources, raise_on_error=False)


def test_materialize_loads_every_record_with_one_row_per_id(api_env, sandbox, warehouse):
    result = materialize(build_definitions(TICKETS_ONLY), warehouse)

    assert result.success
    db = warehouse.duckdb_path
    assert rows(db, f"select count(*), count(distinct id) from {TICKETS}") == [(250, 250)]
    expected = {r["id"]: r["subject"] for r in sandbox.store.all_records()}
    assert dict(rows(db, f"select id, subject from {TICKETS}")) == expected
    # Every request was authenticated by query parameter and paged by 100.
    pages = [r for r in sandbox.requests if r.path == "/v1/resource"]
    assert sorted((r.params["offset"] for r in pages), key=int) == ["0", "100", "200"]
    assert all(r.params["limit"] == "100" and r.params["api_key"] for r in pages)


def test_a_second_sync_merges_updates_in_place(api_env, sandbox, warehouse):
    assert materialize(build_definitions(TICKETS_ONLY), warehouse).success
    sandbox.store.update(7, subject="changed upstream")
    sandbox.store.add(5)

    assert materialize(build_definitions(TICKETS_ONLY), warehouse).success

    db = warehouse.duckdb_path
    assert rows(db, f"select count(*), count(distinct id) from {TICKETS}") == [(255, 255)]
    assert rows(db, f"select subject from {TICKETS} where id = 7") == [("changed upstream",)]


def another_process_can_write(duckdb_path) -> bool:
    """DuckDB lets one process at a time open a file for writing."""
    probe = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('checkpoint')"
    return subprocess.run([sys.executable, "-c", probe, str(duckdb_path)], capture_output=True).returncode == 0


def test_a_sync_holds_the_duckdb_file_only_while_it_runs(api_env, sandbox, warehouse):
    assert materialize(build_definitions(TICKETS_ONLY), warehouse).success
    assert another_process_can_write(warehouse.duckdb_path)

    sandbox.faults.add(Fault(status=401, path="/v1/resource"))
    assert not materialize(build_definitions(TICKETS_ONLY), warehouse).success
    assert another_process_can_write(warehouse.duckdb_path)


def test_two_endpoints_load_as_two_assets(api_env, sandbox, warehouse):
    sandbox.stores["customers"].add(30)
    endpoints = [offset_endpoint("customer_support_data", "/v1/resource"), offset_endpoint("customers", "/v1/customers")]

    result = materialize(build_definitions(endpoints), warehouse)

    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {
        dg.AssetKey(["support_api", "customer_support_data"]),
        dg.AssetKey(["support_api", "customers"]),
    }
    customers = sandbox.stores["customers"].total  # the default ones and the 30 added
    assert rows(warehouse.duckdb_path, "select count(*) from support_api.customers") == [(customers,)]
    assert rows(warehouse.duckdb_path, f"select count(*) from {TICKETS}") == [(250,)]


def test_a_missing_key_fails_at_the_start_naming_both_ways_to_set_it(
    monkeypatch, sandbox, warehouse, tmp_path
):
    monkeypatch.setenv("SUPPORT_API_BASE_URL", sandbox.url)
    monkeypatch.delenv("SUPPORT_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml here

    result = materialize(build_definitions(), warehouse)

    assert not result.success
    message = failure_text(result)
    assert "SUPPORT_API_KEY" in message and ".dlt/secrets.toml" in message
    assert len(sandbox.requests) == 0


def test_dagster_asset_materialize_cli_loads_every_record(sandbox, cli_env, tmp_path, api_key):
    result = run_cli(
        [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"], cli_env
    )

    assert result.returncode == 0, result.stderr[-3000:]
    db = tmp_path / "support.duckdb"
    assert rows(db, f"select count(distinct id) from {TICKETS}") == [(250,)]
    # Every resource of the shipped file, each its own table.
    comments = sandbox.stores["ticket_comments"]
    expected = {
        "customers": sandbox.stores["customers"].total,
        "agents": sandbox.stores["agents"].total,
        "ticket_comments": sum(len(comments.comments(t["id"])) for t in sandbox.store.all_records()),
    }
    assert {name: rows(db, f"select count(distinct id) from support_api.{name}")[0][0] for name in expected} == expected
    assert api_key not in result.stdout + result.stderr


def test_dagster_definitions_validate(cli_env):
    result = run_cli([DAGSTER, "definitions", "validate", "-m", "support_assets.definitions"], cli_env)

    assert result.returncode == 0, result.stderr[-3000:]


def test_the_readme_main_job_command(cli_env, tmp_path, api_key):
    """`make demo` runs `python -m support_assets.demo run`; this runs that command. Its
    output is the short summary: what was synced, rows per table, the checks (none failing
    on the sandbox's recent data, `fresh` included), the metrics, where the data is, how to
    open the UI."""
    result = run_cli([sys.executable, "-m", "support_assets.demo", "run", "--records", "300"], cli_env)

    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert (
        "synced 4 assets (incremental) from the sandbox API: customer_support_data, customers, agents, ticket_comments"
        in lines
    )
    [counts] = [line for line in lines if line.startswith("  rows in support_api: ")]
    assert counts.startswith("  rows in support_api: customer_support_data 300, customers 5000, agents 25, ticket_comments ")
    [checks] = [line for line in lines if line.startswith("  checks: ")]
    assert "passed" in checks and "failed" not in checks
    assert f"data: {tmp_path / 'support.duckdb'} (dataset support_api)" in lines
    assert "UI: make ui (http://127.0.0.1:3000)" in lines
    # The metrics' headline numbers (docs/metrics.md), after the sync's summary.
    assert "metrics (dbt models in support_metrics, docs/metrics.md):" in lines
    assert any(line.startswith("  median first reply: ") for line in lines)
    assert any(line.startswith("  backlog today (") for line in lines)
    assert len(lines) <= 14 and "STEP_START" not in result.stdout + result.stderr
    assert rows(tmp_path / "support.duckdb", f"select count(*) from {TICKETS}") == [(300,)]


def test_the_demo_shows_dagsters_event_stream_with_verbose(cli_env):
    result = run_cli([sys.executable, "-m", "support_assets.demo", "run", "--records", "1", "--verbose"], cli_env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "STEP_START" in result.stdout + result.stderr
    assert "with 1 ticket\n" in result.stdout and "  rows in support_api: customer_support_data 1, " in result.stdout
