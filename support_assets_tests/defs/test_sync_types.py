"""The three sync types through the real asset: the sandbox over HTTP, Dagster, dlt, DuckDB."""

import json
import shutil
import threading
import time
import uuid
from datetime import datetime, timedelta

import dagster as dg
import psycopg2
import pytest

from support_assets.sources.settings import RETRY
from support_assets.definitions import build_definitions
from support_assets.defs.resources import WarehouseResource
from support_assets.sandbox import Fault

from support_assets_tests.helpers import DAGSTER, TICKETS_ONLY, failure_text, rows, run_cli

TICKETS = "support_api.customer_support_data"
POSTGRES = "postgresql://postgres:trust@127.0.0.1:5432/postgres"


def sync(warehouse, instance=None, **config):
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse)
    return dg.materialize(
        list(definitions.assets),
        resources={**definitions.resources, "warehouse": warehouse},
        run_config={"resources": {"sync": {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )


def metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def api_pages(sandbox):
    return [r for r in sandbox.requests if r.path == "/v1/resource"]


def table(warehouse) -> dict:
    return {r[0]: r[1:] for r in rows(warehouse.duckdb_path, f"select id, subject, status from {TICKETS}")}


def upstream(sandbox) -> dict:
    return {r["id"]: (r["subject"], r["status"]) for r in sandbox.store.all_records()}


def test_incremental_sync_reads_only_the_records_changed_since_the_cursor(api_env, sandbox, warehouse):
    first = sync(warehouse, lookback_seconds=0)
    assert first.success
    assert {r.params.get("updated_since") for r in api_pages(sandbox)} == {None}  # no cursor yet
    cursor = metadata(first)["cursor_after"]
    assert cursor == max(r["updated_at"] for r in sandbox.store.all_records())
    changed = {sandbox.store.update(i, subject=f"changed {i}")["id"] for i in (3, 120, 240)}
    changed |= {r["id"] for r in sandbox.store.add(2)}
    sandbox.requests.clear()

    second = sync(warehouse, lookback_seconds=0)

    assert second.success
    pages = api_pages(sandbox)
    assert [r.params["updated_since"] for r in pages] == [cursor]
    # The changed records, and the one at the cursor itself: the API's filter includes its bound.
    assert sum(r.records for r in pages) == len(changed) + 1
    assert table(warehouse) == upstream(sandbox)
    assert rows(warehouse.duckdb_path, f"select count(*), count(distinct id) from {TICKETS}") == [(252, 252)]
    assert metadata(second)["sync_type"] == "incremental"
    assert metadata(second)["cursor_after"] == max(r["updated_at"] for r in sandbox.store.all_records())


def test_the_cursor_lives_in_the_destination_not_in_dlts_working_folder(api_env, sandbox, warehouse):
    cursor = metadata(sync(warehouse, lookback_seconds=0))["cursor_after"]
    shutil.rmtree(warehouse.pipelines_dir)
    sandbox.requests.clear()

    assert sync(warehouse, lookback_seconds=0).success

    assert [r.params["updated_since"] for r in api_pages(sandbox)] == [cursor]


def test_the_lookback_window_is_subtracted_from_the_cursor(api_env, sandbox, warehouse):
    cursor = metadata(sync(warehouse))["cursor_after"]
    sandbox.requests.clear()

    assert sync(warehouse, lookback_seconds=3600).success

    [page] = api_pages(sandbox)
    hour_earlier = datetime.strptime(cursor, "%Y-%m-%dT%H:%M:%SZ") - timedelta(hours=1)
    assert page.params["updated_since"] == hour_earlier.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_record_changed_while_a_sync_pages_arrives_with_the_next_sync(api_env, sandbox, warehouse):
    sandbox.faults.latency = 0.5  # room between pages

    def change_during_the_sync():
        while not any(r.params.get("offset") == "0" for r in api_pages(sandbox)):
            time.sleep(0.005)
        sandbox.store.update(1, subject="changed after its page was read")
        sandbox.store.update(250, subject="changed before its page was read")

    changer = threading.Thread(target=change_during_the_sync)
    changer.start()
    first = sync(warehouse)  # default lookback
    changer.join()
    assert first.success
    # That sync read record 1 before it changed, yet its cursor passed record 1's new time.
    assert rows(warehouse.duckdb_path, f"select subject from {TICKETS} where id = 250") == [
        ("changed before its page was read",)
    ]
    assert rows(warehouse.duckdb_path, f"select subject from {TICKETS} where id = 1") != [
        ("changed after its page was read",)
    ]
    assert metadata(first)["cursor_after"] > sandbox.store.get(1)["updated_at"]
    sandbox.faults.latency = 0

    assert sync(warehouse).success

    assert table(warehouse) == upstream(sandbox)


def test_an_incremental_sync_with_nothing_new_succeeds_and_keeps_the_cursor(api_env, sandbox, warehouse):
    first = sync(warehouse, lookback_seconds=0)
    newest = max(sandbox.store.all_records(), key=lambda r: r["updated_at"])
    sandbox.store.delete(newest["id"])  # nothing is at or after the cursor any more
    before = table(warehouse)
    sandbox.requests.clear()

    second = sync(warehouse, lookback_seconds=0)

    assert second.success
    assert sum(r.records for r in api_pages(sandbox)) == 0
    assert metadata(second)["cursor_after"] == metadata(first)["cursor_after"]
    assert table(warehouse) == before


def test_full_refresh_removes_records_deleted_upstream_then_syncs_merge_again(api_env, sandbox, warehouse):
    assert sync(warehouse).success
    for id in (5, 6):
        sandbox.store.delete(id)
    sandbox.store.update(7, subject="changed before the refresh")
    sandbox.requests.clear()

    refresh = sync(warehouse, sync_type="full_refresh")

    assert refresh.success
    assert [r.params.get("updated_since") for r in api_pages(sandbox)] == [None, None, None]
    assert table(warehouse) == upstream(sandbox)
    db = warehouse.duckdb_path
    tags = {id: json.loads(t) for id, t in rows(db, f"select id, tags from {TICKETS}")}
    assert tags == {r["id"]: r["tags"] for r in sandbox.store.all_records()}
    # The refresh leaves the cursor at the newest record it read.
    assert metadata(refresh)["cursor_after"] == max(r["updated_at"] for r in sandbox.store.all_records())
    assert metadata(refresh)["sync_type"] == "full_refresh"

    sandbox.store.update(8, subject="changed after the refresh")
    assert sync(warehouse).success  # an incremental sync merges into the refreshed table

    assert table(warehouse) == upstream(sandbox)


def test_a_full_refresh_that_fails_half_way_leaves_the_table_as_it_was(api_env, sandbox, warehouse):
    first = sync(warehouse)
    assert first.success
    db = warehouse.duckdb_path
    before = rows(db, f"select * from {TICKETS} order by id")
    sandbox.store.delete(5)
    # Every attempt (Dagster retries the step) reads the first page, then fails on the second.
    for _ in range(RETRY.max_attempts):
        sandbox.faults.add(Fault(path="/v1/resource"))
        sandbox.faults.add(Fault(status=401, path="/v1/resource"))
    sandbox.requests.clear()

    refresh = sync(warehouse, sync_type="full_refresh")

    assert not refresh.success
    offsets = [r.params["offset"] for r in api_pages(sandbox)]
    assert offsets[0] == "0" and "100" in offsets  # later pages arrive concurrently
    after = rows(db, f"select * from {TICKETS} order by id")
    assert after == before
    # The cursor did not move either: the next incremental sync asks from where the last one stopped.
    sandbox.faults.clear()
    sandbox.requests.clear()
    assert sync(warehouse, lookback_seconds=0).success
    assert api_pages(sandbox)[0].params["updated_since"] == metadata(first)["cursor_after"]


def test_backfill_resyncs_a_window_and_leaves_the_cursor_where_it_was(api_env, sandbox, warehouse):
    first = sync(warehouse, lookback_seconds=0)
    cursor = metadata(first)["cursor_after"]
    in_window = sorted(
        (r for r in sandbox.store.all_records() if "2025-01-01" <= r["updated_at"] < "2025-02-01"),
        key=lambda r: r["id"],
    )
    assert in_window
    # A correction upstream that kept its old updated_at: no incremental sync can see it.
    target = in_window[0]
    sandbox.store.update(target["id"], subject="corrected in place", updated_at=target["updated_at"])
    assert sync(warehouse, lookback_seconds=0).success
    assert table(warehouse)[target["id"]][0] != "corrected in place"
    sandbox.requests.clear()

    backfill = sync(
        warehouse, sync_type="backfill", backfill_start="2025-01-01", backfill_end="2025-02-01T00:00:00Z"
    )

    assert backfill.success
    pages = api_pages(sandbox)
    assert {(r.params["updated_since"], r.params["updated_before"]) for r in pages} == {
        ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")
    }
    assert sum(r.records for r in pages) == len(in_window)
    assert table(warehouse)[target["id"]][0] == "corrected in place"
    assert metadata(backfill)["cursor_after"] == cursor
    sandbox.requests.clear()
    assert sync(warehouse, lookback_seconds=0).success
    assert api_pages(sandbox)[0].params["updated_since"] == cursor


@pytest.mark.parametrize(
    "config, named",
    [
        ({"sync_type": "backfill"}, "backfill_start and backfill_end"),
        ({"sync_type": "backfill", "backfill_start": "2025-02-01", "backfill_end": "2025-01-01"}, "must be before"),
        ({"sync_type": "backfill", "backfill_start": "last tuesday", "backfill_end": "2025-01-01"}, "backfill_start='last tuesday'"),
        ({"sync_type": "incremental", "backfill_start": "2025-01-01"}, "only apply to sync_type backfill"),
        ({"lookback_seconds": -5}, "lookback_seconds must be >= 0"),
    ],
)
def test_a_bad_sync_config_fails_before_any_request_and_changes_nothing(
    api_env, sandbox, warehouse, config, named
):
    assert sync(warehouse).success
    before = table(warehouse)
    sandbox.requests.clear()

    result = sync(warehouse, **config)

    assert not result.success
    assert named in failure_text(result)
    assert len(sandbox.requests) == 0
    assert table(warehouse) == before


def test_an_unknown_sync_type_is_refused_by_dagster_config_validation(api_env, warehouse):
    with pytest.raises(dg.DagsterInvalidConfigError, match="sync_type"):
        sync(warehouse, sync_type="everything")


def test_the_readme_cli_command_runs_a_full_refresh(api_env, sandbox, warehouse, cli_env, tmp_path, api_key):
    assert sync(warehouse).success  # the warehouse fixture is the CLI's data dir too
    sandbox.store.delete(3)

    result = run_cli(
        [
            DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*",
            "--config-json", '{"resources": {"sync": {"config": {"sync_type": "full_refresh"}}}}',
        ],
        cli_env,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert table(warehouse) == upstream(sandbox)
    assert 3 not in table(warehouse)
    assert api_key not in result.stdout + result.stderr


@pytest.fixture
def postgres_warehouse(tmp_path, monkeypatch):
    """The warehouse in PostgreSQL at 127.0.0.1:5432 (trust auth; dlt wants some password),
    in a dataset of the test's own, dropped afterwards. No skip: without PostgreSQL it fails."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES)
    dataset = f"support_api_test_{uuid.uuid4().hex[:12]}"
    yield WarehouseResource(destination="postgres", pipelines_dir=str(tmp_path / "dlt"), dataset_name=dataset)
    with psycopg2.connect(POSTGRES) as connection, connection.cursor() as cursor:
        cursor.execute(f'drop schema if exists "{dataset}" cascade; drop schema if exists "{dataset}_staging" cascade')


def test_full_refresh_then_incremental_on_postgres(api_env, sandbox, postgres_warehouse):
    dataset = postgres_warehouse.dataset_name
    assert sync(postgres_warehouse).success
    sandbox.store.delete(5)

    assert sync(postgres_warehouse, sync_type="full_refresh").success
    sandbox.store.update(6, subject="changed after the refresh")
    assert sync(postgres_warehouse).success

    with psycopg2.connect(POSTGRES) as connection, connection.cursor() as cursor:
        cursor.execute(f'select id, subject, status from "{dataset}".customer_support_data')
        loaded = {id: (subject, status) for id, subject, status in cursor.fetchall()}
    assert loaded == upstream(sandbox)
