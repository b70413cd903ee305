"""The asset checks: each passes on good data and fails on data made wrong on purpose.

A real sync (sandbox, Dagster, dlt, DuckDB) runs the assets with their checks, as the
sync job does: each resource's step syncs it, then evaluates its checks. The wrong data is then
written into the warehouse by hand and the checks run again on their own, without a sync, the
way "Execute checks" does in the UI.
"""

import datetime
import os
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from support_assets.defs.checks import check_specs
from support_assets.sources.config_file import ENDPOINTS
from support_assets.definitions import build_definitions
from support_assets.defs.resources import WarehouseResource

from support_assets_tests.helpers import DAGSTER, TICKETS_ONLY, failure_text, rows, run_cli
from support_assets_tests.helpers.sync import KEY, TICKETS, checks, sync

OWN_CHECKS = {"primary_key_unique", "required_not_null", "complete_after_full_refresh", "fresh"}


def run_checks_only(warehouse, instance, definitions=None):
    """Executes the checks of the asset without syncing it."""
    return sync(
        warehouse, definitions, instance=instance, selection=dg.AssetSelection.checks_for_assets(KEY)
    )


def tamper(warehouse, *statements):
    with duckdb.connect(warehouse.duckdb_path) as db:
        for statement in statements:
            db.execute(statement)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def fresh_sandbox(sandbox):
    sandbox.store.update(1, subject="updated just now")  # a current updated_at
    return sandbox


