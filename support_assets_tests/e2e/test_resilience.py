"""Rate limits, dropped connections and slow answers from the sandbox over real HTTP:
the sync rides them out and loads every record exactly once."""

import time
from collections import Counter
from dataclasses import replace

import dagster as dg

from support_assets.sources.settings import RetryRules
from support_assets.definitions import build_definitions
from support_assets.sandbox import Fault

from support_assets_tests.helpers import TICKETS_ONLY, rows

TICKETS = "support_api.customer_support_data"
# Short waits; Retry-After values above max_wait are capped to it. A generous timeout,
# so that a slow moment of a busy machine does not add retries the tests count.
FAST = RetryRules(backoff_factor=0.01, max_wait=0.05, request_timeout=10)
NORMAL = Fault()  # answers normally; queued between faults to spread them over the pages


def sync(warehouse, rules=FAST):
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse, retry=rules)
    return dg.materialize(list(definitions.assets), resources=definitions.resources, raise_on_error=False)


def assert_table_equals_the_api(warehouse, sandbox):
    expected = {r["id"]: r["subject"] for r in sandbox.store.all_records()}
    db = warehouse.duckdb_path
    assert rows(db, f"select count(*), count(distinct id) from {TICKETS}") == [(len(expected), len(expected))]
    assert dict(rows(db, f"select id, subject from {TICKETS}")) == expected


def retries(result) -> int:
    return sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


def test_a_storm_of_429s_with_retry_after_completes_with_every_record(api_env, sandbox, warehouse):
    storm = [
        Fault(status=429, retry_after="1", times=3), NORMAL,  # page 1: 3 retries, then served
        Fault(status=429, retry_after="2", times=2), NORMAL,  # page 2: 2 retries
        # page 3: more 429s than the HTTP layer retries, so the op is retried too
        Fault(status=429, retry_after="1", times=5),
    ]
    for fault in storm:
        sandbox.faults.add(fault)

    result = sync(warehouse)

    assert result.success
    assert retries(result) == 1
    assert len(sandbox.faults) == 0
    assert sum(r.status == 429 for r in sandbox.requests) == 10
    assert_table_equals_the_api(warehouse, sandbox)


def test_a_connection_dropped_mid_sync_completes(api_env, sandbox, warehouse):
    sandbox.faults.add(NORMAL)
    sandbox.faults.add(Fault(drop=True, path="/v1/resource"))

    result = sync(warehouse)

    assert result.success
    assert retries(result) == 0  # the HTTP layer's retry was enough
    served = list(sandbox.requests)
    # Pages after the first are fetched concurrently: the dropped one is whichever arrived
    # second; it was asked again and answered, every other page once.
    dropped = [r.params["offset"] for r in served if r.status is None]
    assert len(dropped) == 1 and dropped[0] != "0"
    assert [r.status for r in served if r.params["offset"] == dropped[0]] == [None, 200]
    answered = Counter(r.params["offset"] for r in served if r.status == 200)
    assert set(answered.values()) == {1}
    assert_table_equals_the_api(warehouse, sandbox)


def test_an_answer_slower_than_the_timeout_is_retried(api_env, sandbox, warehouse):
    sandbox.faults.add(NORMAL)
    sandbox.faults.add(Fault(delay=3))

    result = sync(warehouse, replace(FAST, request_timeout=1))

    assert result.success
    # The sandbox logs the slow request when its delay ends, after the client gave up.
    deadline = time.monotonic() + 10
    while len(sandbox.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Pages after the first are fetched concurrently: the slow one is whichever arrived
    # second (not page 0), asked twice; every other page once.
    offsets = Counter(r.params["offset"] for r in sandbox.requests)
    assert sorted(offsets, key=int) == ["0", "100", "200"]
    assert offsets["0"] == 1 and sorted(offsets.values()) == [1, 1, 2]
    assert_table_equals_the_api(warehouse, sandbox)


def test_an_outage_longer_than_both_layers_fails_and_the_next_sync_completes(api_env, sandbox, warehouse):
    assert sync(warehouse).success
    sandbox.store.update(3, subject="changed during the outage")
    sandbox.store.add(150)  # with the update, two pages of changes for the incremental sync
    sandbox.faults.add(NORMAL)  # the outage starts after the first page
    sandbox.faults.add(Fault(status=503, times=4 * 4 - 1))  # every attempt of both layers…
    sandbox.faults.add(Fault(drop=True))  # …the last one a dropped connection

    failed = sync(warehouse)

    assert not failed.success and retries(failed) == 3
    # The warehouse keeps what the last good sync loaded.
    assert rows(warehouse.duckdb_path, f"select count(*) from {TICKETS}") == [(250,)]

    assert sync(warehouse).success
    assert_table_equals_the_api(warehouse, sandbox)
