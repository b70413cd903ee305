"""The API's data changing while a sync pages through it (docs/consistency.md): the sandbox over
HTTP changes its records right after page k is served, the real asset syncs into a DuckDB file,
and afterwards the warehouse holds every record that exists upstream, as it is upstream."""

import logging
import time

import dagster as dg
import pytest

from support_assets.sources.config_file import ENDPOINTS
from support_assets.sources.settings import Endpoint
from support_assets.definitions import build_definitions
from support_assets.sources.drift import PassMonitor
from support_assets.defs.resources import SupportApiResource
from support_assets.sandbox import Drift, SandboxServer

from support_assets_tests.helpers import DAGSTER, rows, run_cli
from support_assets_tests.helpers.secret_scan import leaks_in_files, leaks_in_text
from support_assets_tests.helpers.sync import metadata

TICKETS = "support_api.customer_support_data"
RECORDS = 1000  # ten pages of 100
# Positions are offsets in the API's order before the change, all behind the second page.
CHANGES = {
    "deletions": dict(delete=(10, 50, 150)),
    "insertions": dict(insert=(5, 120)),
    "both": dict(delete=(10, 11, 12), insert=(3,)),
}


@pytest.fixture
def sandbox(api_key):
    with SandboxServer(api_key=api_key, records=RECORDS) as server:
        yield server


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def sync(sandbox, warehouse, instance, concurrency=8, endpoints=ENDPOINTS[:1], **config):
    definitions = build_definitions(endpoints=endpoints, warehouse=warehouse)
    api = SupportApiResource(base_url=sandbox.url, page_concurrency=concurrency)
    return dg.materialize(
        list(definitions.assets),
        resources={**definitions.resources, "warehouse": warehouse, "support_api": api},
        run_config={"resources": {"sync": {"config": config}}},
        instance=instance,
        raise_on_error=False,
    )


def pages(sandbox) -> list:
    return [r for r in sandbox.requests if r.path == "/v1/resource"]


def warehouse_rows(warehouse) -> dict:
    return {r[0]: r[1:] for r in rows(warehouse.duckdb_path, f"select id, subject, updated_at from {TICKETS}")}


def upstream(sandbox) -> dict:
    return {r["id"]: (r["subject"], r["updated_at"]) for r in sandbox.store.all_records()}


def same_as_upstream(held: dict, sandbox) -> dict:
    """Upstream records the warehouse lacks or holds in another version: must be empty."""
    wrong = {}
    for id, (subject, updated_at) in upstream(sandbox).items():
        row = held.get(id)
        if row is None or row[0] != subject or row[1].strftime("%Y-%m-%dT%H:%M:%SZ") != updated_at:
            wrong[id] = row
    return wrong


def log_text(instance, result) -> str:
    return "\n".join(e.user_message or "" for e in instance.all_logs(result.run_id))


def read_pass(monitor, pages_by_serve):
    """Feeds a pass to `monitor`: (offset, ids, total) in the order the API served them."""
    served = {offset: (order, ids, total) for order, (offset, ids, total) in enumerate(pages_by_serve)}
    for offset in sorted(served):  # the paginator consumes pages in offset order
        order, ids, total = served[offset]
        monitor.page(offset, total, ids, order)
    return monitor.end_pass()


def test_the_signals_of_a_pass_that_drifted():
    calm = PassMonitor("t", 3)
    assert read_pass(calm, [(0, [1, 2, 3], 6), (3, [4, 5, 6], 6)]) is False
    assert calm.report.drift_passes == 0
    # A deletion behind the read position between the two serves: total drops, id 4 is skipped.
    assert read_pass(PassMonitor("t", 3), [(0, [1, 2, 3], 6), (3, [5, 6], 5)]) is True
    # An insertion behind the read position balanced by a deletion ahead: total unchanged,
    # id 3 comes twice.
    balanced = PassMonitor("t", 3)
    assert read_pass(balanced, [(0, [1, 2, 3], 6), (3, [3, 4, 5], 6)]) is True
    assert balanced.report.drift_offsets == [3]
    # Served out of order (offset 3 first), then id 1 deleted: offset 0 serves id 4 again.
    reordered = PassMonitor("t", 3)
    assert read_pass(reordered, [(3, [4, 5, 6], 6), (0, [2, 3, 4], 5)]) is True
    assert reordered.report.drift_offsets == [0, 3]


def test_an_api_that_serves_an_id_twice_costs_one_extra_pass_not_the_bound():
    static = [(0, [1, 2, 2], 5), (3, [3, 1], 5)]  # 2 twice on one page: no sign; 1 on two pages: a sign
    monitor = PassMonitor("t", 3)
    assert read_pass(monitor, static) is True
    assert read_pass(monitor, static) is False  # the same repeat again: the API's, not a move
    assert (monitor.report.drift_passes, monitor.report.records_possibly_missed) == (1, 0)