def test_every_check_passes_after_a_good_full_refresh(api_env, fresh_sandbox, warehouse, instance):
    result = sync(warehouse, instance=instance, sync_type="full_refresh")

    assert result.success
    evaluations = checks(result)
    assert set(evaluations) == OWN_CHECKS | {"column_schema_change"}
    assert all(e.passed for e in evaluations.values()), {n: e.description for n, e in evaluations.items()}
    complete = evaluations["complete_after_full_refresh"].metadata
    assert complete["row_count"].value == complete["api_total"].value == 250
    assert evaluations["fresh"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["primary_key_unique"].severity == dg.AssetCheckSeverity.ERROR


def test_the_checks_are_part_of_the_sync_job():
    defs = build_definitions()
    job = defs.resolve_job_def("support_api_sync")
    check_names = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert OWN_CHECKS | {"column_schema_change"} <= check_names


def test_the_checks_run_alone_in_the_assets_step_without_a_sync(api_env, fresh_sandbox, warehouse, instance):
    """As "Execute checks" in the UI: the asset's step evaluates them, and syncs nothing."""
    assert sync(warehouse, instance=instance).success
    requests = len(fresh_sandbox.requests)
    loads = rows(warehouse.duckdb_path, "select count(*) from support_api._dlt_loads")

    result = run_checks_only(warehouse, instance)

    assert result.success
    assert len(fresh_sandbox.requests) == requests  # not one request
    assert rows(warehouse.duckdb_path, "select count(*) from support_api._dlt_loads") == loads
    assert not result.get_asset_materialization_events()
    # complete_after_full_refresh is skipped: the last sync was incremental.
    assert set(checks(result)) == OWN_CHECKS - {"complete_after_full_refresh"} | {"column_schema_change"}
    assert {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START} == {
        "support_api__customer_support_data"
    }


def test_a_failing_blocking_check_fails_the_sync_step_once_and_keeps_what_it_loaded(
    api_env, fresh_sandbox, warehouse, instance
):
    """The sync job's op retry policy (jobs.py) does not re-run a sync whose data failed a blocking
    check: Dagster fails the step after its outputs (DagsterAssetCheckFailedError), the load and
    its materialization stay, and the metrics downstream do not build on it."""
    defs = build_definitions(TICKETS_ONLY, warehouse=warehouse)
    job = defs.resolve_job_def("support_api_sync")
    assert job.op_retry_policy is not None
    assert job.execute_in_process(instance=instance).success
    tamper(warehouse, f"insert into {TICKETS} select * from {TICKETS} where id in (5, 9)")
    fresh_sandbox.store.update(3, subject="changed after the first sync")
    requests = len(fresh_sandbox.requests)

    result = job.execute_in_process(instance=instance, raise_on_error=False)

    assert not result.success
    count = {t: len(result.filter_events(lambda e, t=t: e.event_type == t)) for t in (
        dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED,
        dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_MATERIALIZATION)}
    assert list(count.values()) == [1, 0, 0, 1, 1]
    [failure] = result.filter_events(lambda e: e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "support_api__customer_support_data"
    assert failure.event_specific_data.error.cls_name == "DagsterAssetCheckFailedError"
    assert not checks(result)["primary_key_unique"].passed
    # One sync's requests, the load committed: the changed ticket is in the table.
    assert len(fresh_sandbox.requests) - requests == 1
    assert rows(warehouse.duckdb_path, f"select subject from {TICKETS} where id = 3") == [
        ("changed after the first sync",)
    ]
    latest = instance.get_latest_materialization_event(KEY)
    assert latest.run_id == result.run_id


def test_a_check_that_cannot_run_fails_the_step_without_a_retry(api_env, warehouse, instance, tmp_path):
    """A warehouse that cannot be read (here not a DuckDB file): the sync job's retry policy
    would re-run the whole step, sync included; the step fails once, naming the table."""
    Path(warehouse.duckdb_path).write_bytes(b"not a database " * 100)
    job = build_definitions(TICKETS_ONLY, warehouse=warehouse).resolve_job_def("support_api_sync")
    only_checks = job.get_subset(asset_selection=set(), asset_check_selection={dg.AssetCheckKey(KEY, "primary_key_unique")})

    result = only_checks.execute_in_process(instance=instance, raise_on_error=False)

    assert not result.success
    types = [e.event_type for e in result.all_events]
    assert (types.count(dg.DagsterEventType.STEP_START), types.count(dg.DagsterEventType.STEP_UP_FOR_RETRY),
            types.count(dg.DagsterEventType.STEP_FAILURE)) == (1, 0, 1)
    assert "customer_support_data: the checks could not run: " in failure_text(result)


def test_primary_key_unique_fails_on_a_duplicated_id(api_env, fresh_sandbox, warehouse, instance):
    assert sync(warehouse, instance=instance).success
    tamper(warehouse, f"insert into {TICKETS} select * from {TICKETS} where id in (5, 9)")

    evaluation = checks(run_checks_only(warehouse, instance))["primary_key_unique"]

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["duplicated_keys"].value == 2
    assert evaluation.metadata["sample"].value == [5, 9]
    assert evaluation.description == "2 values of `id` appear in more than one row"


def test_required_not_null_fails_on_a_null_customer_id(api_env, fresh_sandbox, warehouse, instance):
    assert sync(warehouse, instance=instance).success
    tamper(
        warehouse,
        f"alter table {TICKETS} alter column customer_id drop not null",
        f"update {TICKETS} set customer_id = null where id in (3, 4, 5)",
    )

    evaluation = checks(run_checks_only(warehouse, instance))["required_not_null"]

    assert not evaluation.passed
    assert evaluation.metadata["null_customer_id"].value == 3
    assert evaluation.metadata["null_id"].value == 0
    assert evaluation.description == "3 rows with a null `customer_id`"


def test_completeness_fails_when_the_table_holds_fewer_rows_than_the_apis_total(
    api_env, fresh_sandbox, warehouse, instance
):
    assert sync(warehouse, instance=instance, sync_type="full_refresh").success
    tamper(warehouse, f"delete from {TICKETS} where id = 17")

    evaluation = checks(run_checks_only(warehouse, instance))["complete_after_full_refresh"]

    assert not evaluation.passed
    assert evaluation.metadata["row_count"].value == 249
    assert evaluation.metadata["api_total"].value == 250
    assert "249 rows in customer_support_data, but the API's `total`" in evaluation.description


def test_completeness_is_skipped_after_an_incremental_sync(api_env, fresh_sandbox, warehouse, instance):
    result = sync(warehouse, instance=instance)

    assert result.success
    assert "complete_after_full_refresh" not in checks(result)
    check_key = dg.AssetCheckKey(KEY, "complete_after_full_refresh")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    # Planned, never evaluated, in a run that succeeded: the UI shows it as skipped.
    assert record.status == AssetCheckExecutionRecordStatus.PLANNED
    assert instance.get_run_by_id(record.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_freshness_warns_when_the_newest_update_is_older_than_the_limit(api_env, sandbox, warehouse, instance):
    for record in sandbox.store.all_records():
        sandbox.store.update(record["id"], updated_at="2020-01-01T00:00:00Z")

    evaluation = checks(sync(warehouse, instance=instance))["fresh"]

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["newest_updated_at"].value == "2020-01-01T00:00:00+00:00"
    assert evaluation.metadata["limit_hours"].value == 24.0
    assert "over the limit of 24.0 h" in evaluation.description


def test_the_freshness_limit_is_configurable(api_env, sandbox, warehouse, instance, monkeypatch):
    """SUPPORT_FRESHNESS_HOURS: a limit long enough makes the same old data fresh."""
    for record in sandbox.store.all_records():
        sandbox.store.update(record["id"], updated_at="2020-01-01T00:00:00Z")
    now = datetime.datetime.now(datetime.timezone.utc)
    age_hours = (now - datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds() / 3600
    monkeypatch.setenv("SUPPORT_FRESHNESS_HOURS", str(round(age_hours + 48)))

    evaluation = checks(sync(warehouse, instance=instance))["fresh"]

    assert evaluation.passed
    assert evaluation.metadata["limit_hours"].value == round(age_hours + 48)


def test_a_freshness_limit_that_is_not_a_number_fails_when_the_code_location_loads(monkeypatch):
    monkeypatch.setenv("SUPPORT_FRESHNESS_HOURS", "a day")

    with pytest.raises(ValueError, match="SUPPORT_FRESHNESS_HOURS='a day' is not a positive number of hours"):
        build_definitions()


def test_a_new_field_is_reported_by_the_column_schema_change_check(api_env, fresh_sandbox, warehouse, instance):
    assert sync(warehouse, instance=instance).success
    fresh_sandbox.store.update(8, escalation_level=2)

    result = sync(warehouse, instance=instance)

    assert result.success
    evaluation = checks(result)["column_schema_change"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "Added columns: escalation_level" in evaluation.description


# --- PostgreSQL: the same checks through dlt's sql_client -------------------------------


@pytest.fixture
def postgres_warehouse(tmp_path, monkeypatch):
    """A database of the test's own on the local PostgreSQL (CI has one)."""
    import psycopg2

    name = f"support_checks_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        connection = psycopg2.connect(admin, connect_timeout=5)
    except psycopg2.OperationalError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    connection.autocommit = True
    connection.cursor().execute(f'create database "{name}"')
    # dlt insists on a password; the local server trusts loopback and ignores it.
    credentials = f"postgresql://postgres:postgres@127.0.0.1:5432/{name}"
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", credentials)
    try:
        yield WarehouseResource(destination="postgres", pipelines_dir=str(tmp_path / "dlt")), name
    finally:
        connection.cursor().execute(f'drop database if exists "{name}" with (force)')
        connection.close()


def test_the_checks_run_on_postgresql(api_env, fresh_sandbox, postgres_warehouse, instance):
    import psycopg2

    warehouse, database = postgres_warehouse
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse)

    result = sync(warehouse, definitions, instance=instance, sync_type="full_refresh")

    assert result.success
    assert all(e.passed for e in checks(result).values())
    with psycopg2.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as connection:
        # A copy of row 12 under a row key of its own: dlt makes _dlt_id unique on PostgreSQL.
        connection.cursor().execute(
            f"create temp table copy as select * from {TICKETS} where id = 12;"
            " update copy set _dlt_id = _dlt_id || '-copy';"
            f" insert into {TICKETS} select * from copy"
        )
    evaluations = checks(run_checks_only(warehouse, instance, definitions))
    assert not evaluations["primary_key_unique"].passed
    assert evaluations["primary_key_unique"].metadata["sample"].value == [12]
    assert not evaluations["complete_after_full_refresh"].passed
    assert evaluations["required_not_null"].passed and evaluations["fresh"].passed


def test_the_check_builder_takes_the_limit_it_is_given():
    specs = check_specs(ENDPOINTS[0], freshness_limit=datetime.timedelta(hours=6))
    fresh = next(spec for spec in specs if spec.name == "fresh")
    assert "at most 6.0 h old" in fresh.description


def test_dagster_asset_materialize_runs_the_checks_after_the_sync(cli_env, tmp_path):
    result = run_cli(
        [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"], cli_env
    )

    assert result.returncode == 0, result.stderr[-3000:]
    check_keys = [dg.AssetCheckKey(KEY, name) for name in OWN_CHECKS | {"column_schema_change"}]
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    statuses = {key.name: record.status for key, record in latest.items()}
    evaluated = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    # Whether the generated records count as fresh depends on today's date.
    assert statuses.pop("fresh") in evaluated
    assert statuses == {
        "primary_key_unique": AssetCheckExecutionRecordStatus.SUCCEEDED,
        "required_not_null": AssetCheckExecutionRecordStatus.SUCCEEDED,
        "complete_after_full_refresh": AssetCheckExecutionRecordStatus.PLANNED,  # skipped
        "column_schema_change": AssetCheckExecutionRecordStatus.SUCCEEDED,
    }


def test_each_resource_of_the_file_gets_the_checks_its_declarations_allow():
    """Completeness where the API counts the records (offset `total`), freshness where a cursor
    is declared, not null on the key and the `nullable: false` columns."""
    specs = {}
    for assets_def in build_definitions().assets:
        for spec in assets_def.check_specs:  # the checks of the resource's own step
            if spec.asset_key.path[0] == "support_api":
                specs.setdefault(spec.asset_key.path[-1], {})[spec.name] = spec.description

    assert {name: set(checks) - {"column_schema_change"} for name, checks in specs.items()} == {
        "customer_support_data": OWN_CHECKS,
        "customers": {"primary_key_unique", "required_not_null", "fresh"},
        "agents": {"primary_key_unique", "required_not_null"},
        "ticket_comments": {"primary_key_unique", "required_not_null"},
    }
    assert specs["ticket_comments"]["required_not_null"] == "No null in `id`, `ticket_id`, `author_id`."
    assert all("column_schema_change" in checks for checks in specs.values())
