"""The metadata of each materialization: after a sync, and after a sync that found
nothing new (which succeeds and says so)."""

import dlt
import pytest

from support_assets.defs.metadata import incremental_cursor, snapshot, sync_metadata
from support_assets.sources.progress import SyncProgress

from support_assets_tests.helpers import failure_text, rows
from support_assets_tests.helpers.sync import TICKETS, metadata, sync, warehouse_state


def test_metadata_after_a_sync(api_env, sandbox, warehouse):
    result = sync(warehouse, checks=False)

    assert result.success
    meta = metadata(result)
    assert {k: meta[k] for k in (
        "sync_type", "nothing_new", "records_fetched", "pages_requested", "api_total",
        "rows_loaded", "rows_loaded_by_table", "retries", "retry_wait_seconds",
        "cursor_before", "cursor_after", "dagster/row_count", "schema_change",
    )} == {
        "sync_type": "incremental",
        "nothing_new": False,
        "records_fetched": 250,
        "pages_requested": 3,
        "api_total": 250,
        "rows_loaded": 250,
        "rows_loaded_by_table": {"customer_support_data": 250},
        "retries": 0,
        "retry_wait_seconds": 0.0,
        # The first sync starts with no cursor and leaves the newest updated_at.
        "cursor_before": None,
        "cursor_after": max(r["updated_at"] for r in sandbox.store.all_records()),
        "dagster/row_count": 250,
        "schema_change": "table created",
    }
    assert meta["summary"] == "250 records fetched, 250 rows loaded into customer_support_data"
    assert {c.name for c in meta["dagster/column_schema"].columns} >= {"id", "customer_id", "updated_at"}
    assert meta["dagster/table_name"] == "duckdb.support_api.customer_support_data"


def test_the_sync_type_of_the_run_is_reported(api_env, sandbox, warehouse):
    result = sync(warehouse, checks=False, sync_type="full_refresh")

    assert metadata(result)["sync_type"] == "full_refresh"


@pytest.fixture
def empty_sandbox(sandbox):
    for record in sandbox.store.all_records():
        sandbox.store.delete(record["id"])
    return sandbox


def test_a_first_sync_that_finds_nothing_succeeds_and_says_so(api_env, empty_sandbox, warehouse):
    result = sync(warehouse, checks=False)

    assert result.success
    meta = metadata(result)
    assert meta["nothing_new"] is True
    assert meta["summary"] == "nothing new: the API returned no records; the table is unchanged"
    assert meta["rows_loaded"] == 0 and meta["records_fetched"] == 0 and meta["api_total"] == 0
    assert meta["pages_requested"] == 1
    assert meta["schema_change"] == "no table yet"


def test_a_sync_that_finds_nothing_new_succeeds_says_so_and_changes_nothing(api_env, sandbox, warehouse):
    assert sync(warehouse, checks=False).success
    before = warehouse_state(warehouse.duckdb_path)
    for record in sandbox.store.all_records():
        sandbox.store.delete(record["id"])  # the API has nothing to send

    result = sync(warehouse, checks=False)

    assert result.success
    meta = metadata(result)
    assert meta["nothing_new"] is True
    assert meta["rows_loaded"] == 0
    assert meta["rows_loaded_by_table"] == {"customer_support_data": 0}
    assert meta["dagster/row_count"] == 250
    assert meta["summary"] == "nothing new: the API returned no records; the table is unchanged"
    after = warehouse_state(warehouse.duckdb_path)
    assert after["tickets"] == before["tickets"]


def test_a_cursor_that_did_not_move_means_nothing_new(tmp_path):
    """An incremental sync re-reads its lookback window: records, but nothing newer."""
    pipeline = dlt.pipeline("unit_meta", pipelines_dir=str(tmp_path), destination="duckdb")
    progress = SyncProgress(retries=2, retry_wait_seconds=6.5)
    progress.page("customer_support_data", 12)

    meta = sync_metadata(
        "customer_support_data",
        progress,
        pipeline,
        sync_type="incremental",
        cursor_before="2026-01-01T00:00:00Z",
        cursor_after="2026-01-01T00:00:00Z",
    )

    assert meta["nothing_new"] is True
    assert meta["summary"] == "nothing new: 12 records fetched, the cursor stayed at 2026-01-01T00:00:00Z"
    assert meta["retries"].value == 2 and meta["retry_wait_seconds"].value == 6.5


def test_the_cursor_before_a_sync_is_read_from_the_destination(tmp_path):
    """dlt's incremental state lives in the destination; the metadata reads it from there,
    so a lost local working directory does not lose the 'before' value."""

    @dlt.source(name="support_api")
    def source(rows):
        @dlt.resource(name="customer_support_data", primary_key="id", write_disposition="merge")
        def tickets(updated_at=dlt.sources.incremental("updated_at")):
            yield rows

        return tickets

    def pipeline():
        return dlt.pipeline(
            "cursor_test",
            destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
            dataset_name="support_api",
            pipelines_dir=str(tmp_path / "dlt"),
        )

    first = pipeline()
    first.run(source([{"id": 1, "updated_at": "2026-03-01T10:00:00Z"}]))
    assert incremental_cursor(first.state, "customer_support_data") == "2026-03-01T10:00:00Z"
    first.drop()  # the local state is gone, as DagsterDltResource does before every run

    before = snapshot(pipeline(), ["customer_support_data"])

    assert before.cursors == {"customer_support_data": "2026-03-01T10:00:00Z"}
    assert "updated_at" in before.tables["customer_support_data"]
    assert rows(tmp_path / "warehouse.duckdb", f"select count(*) from {TICKETS}") == [(1,)]
