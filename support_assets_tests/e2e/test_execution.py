"""Where a sync's steps run (docs/performance.md, "Where a run's steps run"): one step per
resource, which syncs it and then evaluates its checks (docs/schema-checks-metadata.md); with
the default executor every step runs in the run's own process, one after the other;
SUPPORT_EXECUTOR=multiprocess gives each step a process of its own; Celery when a broker is
configured. Through the real `dagster asset materialize`."""

import pytest
import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from support_assets.definitions import build_definitions
from support_assets.defs.resources import PROJECT_ROOT
from support_assets.defs.executor import executor_from_env
from support_assets.sandbox.faults import Fault

from support_assets_tests.helpers import DAGSTER, run_cli, rows

TICKETS = "support_api.customer_support_data"
RESOURCES = ("customer_support_data", "customers", "agents", "ticket_comments")
SYNC_STEPS = {f"support_api__{name}": name for name in RESOURCES}  # one step per resource, its checks in it
METRICS_STEP = "support_metrics"  # the dbt models (docs/metrics.md), built after the syncs
TICKETS_STEP = "support_api__customer_support_data"
MATERIALIZE = [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"]


@pytest.fixture(autouse=True)
def no_executor_settings(monkeypatch):
    for var in ("SUPPORT_EXECUTOR", "SUPPORT_CELERY_BROKER_URL", "SUPPORT_CELERY_BACKEND_URL"):
        monkeypatch.delenv(var, raising=False)


def executor_of(job_name: str) -> str:
    return build_definitions().resolve_job_def(job_name).executor_def.name


def test_every_job_runs_in_process_by_default():
    # The sync job (schedules, sensors) and the implicit job of a Materialize click or the CLI.
    assert executor_of("support_api_sync") == "in_process"
    assert executor_of("__ASSET_JOB") == "in_process"


@pytest.mark.parametrize(
    "settings, executor",
    [
        ({"SUPPORT_EXECUTOR": "multiprocess"}, "multiprocess"),
        ({"SUPPORT_EXECUTOR": "in_process"}, "in_process"),
        ({"SUPPORT_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, "support_api_celery"),
        ({"SUPPORT_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "SUPPORT_EXECUTOR": "celery"}, "support_api_celery"),
        # An explicit choice wins over a broker in the environment.
        ({"SUPPORT_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "SUPPORT_EXECUTOR": "in_process"}, "in_process"),
    ],
)
def test_the_executor_is_the_one_configured(monkeypatch, settings, executor):
    for var, value in settings.items():
        monkeypatch.setenv(var, value)

    assert executor_of("support_api_sync") == executor
    assert executor_of("__ASSET_JOB") == executor


@pytest.mark.parametrize(
    "value, message",
    [
        ("threads", "SUPPORT_EXECUTOR='threads' is not one of in_process, multiprocess, celery"),
        ("celery", "SUPPORT_EXECUTOR=celery needs SUPPORT_CELERY_BROKER_URL (the broker's URL)"),
    ],
)
def test_a_bad_executor_setting_fails_the_load_naming_it(value, message):
    with pytest.raises(ValueError) as error:
        executor_from_env({"SUPPORT_EXECUTOR": value})
    assert str(error.value) == message


def step_events(home, event_type: dg.DagsterEventType) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        return [e for e in instance.all_logs(run.run_id) if e.dagster_event_type == event_type]


def check_evaluations(home) -> list:
    return step_events(home, dg.DagsterEventType.ASSET_CHECK_EVALUATION)


def test_the_cli_runs_each_sync_with_its_checks_in_one_step_in_its_own_process(cli_env, tmp_path):
    process = run_cli(MATERIALIZE, cli_env)

    assert process.returncode == 0, process.stderr[-3000:]
    home = tmp_path / "dagster_home"
    starts = step_events(home, dg.DagsterEventType.STEP_START)
    successes = step_events(home, dg.DagsterEventType.STEP_SUCCESS)
    # A step per resource, and the metrics' dbt build after them (docs/metrics.md): no step of checks.
    assert sorted(e.step_key for e in starts) == sorted([*SYNC_STEPS, METRICS_STEP])
    # One process for the whole run: the one that logged the run's start.
    (run_start,) = step_events(home, dg.DagsterEventType.RUN_START)
    assert {e.dagster_event.pid for e in starts + successes} == {run_start.dagster_event.pid}
    # Each resource's checks come from its own step, after its materialization.
    evaluations = [e for e in check_evaluations(home) if e.step_key in SYNC_STEPS]
    assert {SYNC_STEPS[e.step_key] for e in evaluations} == set(RESOURCES)
    assert all(e.dagster_event.event_specific_data.asset_key.path[-1] == SYNC_STEPS[e.step_key] for e in evaluations)
    materialized = {e.step_key: e.timestamp for e in step_events(home, dg.DagsterEventType.ASSET_MATERIALIZATION)}
    assert all(e.timestamp >= materialized[e.step_key] for e in evaluations)
    # And their results are recorded as the UI shows them.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        key = dg.AssetKey(["support_api", "customer_support_data"])
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(key, "primary_key_unique"), dg.AssetCheckKey(key, "required_not_null")]
        )
    assert {r.status for r in latest.values()} == {AssetCheckExecutionRecordStatus.SUCCEEDED}


def test_one_resource_through_the_cli_is_one_step_that_also_evaluates_its_checks(cli_env, tmp_path):
    """What docs/schema-checks-metadata.md says: `dagster asset materialize --select` of a resource
    runs one step, the resource's, which syncs it and then evaluates its checks."""
    process = run_cli([*MATERIALIZE[:-1], "support_api/customer_support_data"], cli_env)

    assert process.returncode == 0, process.stderr[-3000:]
    home = tmp_path / "dagster_home"
    assert [e.step_key for e in step_events(home, dg.DagsterEventType.STEP_START)] == [TICKETS_STEP]
    evaluations = check_evaluations(home)
    assert {e.step_key for e in evaluations} == {TICKETS_STEP}
    evaluated = {e.dagster_event.event_specific_data.check_name for e in evaluations}
    # complete_after_full_refresh: skipped, the first sync is incremental
    assert evaluated == {"primary_key_unique", "required_not_null", "fresh", "column_schema_change"}


def test_with_multiprocess_every_step_gets_a_process_of_its_own(cli_env, tmp_path):
    # Two resources, two steps: ~3 s of imports per step process on a small machine. Processes
    # side by side need the pool's limit of the committed dagster.yaml (docs/sync-and-automation.md).
    home = tmp_path / "dagster_home"
    (home / "dagster.yaml").symlink_to(PROJECT_ROOT / "dagster.yaml")
    two = [*MATERIALIZE[:-1], "support_api/customer_support_data,support_api/customers"]
    process = run_cli(two, {**cli_env, "SUPPORT_EXECUTOR": "multiprocess"})

    assert process.returncode == 0, process.stderr[-3000:]
    starts = step_events(home, dg.DagsterEventType.STEP_START)
    (run_start,) = step_events(home, dg.DagsterEventType.RUN_START)
    pids = {e.step_key: e.dagster_event.pid for e in starts}
    assert set(pids) == {TICKETS_STEP, "support_api__customers"}
    assert len(set(pids.values())) == 2 and run_start.dagster_event.pid not in pids.values()
    # Each resource's checks are evaluated in its step's process: no process of their own.
    evaluations = check_evaluations(home)
    assert evaluations and all(e.dagster_event.pid == pids[e.step_key] for e in evaluations)


def test_retries_at_both_layers_keep_their_exact_counts_in_the_clis_process(sandbox, cli_env, tmp_path):
    """503 on every tickets page request: 4 HTTP attempts per op attempt, 4 op attempts (1 + 3
    retries), then the tickets' step fails; every attempt in the CLI's process. Only that step
    is retried: the customers and agents land, the comments (the tickets' child) are skipped."""
    sandbox.faults.add(Fault(status=503, path="/v1/resource", times=100))
    command = [*MATERIALIZE[:4], "support_assets_tests.helpers.fast_retry_location", *MATERIALIZE[5:]]

    process = run_cli(command, cli_env)

    assert process.returncode != 0
    assert len([r for r in sandbox.requests if r.path == "/v1/resource"]) == 16
    home = tmp_path / "dagster_home"
    retries = step_events(home, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    restarts = step_events(home, dg.DagsterEventType.STEP_RESTARTED)
    failures = step_events(home, dg.DagsterEventType.STEP_FAILURE)
    assert (len(retries), len(restarts), len(failures)) == (3, 3, 1)
    assert {e.step_key for e in retries + restarts + failures} == {TICKETS_STEP}
    started = {e.step_key for e in step_events(home, dg.DagsterEventType.STEP_START)}
    assert {"support_api__customers", "support_api__agents"} <= started
    assert "support_api__ticket_comments" not in started  # its parent failed: not executed
    (run_start,) = step_events(home, dg.DagsterEventType.RUN_START)
    assert {e.dagster_event.pid for e in retries + restarts + failures} == {run_start.dagster_event.pid}
    assert "the sync failed 4 times in a row" in process.stdout + process.stderr
    # Nothing landed, and the next sync loads every record.
    sandbox.faults.clear()
    assert run_cli(MATERIALIZE, cli_env).returncode == 0
    assert rows(tmp_path / "support.duckdb", f"select count(*) from {TICKETS}") == [(sandbox.store.total,)]