def test_a_deletion_behind_balanced_by_an_insertion_ahead_is_invisible_as_documented():
    # S = 1..6; after page 0 is served, id 2 is deleted and id 9 inserted at the end:
    # page 3 serves [5, 6, 9]; id 4 is never served, and no signal can say so (docs/consistency.md).
    monitor = PassMonitor("t", 3)
    assert read_pass(monitor, [(0, [1, 2, 3], 6), (3, [5, 6, 9], 6)]) is False


def test_the_bound_ends_the_passes_and_says_what_may_be_missing():
    monitor = PassMonitor("t", 3, max_extra_passes=1)
    assert read_pass(monitor, [(0, [1, 2, 3], 6), (3, [5, 6], 5)]) is True
    assert read_pass(monitor, [(0, [1, 3, 5], 5), (3, [7], 4)]) is False
    assert monitor.report.drift_passes == 1
    assert monitor.report.records_possibly_missed >= 1 and monitor.report.drift_offsets == [3]


@pytest.mark.parametrize("concurrency", [8, 1])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_full_refresh_under_changes_ends_with_exactly_the_records_upstream(
    api_env, sandbox, warehouse, instance, change, concurrency
):
    sandbox.drifts.add(Drift(after_page=2, **CHANGES[change]))

    result = sync(sandbox, warehouse, instance, concurrency, sync_type="full_refresh")

    assert result.success
    held = warehouse_rows(warehouse)
    assert same_as_upstream(held, sandbox) == {}
    assert set(held) == set(upstream(sandbox))  # records deleted upstream are gone too
    assert rows(warehouse.duckdb_path, f"select count(*) - count(distinct id) from {TICKETS}") == [(0,)]
    assert (metadata(result)["drift_passes"], metadata(result)["records_possibly_missed"]) == (1, 0)
    # The re-read costs one more pass over the range; 8 in flight may also fetch pages past an
    # end that moved (at most 7).
    passes = 2 * len(range(0, max(RECORDS, len(held)), 100))
    assert passes <= len(pages(sandbox)) <= passes + concurrency - 1


@pytest.mark.parametrize("concurrency", [8, 1])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_incremental_sync_under_changes_reads_every_changed_record(
    api_env, sandbox, warehouse, instance, change, concurrency
):
    assert sync(sandbox, warehouse, instance, concurrency).success
    for id in range(1, 601):  # six pages of changes for the incremental sync to page through
        sandbox.store.update(id, subject=f"changed {id}")
    sandbox.requests.clear()
    sandbox.drifts.add(Drift(after_page=2, **CHANGES[change]))

    result = sync(sandbox, warehouse, instance, concurrency, lookback_seconds=0)

    assert result.success
    assert {r.params.get("updated_since") for r in pages(sandbox)} != {None}  # a cursor-filtered read
    held = warehouse_rows(warehouse)
    # Every upstream record, in its latest version; ids deleted upstream may remain (the API
    # does not flag deletions here and this is not a full refresh).
    assert same_as_upstream(held, sandbox) == {}
    assert metadata(result)["drift_passes"] == 1
    assert metadata(result)["records_possibly_missed"] == 0


@pytest.mark.parametrize("concurrency", [8, 1])
def test_a_sync_without_drift_makes_the_requests_it_always_made(api_env, sandbox, warehouse, instance, concurrency):
    result = sync(sandbox, warehouse, instance, concurrency, sync_type="full_refresh")

    assert result.success
    assert sorted(int(r.params["offset"]) for r in pages(sandbox)) == list(range(0, RECORDS, 100))
    assert metadata(result)["drift_passes"] == 0


@pytest.mark.parametrize("concurrency", [8, 1])
def test_a_backfill_under_deletions_reads_every_record_of_its_window(api_env, sandbox, warehouse, instance, concurrency):
    assert sync(sandbox, warehouse, instance, sync_type="full_refresh").success
    for id in range(1, 401):
        sandbox.store.update(id, subject=f"changed {id}", updated_at="2026-01-15T00:00:00Z")
    sandbox.drifts.add(Drift(after_page=2, delete=(10, 20)))

    result = sync(
        sandbox, warehouse, instance, concurrency, sync_type="backfill",
        backfill_start="2026-01-01T00:00:00Z", backfill_end="2026-02-01T00:00:00Z",
    )

    assert result.success
    assert metadata(result)["drift_passes"] == 1
    assert same_as_upstream(warehouse_rows(warehouse), sandbox) == {}


