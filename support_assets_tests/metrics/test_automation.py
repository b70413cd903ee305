"""The models' automation condition, evaluated with dg.evaluate_automation_conditions on the
code location's definitions, and a blocking check stopping the models inside a run."""

import threading

import dagster as dg

from support_assets.definitions import build_definitions
from support_assets.defs.metrics import GROUP, build_metrics_definitions
from support_assets.defs.resources import WarehouseResource
from support_assets_tests.helpers.automation import wait_for
from support_assets_tests.metrics import known_rows
from support_assets.sources.config_file import ENDPOINTS
from support_assets_tests.helpers import TICKETS_ONLY

TICKET_METRICS = dg.AssetKey([GROUP, "ticket_metrics"])
MODELS = {TICKET_METRICS, dg.AssetKey([GROUP, "daily_ticket_metrics"]), dg.AssetKey([GROUP, "customer_metrics"])}


def synced_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The sync's tables the models read (synced assets, or stubs where none syncs them yet)."""
    graph = defs.resolve_asset_graph()
    return sorted((key for key in graph.get_all_asset_keys() if key.path[0] == "support_api"), key=str)


def blocking_checks(defs: dg.Definitions) -> list[dg.AssetCheckKey]:
    graph = defs.resolve_asset_graph()
    return [key for key in graph.asset_check_keys if key.asset_key.path[0] == "support_api" and graph.get(key).blocking]


def report_sync(instance: dg.DagsterInstance, defs: dg.Definitions, failed: set[str] = frozenset()) -> None:
    """What a finished sync leaves in the instance: a materialization of every synced table,
    then its blocking checks' results (those named in `failed` failed)."""
    for key in synced_keys(defs):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
    for check in blocking_checks(defs):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(asset_key=check.asset_key, check_name=check.name, passed=check.name not in failed)
        )


def requested(result) -> set[dg.AssetKey]:
    return {key for key in MODELS if result.get_num_requested(key)}


def test_the_models_update_after_each_sync_and_only_then(warehouse):
    defs = build_definitions(ENDPOINTS, warehouse=warehouse)
    instance = dg.DagsterInstance.ephemeral()
    never_synced = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert requested(never_synced) == set()  # nothing to build on

    report_sync(instance, defs)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=never_synced.cursor)
    assert requested(first) == MODELS  # all three in one run: the downstream ones as will_be_requested

    idle = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert requested(idle) == set()  # nothing new upstream

    report_sync(instance, defs)
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=idle.cursor)
    assert requested(again) == MODELS


def test_the_models_do_not_update_while_a_blocking_check_upstream_failed(warehouse):
    defs = build_definitions(ENDPOINTS, warehouse=warehouse)
    instance = dg.DagsterInstance.ephemeral()
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    report_sync(instance, defs, failed={"primary_key_unique"})

    blocked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert TICKET_METRICS not in requested(blocked)

    report_sync(instance, defs)  # the next sync repaired the table
    repaired = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=blocked.cursor)
    assert TICKET_METRICS in requested(repaired)


def test_the_models_do_not_update_while_a_sync_runs(tmp_path, api_env, sandbox):
    """A real sync of the sandbox, slowed down, running in another thread."""
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "support.duckdb"), pipelines_dir=str(tmp_path / "dlt"))
    defs = build_definitions(ENDPOINTS, warehouse=warehouse)
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    report_sync(instance, defs)  # an earlier sync: the models would update now
    ready = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert requested(ready) == MODELS

    sandbox.faults.latency = 1.5  # seconds per response: the sync outlasts the evaluation
    # A sync of the tickets alone (3 pages), against the sandbox: every resource at this latency
    # would take minutes (a request per ticket for the comments).
    sync_job = build_definitions(TICKETS_ONLY, warehouse=warehouse).resolve_job_def("support_api_sync")
    thread = threading.Thread(target=lambda: sync_job.execute_in_process(instance=instance, raise_on_error=False))
    thread.start()
    try:
        wait_for(
            lambda: any(r.status == dg.DagsterRunStatus.STARTED for r in instance.get_runs()),
            60,
            "the sync to start",
            interval=0.1,
        )
        during = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=ready.cursor)
        assert instance.get_runs()[0].status == dg.DagsterRunStatus.STARTED  # still syncing when evaluated
        assert requested(during) == set()
    finally:
        thread.join(timeout=300)
    assert instance.get_runs()[0].status == dg.DagsterRunStatus.SUCCESS
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=during.cursor)
    assert TICKET_METRICS in requested(after)
    instance.dispose()


def run_checks_and_models(tmp_path, extra_tickets) -> dg.ExecuteInProcessResult:
    """One run holding the sync's checks (checks.py) on the tables and the models after them,
    as `dagster asset materialize --select '*'` does. The checks alone: each resource's step
    evaluates them without syncing (the tables hold known rows, written by hand)."""
    path = str(tmp_path / "support.duckdb")
    known_rows.write_duckdb(path, extra_tickets=extra_tickets)
    warehouse = WarehouseResource(duckdb_path=path, pipelines_dir=str(tmp_path / "dlt"))
    synced = build_definitions(ENDPOINTS, warehouse=warehouse)
    metrics = build_metrics_definitions("duckdb", project_dir=known_rows.dbt_project_copy(tmp_path))
    return dg.materialize(
        [*metrics.assets, *(a for a in synced.assets if a.op.name.startswith("support_api__"))],
        selection=dg.AssetSelection.groups(GROUP) | dg.AssetSelection.all_asset_checks(),
        resources={**synced.resources, **metrics.resources, "warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def test_a_failing_blocking_check_stops_the_models_in_the_same_run(tmp_path, api_env, sandbox):
    duplicate = (1, 10, "open", "2026-01-05 08:00:00+00", "2026-01-05 08:00:00+00")
    result = run_checks_and_models(tmp_path, [duplicate])

    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert not checks[("customer_support_data", "primary_key_unique")].passed
    assert not result.get_asset_materialization_events()
    # dbt never ran: none of its tests reported, the unique test that would also catch it included.
    names = [name for _, name in checks]
    assert not [name for name in names if name.startswith(("unique_", "not_null_", "ticket_metrics_", "customer_metrics_"))]


def test_with_passing_blocking_checks_the_same_run_builds_the_models(tmp_path, api_env, sandbox):
    result = run_checks_and_models(tmp_path, [])

    assert not sandbox.requests  # the checks ran alone: no sync
    checks = [e for e in result.get_asset_check_evaluations() if e.check_name in ("primary_key_unique", "required_not_null")]
    assert checks and all(e.passed for e in checks)
    assert {e.asset_key for e in result.get_asset_materialization_events()} == MODELS
