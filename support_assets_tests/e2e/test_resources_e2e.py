"""Every resource of a config file as its own asset and step, end to end: the sandbox over
HTTP, a SUPPORT_API_CONFIG file the test writes, the real `dagster` CLI, DuckDB and
PostgreSQL; and a resource that fails does not stop the others (docs/sync-and-automation.md)."""

import json
import os
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import yaml

from support_assets.definitions import build_definitions
from support_assets.defs.sensors import FAILURE_SENSOR, failure_cause
from support_assets.defs.resources import WarehouseResource
from support_assets.sandbox import Fault, SandboxServer
from support_assets.sources.config_file import DEFAULT_CONFIG
from support_assets.sources.settings import RetryRules

from support_assets_tests.helpers import DAGSTER, failure_text, rows, run_cli
from support_assets_tests.helpers.postgres import database

NAMES = ["customer_support_data", "customers", "agents", "ticket_comments"]
KEYS = {name: dg.AssetKey(["support_api", name]) for name in NAMES}
STEPS = {name: f"support_api__{name}" for name in NAMES}
FAST = RetryRules(backoff_factor=0.01, max_wait=0.05, request_timeout=10)
COMMENTS = "/v1/resource/*/comments"


@pytest.fixture
def sandbox(api_key):
    """Small collections, so that every step pages a few times in a second or two."""
    with SandboxServer(api_key=api_key, records=40, customers=230, agents=25) as server:
        yield server


def write_config(path: Path) -> Path:
    """The shipped file with smaller pages: several pages per paginator, comments included."""
    document = yaml.safe_load(DEFAULT_CONFIG.read_text())
    pages = {"customers": {"per_page": 50}, "agents": {"limit": 10}, "ticket_comments": {"per_page": 2}}
    for resource in document["resources"]:
        resource["endpoint"].setdefault("params", {}).update(pages.get(resource["name"], {}))
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def upstream(sandbox) -> dict[str, set[int]]:
    """The ids each table must hold: what the API serves, flagged deletions left out."""
    tickets = sandbox.store.all_records()
    return {
        "customer_support_data": {r["id"] for r in tickets},
        "customers": {r["id"] for r in sandbox.stores["customers"].all_records() if r["deleted_at"] is None},
        "agents": {r["id"] for r in sandbox.stores["agents"].all_records()},
        "ticket_comments": {c["id"] for t in tickets for c in sandbox.stores["ticket_comments"].comments(t["id"])},
    }


def duckdb_ids(path, names=NAMES) -> dict[str, set[int]]:
    return {name: {i for (i,) in rows(path, f"select id from support_api.{name}")} for name in names}


def paths(sandbox) -> Counter:
    return Counter("comments" if r.path.endswith("/comments") else r.path for r in sandbox.requests)


# --- `dagster asset materialize --select '*'` with a config file of the test's own ---------