def test_a_collection_that_changes_on_every_pass_ends_the_sync_and_the_next_one_catches_up(
    api_env, api_key, sandbox, warehouse, instance, tmp_path
):
    assert sync(sandbox, warehouse, instance, 1).success
    for id in range(1, 501):
        sandbox.store.update(id, subject=f"changed {id}")
    sandbox.requests.clear()
    # Five pages a pass; each of the two passes allowed loses two records behind its read position.
    sandbox.drifts.add(Drift(after_page=2, delete=(1, 2)))
    sandbox.drifts.add(Drift(after_page=7, delete=(1, 2)))

    bounded = sync(sandbox, warehouse, instance, 1, lookback_seconds=0, max_drift_passes=1)

    assert bounded.success  # not a failure, and not retried: two passes, then done
    assert len(pages(sandbox)) == 10
    meta = metadata(bounded)
    assert meta["drift_passes"] == 1 and meta["records_possibly_missed"] >= 2
    warning = [e for e in instance.all_logs(bounded.run_id) if e.level == logging.WARNING]
    assert any("customer_support_data" in e.user_message and "offsets [" in e.user_message for e in warning)

    sandbox.requests.clear()
    after = sync(sandbox, warehouse, instance, 1, lookback_seconds=0)

    assert after.success
    assert {r.params.get("updated_since") for r in pages(sandbox)} == {None}  # the whole range
    assert metadata(after)["records_possibly_missed"] == 0
    assert same_as_upstream(warehouse_rows(warehouse), sandbox) == {}
    text = log_text(instance, bounded) + log_text(instance, after)
    assert "reading its whole range" in text
    assert not leaks_in_text(api_key, text)
    assert leaks_in_files(api_key, tmp_path) == []


def flagged_tickets() -> list[Endpoint]:
    """The shipped tickets resource, plus a `deleted_at` column with dlt's `hard_delete` hint."""
    tickets = ENDPOINTS[0]
    deleted_at = {"data_type": "timestamp", "timezone": True, "hard_delete": True}
    return [Endpoint({**tickets.resource, "columns": {**tickets.columns, "deleted_at": deleted_at}})]


def test_flagged_deletions_leave_the_warehouse_on_the_next_incremental_sync(api_env, sandbox, warehouse, instance):
    endpoints = flagged_tickets()
    assert sync(sandbox, warehouse, instance, endpoints=endpoints).success
    for id in (3, 300, 700):
        sandbox.store.soft_delete(id)  # sets deleted_at, still served
    sandbox.store.update(5, subject="still here")

    result = sync(sandbox, warehouse, instance, endpoints=endpoints)

    assert result.success
    held = warehouse_rows(warehouse)
    assert {3, 300, 700}.isdisjoint(held)
    assert held[5][0] == "still here" and len(held) == RECORDS - 3
    assert rows(warehouse.duckdb_path, f"select count(deleted_at) from {TICKETS}") == [(0,)]

    # A full refresh leaves flagged records out as well.
    full = sync(sandbox, warehouse, instance, endpoints=endpoints, sync_type="full_refresh")
    assert full.success and set(warehouse_rows(warehouse)) == set(held)


def test_a_deleted_at_timestamp_deletes_a_row_the_warehouse_holds(api_env, sandbox, warehouse, instance):
    endpoints = flagged_tickets()
    assert sync(sandbox, warehouse, instance, endpoints=endpoints).success
    assert 42 in warehouse_rows(warehouse)
    sandbox.store.soft_delete(42)

    assert sync(sandbox, warehouse, instance, endpoints=endpoints).success
    assert 42 not in warehouse_rows(warehouse) and len(warehouse_rows(warehouse)) == RECORDS - 1


def test_no_page_request_runs_or_starts_after_a_failed_sync(api_env, sandbox, warehouse, instance):
    sandbox.store.add(2000)  # thirty pages
    sandbox.store.update(350, customer_id=None)  # page 4 breaks the declared schema: the sync fails
    sandbox.faults.latency = 0.5

    result = sync(sandbox, warehouse, instance, 8)
    served_when_it_failed = len(pages(sandbox))
    time.sleep(1.5)  # three times the sandbox's latency: a request still running would land now

    assert not result.success
    assert served_when_it_failed < 30  # the failure came before every page was fetched
    assert len(pages(sandbox)) == served_when_it_failed


def test_the_dagster_cli_recovers_from_deletions_during_a_full_refresh(sandbox, cli_env, tmp_path, api_key):
    sandbox.drifts.add(Drift(after_page=2, delete=(10, 50, 150), insert=(7,)))

    done = run_cli(
        [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*",
         "--config-json", '{"resources": {"sync": {"config": {"sync_type": "full_refresh"}}}}'],
        cli_env,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "reading it again" in done.stderr
    ids = {r[0] for r in rows(tmp_path / "support.duckdb", f"select id from {TICKETS}")}
    assert ids == set(upstream(sandbox))
    assert not leaks_in_text(api_key, done.stdout + done.stderr)
