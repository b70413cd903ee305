"""The metrics' results: the real `dbt build` through dagster-dbt (the code location's own
assets and dbt resource) on synced tables whose answers the test knows (known_rows.py), on a
DuckDB file and on a PostgreSQL database of the test's own."""

import os
import uuid
from datetime import datetime, timezone

import dagster as dg
import pytest

from support_assets.defs.metrics import GROUP, build_metrics_definitions
from support_assets.defs.resources import WarehouseResource
from support_assets_tests.helpers import postgres
from support_assets_tests.helpers.secret_scan import leaks_in_files, leaks_in_text
from support_assets_tests.metrics import known_rows


def build(tmp_path, warehouse: WarehouseResource) -> dg.ExecuteInProcessResult:
    metrics = build_metrics_definitions(warehouse.destination, project_dir=known_rows.dbt_project_copy(tmp_path))
    return dg.materialize(
        list(metrics.assets),
        resources={**metrics.resources, "warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    return {
        e.check_name: (e.passed, e.severity.value)
        for e in result.get_asset_check_evaluations()
    }


def assert_known_answers(rows) -> None:
    """rows(sql) -> list of tuples, on whichever warehouse."""
    tickets = {
        ticket_id: (first_reply, resolution, comments)
        for ticket_id, first_reply, resolution, comments in rows(
            f"select ticket_id, first_reply_hours, resolution_hours, comments from {GROUP}.ticket_metrics"
        )
    }
    assert tickets == known_rows.TICKET_METRICS

    daily = {day: (opened, solved, backlog) for day, opened, solved, backlog in rows(
        f"select day, opened, solved, backlog from {GROUP}.daily_ticket_metrics order by day"
    )}
    assert {day: daily[day] for day in known_rows.DAILY} == known_rows.DAILY
    today = datetime.now(timezone.utc).date()
    assert max(daily) == today and min(daily) == min(known_rows.DAILY)
    assert len(daily) == (today - min(known_rows.DAILY)).days + 1  # a row for every day, quiet ones too
    assert daily[today][2] == known_rows.TODAYS_BACKLOG

    customers = {
        customer_id: (tickets, unsolved, replied, median)
        for customer_id, tickets, unsolved, replied, median in rows(
            "select customer_id, tickets, unsolved_tickets, replied_tickets, median_first_reply_hours"
            f" from {GROUP}.customer_metrics"
        )
    }
    assert customers == known_rows.CUSTOMER_METRICS


def assert_materialized_with_checks(result: dg.ExecuteInProcessResult) -> None:
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {f"{GROUP}/ticket_metrics", f"{GROUP}/daily_ticket_metrics", f"{GROUP}/customer_metrics"}
    checks = check_results(result)
    # Every dbt test ran as an asset check; the one warning is ticket 5's customer 12, whom
    # the customers table lacks.
    assert len(checks) == 15
    failed = {name: outcome for name, outcome in checks.items() if not outcome[0]}
    assert failed == {
        "ticket_metrics_customer_in_customers": (False, "WARN")
    }


def test_models_on_duckdb_give_the_known_answers(tmp_path):
    path = str(tmp_path / "support.duckdb")
    known_rows.write_duckdb(path)
    warehouse = WarehouseResource(duckdb_path=path, pipelines_dir=str(tmp_path / "dlt"))

    result = build(tmp_path, warehouse)

    assert_materialized_with_checks(result)
    import duckdb

    with duckdb.connect(path, read_only=True) as db:
        assert_known_answers(lambda sql: db.execute(sql).fetchall())


def test_models_on_postgres_give_the_known_answers(tmp_path, monkeypatch):
    password = f"sentinel-password-{uuid.uuid4().hex}"  # trust auth accepts it; dbt gets it all the same
    with postgres.database("support_metrics_test") as database:
        connection = database.connect()
        known_rows.write_postgres(connection)
        connection.close()
        # How a user configures the PostgreSQL destination: dlt's own variable.
        url = database.url.replace(f"{postgres.USER}@", f"{postgres.USER}:{password}@")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
        warehouse = WarehouseResource(destination="postgres", pipelines_dir=str(tmp_path / "dlt"))

        result = build(tmp_path, warehouse)

        assert_materialized_with_checks(result)
        assert_known_answers(database.rows)
    # The password reached dbt (DBT_ENV_SECRET_...) and nothing it or Dagster wrote.
    assert not leaks_in_text(password, "\n".join(repr(event) for event in result.all_events))
    assert not leaks_in_files(password, tmp_path / "dbt")
    assert password not in os.environ.get("DBT_ENV_SECRET_SUPPORT_POSTGRES_PASSWORD", "")  # not left behind


def test_a_failing_dbt_test_fails_its_check_and_the_step(tmp_path):
    """A duplicated ticket (the sync's merge broken) fails ticket_metrics' unique test: an
    error-severity check, and dbt skips the models built on it."""
    path = str(tmp_path / "support.duckdb")
    known_rows.write_duckdb(path, extra_tickets=[(1, 10, "solved", "2026-01-05 08:00:00+00", "2026-01-06 08:00:00+00")])
    warehouse = WarehouseResource(duckdb_path=path, pipelines_dir=str(tmp_path / "dlt"))

    result = build(tmp_path, warehouse)

    assert not result.success
    checks = check_results(result)
    assert checks["unique_ticket_metrics_ticket_id"] == (False, "ERROR")
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert f"{GROUP}/daily_ticket_metrics" not in materialized
    assert f"{GROUP}/customer_metrics" not in materialized


def test_no_metrics_without_a_dbt_target_or_the_tables_the_models_read():
    assert list(build_metrics_definitions("duckdb").assets)
    assert not list(build_metrics_definitions("sqlalchemy").assets or [])
    # A configuration that does not sync comments: no first reply time to compute.
    assert not list(build_metrics_definitions("duckdb", ["customer_support_data", "customers"]).assets or [])