def test_the_cli_materializes_every_resource_of_a_custom_config_file_into_duckdb(
    sandbox, cli_env, tmp_path, api_key
):
    config = write_config(tmp_path / "my_api.yaml")
    env = {**cli_env, "SUPPORT_API_CONFIG": str(config)}

    result = run_cli([DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"], env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert duckdb_ids(tmp_path / "support.duckdb") == upstream(sandbox)
    # Several pages of each paginator; one comments request per ticket at least.
    requests = paths(sandbox)
    assert requests["/v1/customers"] == 5 and requests["/v1/agents"] == 3
    assert requests["comments"] > len(upstream(sandbox)["customer_support_data"])
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        for key in KEYS.values():
            assert instance.get_latest_materialization_event(key) is not None, key
    assert api_key not in result.stdout + result.stderr


def test_the_cli_loads_every_resource_into_postgresql(sandbox, cli_env, tmp_path, api_key):
    config = write_config(tmp_path / "my_api.yaml")
    with database("support_resources") as pg:
        env = {
            **cli_env,
            "SUPPORT_API_CONFIG": str(config),
            "SUPPORT_DESTINATION": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": pg.url,
        }

        result = run_cli([DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"], env)

        assert result.returncode == 0, result.stderr[-3000:]
        loaded = {name: {i for (i,) in pg.rows(f"select id from support_api.{name}")} for name in NAMES}
        assert loaded == upstream(sandbox)
        # Unicode names and null emails arrive as the API sent them.
        customers = {r["id"]: (r["name"], r["email"]) for r in sandbox.stores["customers"].all_records()}
        assert dict((i, (n, e)) for i, n, e in pg.rows("select id, name, email from support_api.customers")) == customers
    assert api_key not in result.stdout + result.stderr


# --- failure isolation ----------------------------------------------------------------------


def sync_job():
    """The sync job of the code location as the environment configures it, short retry waits.
    Reconstructable, so that a run can be re-executed from its failure (Dagster caches what it
    loads: only one test uses it)."""
    return build_definitions(retry=FAST).resolve_job_def("support_api_sync")


@pytest.fixture
def location_env(monkeypatch, sandbox, api_key, tmp_path):
    monkeypatch.setenv("SUPPORT_API_BASE_URL", sandbox.url)
    monkeypatch.setenv("SUPPORT_API_KEY", api_key)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SUPPORT_API_CONFIG", str(write_config(tmp_path / "my_api.yaml")))
    return tmp_path / "support.duckdb"


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


def run_sync(instance, **kwargs):
    with dg.execute_job(dg.reconstructable(sync_job), instance=instance, raise_on_error=False, **kwargs) as result:
        return result


def steps(result, event_type) -> Counter:
    return Counter(e.step_key for e in result.all_events if e.event_type == event_type)


def materialized(result) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


# (fault, the resource that fails, retries of its step, requests to its path)
FAILURES = {
    # A 5xx that outlasts everything: 4 attempts per request (the HTTP layer), 4 step
    # attempts (3 Dagster retries), each failing at its first comments request.
    "persistent 503 on the comments": (Fault(status=503, path=COMMENTS, times=10_000), "ticket_comments", 3, 16),
    "404 on the customers": (Fault(status=404, path="/v1/customers", times=10_000), "customers", 0, 1),
    "401 on the agents": (Fault(status=401, path="/v1/agents", times=10_000), "agents", 0, 1),
    "bad data on the customers": (
        Fault(body=b'{"data": [{"id": 1, "name": ', path="/v1/customers", times=10_000), "customers", 0, 1,
    ),
}


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_a_failing_resource_fails_only_its_step_and_only_it_is_retried(case, location_env, sandbox, instance, api_key):
    fault, failing, retries, requests = FAILURES[case]
    sandbox.faults.add(fault)

    result = sync_job().execute_in_process(instance=instance, raise_on_error=False)

    assert not result.success
    others = [name for name in NAMES if name != failing]
    # The other resources landed, with their materializations.
    assert materialized(result) == set(others)
    expected = upstream(sandbox)
    assert duckdb_ids(location_env, others) == {name: expected[name] for name in others}
    # The run fails naming the step; the step's error names the resource.
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.step_key == STEPS[failing]
    assert failure_text(result).count(f"{failing}: ") >= 1
    run_failure = result.get_run_failure_event()
    assert STEPS[failing] in run_failure.message
    # Only the failing step was retried, as many times as the rules say; nothing else ran twice.
    assert steps(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == ({STEPS[failing]: retries} if retries else Counter())
    starts = steps(result, dg.DagsterEventType.STEP_START)
    assert all(starts[STEPS[name]] == 1 for name in others)
    path = "comments" if failing == "ticket_comments" else f"/v1/{failing}"
    assert paths(sandbox)[path] == requests
    assert api_key not in failure_text(result)
    # The failure sensor reports the run with the failed resource's cause.
    context = dg.build_run_status_sensor_context(
        sensor_name=FAILURE_SENSOR, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    assert failure_cause(context).startswith(f"Failure: {failing}: ")


def test_re_execution_from_failure_runs_only_the_failed_step(location_env, sandbox, instance):
    sandbox.faults.add(Fault(status=404, path="/v1/customers", times=10_000))
    failed = run_sync(instance)
    assert not failed.success
    sandbox.faults.clear()
    sandbox.requests.clear()

    options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
    again = run_sync(instance, reexecution_options=options)

    assert again.success
    sync_steps = {step for step in steps(again, dg.DagsterEventType.STEP_START) if step in STEPS.values()}
    assert sync_steps == {STEPS["customers"]}
    assert materialized(again) == {"customers"}
    assert set(paths(sandbox)) == {"/v1/customers"}
    assert duckdb_ids(location_env, ["customers"])["customers"] == upstream(sandbox)["customers"]


# --- a child follows its parent incrementally, from its own copy of the parent's cursor ------


def materialize(instance, *names, **config):
    definitions = build_definitions(retry=FAST)
    return dg.materialize(
        list(definitions.assets),
        resources=definitions.resources,
        instance=instance,
        selection=[KEYS[name] for name in names],
        run_config={"resources": {"sync": {"config": {"lookback_seconds": 0, **config}}}},
        raise_on_error=False,
    )


def comment_requests(sandbox) -> list[int]:
    return sorted(int(r.path.split("/")[3]) for r in sandbox.requests if r.path.endswith("/comments"))


def newest_tickets(sandbox) -> set[int]:
    """The tickets at the cursor: an incremental read starts at it, included."""
    tickets = sandbox.store.all_records()
    newest = max(t["updated_at"] for t in tickets)
    return {t["id"] for t in tickets if t["updated_at"] == newest}


def test_the_child_asks_for_the_comments_of_the_tickets_changed_since_its_own_last_sync(
    location_env, sandbox, instance
):
    assert materialize(instance, *NAMES).success
    tickets = len(upstream(sandbox)["customer_support_data"])
    assert len(set(comment_requests(sandbox))) == tickets  # the first sync: every ticket's
    at_cursor = newest_tickets(sandbox)
    sandbox.stores["ticket_comments"].add({"ticket_id": 7, "body": "Merci, ça marche 👍"})
    sandbox.store.update(9, subject="changed")

    # The tickets' own step syncs first and moves the tickets' cursor in its pipeline...
    sandbox.requests.clear()
    assert materialize(instance, "customer_support_data").success
    assert comment_requests(sandbox) == []
    # ...which is not the child's: it still asks for the comments of tickets 7 and 9, and of
    # none of the other tickets but those at its cursor.
    sandbox.requests.clear()
    child = materialize(instance, "ticket_comments")
    assert child.success
    assert set(comment_requests(sandbox)) == {7, 9} | at_cursor
    [event] = child.get_asset_materialization_events()
    newest = max(t["updated_at"] for t in sandbox.store.all_records())
    assert event.materialization.metadata["parent_cursor_after"].value == newest
    assert duckdb_ids(location_env, ["ticket_comments"])["ticket_comments"] == upstream(sandbox)["ticket_comments"]

    # Nothing changed since: the next incremental sync of the child asks only for those at its cursor.
    at_cursor = newest_tickets(sandbox)
    sandbox.requests.clear()
    assert materialize(instance, "ticket_comments").success
    assert set(comment_requests(sandbox)) == at_cursor and at_cursor <= {7, 9}
