"""A sync killed with SIGKILL in the middle, followed by the next sync: the table ends
complete, with every record exactly once, and the killed sync changed nothing half-way.

The killed run is the real `dagster asset materialize` (its process group: the CLI,
which runs the steps itself with the default in-process executor), against the sandbox over real HTTP and a real DuckDB file.
Mid-extract is found by watching the sandbox's request log; points inside dlt's load
step are reached deterministically by crash_hooks/sitecustomize.py.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from support_assets.definitions import build_definitions
from support_assets.defs.resources import PROJECT_ROOT

from support_assets_tests.helpers import DAGSTER, TICKETS_ONLY, rows

TICKETS = "support_api.customer_support_data"
HOOKS = Path(__file__).resolve().parents[1] / "helpers" / "crash_hooks"
RECORDS = 1000


def sync(warehouse):
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse)
    result = dg.materialize(list(definitions.assets), resources=definitions.resources, raise_on_error=False)
    assert result.success


def table(warehouse) -> dict[int, str]:
    return dict(rows(warehouse.duckdb_path, f"select id, subject from {TICKETS}"))


def api_records(sandbox) -> dict[int, str]:
    return {r["id"]: r["subject"] for r in sandbox.store.all_records()}


def assert_one_row_per_id(warehouse):
    ((count, distinct),) = rows(warehouse.duckdb_path, f"select count(*), count(distinct id) from {TICKETS}")
    assert count == distinct


def assert_table_equals_the_api(warehouse, sandbox):
    assert_one_row_per_id(warehouse)
    assert table(warehouse) == api_records(sandbox)
    # Each ticket's `tags` list arrives with it: none lost, none doubled.
    tags = {id: json.loads(t) for id, t in rows(warehouse.duckdb_path, f"select id, tags from {TICKETS}")}
    assert tags == {r["id"]: r["tags"] for r in sandbox.store.all_records()}


def start_materialize(env) -> subprocess.Popen:
    return subprocess.Popen(
        # The tickets' step: the one whose pages and load these tests interrupt.
        [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "support_api/customer_support_data"],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, whatever processes the executor starts
    )


def kill_when(process: subprocess.Popen, condition, timeout: float = 240) -> None:
    """SIGKILLs the process group as soon as `condition()` holds."""
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert process.poll() is None, "the sync ended before reaching the point to kill it at"
            assert time.monotonic() < deadline, "the sync never reached the point to kill it at"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    # Nothing of the run survives to hold the DuckDB file.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("processes of the killed run are still alive")


@pytest.fixture
def synced(sandbox, warehouse, api_env):
    """A first sync loaded RECORDS records; then the API changed: edits and new records."""
    sandbox.store.add(RECORDS - sandbox.store.total)
    sync(warehouse)
    before = table(warehouse)
    assert before == api_records(sandbox)
    for id in (5, 150, 777):
        sandbox.store.update(id, subject=f"edited {id}")
    sandbox.store.add(30)
    sandbox.requests.clear()
    return before


def test_killed_mid_extract_then_the_next_sync_completes_the_table(sandbox, warehouse, cli_env, synced):
    sandbox.faults.latency = 0.2  # ~2 s of pages to kill the run in
    process = start_materialize(cli_env)

    kill_when(process, lambda: sum(r.status == 200 for r in sandbox.requests) >= 3)

    pages = len(sandbox.requests)
    assert 3 <= pages < (RECORDS + 30) // 100 + 1, "killed while extracting"
    assert table(warehouse) == synced  # nothing of the killed sync landed
    sandbox.faults.latency = 0
    sync(warehouse)
    assert_table_equals_the_api(warehouse, sandbox)


@pytest.mark.parametrize("point", ["merge", "complete"])
def test_killed_mid_load_then_the_next_sync_completes_the_table(
    point, sandbox, warehouse, cli_env, synced, tmp_path
):
    marker = tmp_path / f"paused-at-{point}"
    env = {
        **cli_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOKS), cli_env.get("PYTHONPATH")])),
        "SUPPORT_TEST_PAUSE_AT": point,
        "SUPPORT_TEST_PAUSE_MARKER": str(marker),
    }
    process = start_materialize(env)

    kill_when(process, marker.exists)

    # Every page of the incremental sync was fetched (its last, short page was served):
    # the kill hit the load step.
    assert any(r.status == 200 and r.records < 100 for r in sandbox.requests)
    assert_one_row_per_id(warehouse)
    after_kill = table(warehouse)
    if point == "merge":
        assert after_kill == synced  # the half-done merge transaction was rolled back
    else:
        assert after_kill == api_records(sandbox)  # the merge had committed
    sync(warehouse)
    assert_table_equals_the_api(warehouse, sandbox)
