"""Schedules (build_schedule_context), the new-data sensor (build_sensor_context) and the
failure sensor (build_run_status_sensor_context), evaluated against a real instance and the
sandbox API."""

import json
import uuid
from datetime import datetime, timezone

import dagster as dg
import pytest

from support_assets.defs.settings import AutomationSettings, automation_from_env
from support_assets.definitions import build_definitions
from support_assets.defs.resources import SupportApiResource
from support_assets.sandbox import Fault
from support_assets.sandbox.data import BASE_END, format_ts
from support_assets.defs.jobs import is_sync_run
from support_assets.defs.sensors import FAILURE_SENSOR, NEW_DATA_SENSOR
from support_assets.sources.config_file import ENDPOINTS
from support_assets.sources.settings import Endpoint
from support_assets_tests.helpers import offset_endpoint

from support_assets_tests.helpers.automation import WebhookReceiver

KEY = dg.AssetKey(["support_api", "customer_support_data"])
# One setting for every resource's step: the config of the Dagster resource `sync`.
INCREMENTAL = {"resources": {"sync": {"config": {"sync_type": "incremental"}}}}
FULL_REFRESH = {"resources": {"sync": {"config": {"sync_type": "full_refresh"}}}}
# The file's tickets alone, for the probe's request-by-request tests.
TICKETS_ONLY = ENDPOINTS[:1]


# The newest updated_at of the sandbox's initial records: what a first sync's cursor holds.
LOADED = format_ts(BASE_END)

def tick(definitions, name: str, when: datetime) -> list[dg.RunRequest]:
    schedule = definitions.resolve_schedule_def(name)
    context = dg.build_schedule_context(scheduled_execution_time=when)
    return list(schedule.evaluate_tick(context).run_requests or [])


def test_the_schedules_run_the_sync_job_incrementally_and_as_a_full_refresh():
    definitions = build_definitions(automation=AutomationSettings())

    incremental = definitions.resolve_schedule_def("support_api_incremental")
    full_refresh = definitions.resolve_schedule_def("support_api_full_refresh")

    assert (incremental.cron_schedule, incremental.execution_timezone) == ("0 * * * *", "UTC")
    assert (full_refresh.cron_schedule, full_refresh.execution_timezone) == ("30 3 * * *", "UTC")
    for schedule in (incremental, full_refresh):
        assert schedule.job_name == "support_api_sync"
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    [hourly] = tick(definitions, "support_api_incremental", datetime(2025, 5, 1, 10, tzinfo=timezone.utc))
    [nightly] = tick(definitions, "support_api_full_refresh", datetime(2025, 5, 1, 3, 30, tzinfo=timezone.utc))
    assert hourly.run_config == INCREMENTAL and hourly.tags["support_api/sync_type"] == "incremental"
    assert nightly.run_config == FULL_REFRESH and nightly.tags["support_api/sync_type"] == "full_refresh"


def test_cron_strings_time_zone_and_intervals_come_from_the_environment():
    settings = automation_from_env(
        {
            "SUPPORT_INCREMENTAL_CRON": "*/15 * * * *",
            "SUPPORT_FULL_REFRESH_CRON": "0 2 * * 0",
            "SUPPORT_SCHEDULE_TIMEZONE": "Europe/Berlin",
            "SUPPORT_NEW_DATA_SENSOR_INTERVAL": "45",
            "SUPPORT_FAILURE_SENSOR_INTERVAL": "10",
        }
    )
    definitions = build_definitions(automation=settings)

    incremental = definitions.resolve_schedule_def("support_api_incremental")
    weekly = definitions.resolve_schedule_def("support_api_full_refresh")
    assert (incremental.cron_schedule, incremental.execution_timezone) == ("*/15 * * * *", "Europe/Berlin")
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("0 2 * * 0", "Europe/Berlin")
    assert definitions.resolve_sensor_def(NEW_DATA_SENSOR).minimum_interval_seconds == 45
    assert definitions.resolve_sensor_def(FAILURE_SENSOR).minimum_interval_seconds == 10


@pytest.mark.parametrize(
    "var, value",
    [
        ("SUPPORT_INCREMENTAL_CRON", "every hour"),
        ("SUPPORT_FULL_REFRESH_CRON", "61 * * * *"),
        ("SUPPORT_SCHEDULE_TIMEZONE", "Mars/Olympus_Mons"),
        ("SUPPORT_NEW_DATA_SENSOR_INTERVAL", "two minutes"),
        ("SUPPORT_FAILURE_SENSOR_INTERVAL", "0"),
    ],
)
def test_a_bad_automation_setting_names_its_variable(var, value):
    with pytest.raises(ValueError, match=var):
        automation_from_env({var: value})


def test_the_code_location_holds_the_schedules_and_sensors():
    definitions = build_definitions(automation=AutomationSettings())

    assert {s.name for s in definitions.schedules} == {"support_api_incremental", "support_api_full_refresh"}
    # and the metrics' automation sensor (docs/metrics.md)
    assert {s.name for s in definitions.sensors} == {NEW_DATA_SENSOR, FAILURE_SENSOR, "support_metrics_automation"}
    assert definitions.resolve_sensor_def(NEW_DATA_SENSOR).default_status == dg.DefaultSensorStatus.STOPPED
    assert definitions.resolve_sensor_def(FAILURE_SENSOR).default_status == dg.DefaultSensorStatus.RUNNING


# --- the new-data sensor -------------------------------------------------------------------


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def new_data(api_env, sandbox, instance):
    """Evaluates the new-data sensor of the tickets once: (result, the sensor's new cursor)."""
    sensor = build_definitions(TICKETS_ONLY, automation=AutomationSettings()).resolve_sensor_def(NEW_DATA_SENSOR)

    def evaluate(cursor=None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"support_api": SupportApiResource(base_url=sandbox.url)}
        )
        return sensor(context), context.cursor

    return evaluate


def record_sync(instance, cursor: str) -> None:
    """What a finished sync leaves in the instance: a materialization with its cursor."""
    instance.report_runless_asset_event(dg.AssetMaterialization(KEY, metadata={"cursor_after": cursor}))


def job_origin(job_name: str):
    # Dagster has no public constructor for the code location a run came from; the daemon
    # needs it for queued runs, the sensor never reads it.
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="support_assets.definitions"))
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)


def test_an_endpoint_whose_last_sync_found_nothing_is_probed_for_any_record(new_data, sandbox, instance):
    # The last sync saw an empty endpoint, so it recorded no cursor.
    instance.report_runless_asset_event(dg.AssetMaterialization(KEY, metadata={"sync_type": "incremental"}))

    result, _ = new_data()

    [probe] = sandbox.requests
    assert "updated_since" not in probe.params and probe.params["limit"] == "1"
    assert isinstance(result, dg.RunRequest) and result.run_key == "customer_support_data:no-cursor:250"


def probes(sandbox):
    return [r for r in sandbox.requests if r.params.get("limit") == "1"]


def test_before_any_sync_the_sensor_requests_the_first_one(new_data, sandbox):
    result, cursor = new_data()

    assert isinstance(result, dg.RunRequest)
    assert result.run_key == "customer_support_data:first-sync"
    assert result.run_config == INCREMENTAL and result.asset_selection == [KEY]
    assert json.loads(cursor) == {"requested": "customer_support_data:first-sync"}
    assert len(sandbox.requests) == 0


def test_no_change_since_the_cursor_is_one_small_request_and_a_skip(new_data, sandbox, instance):
    record_sync(instance, LOADED)

    result, cursor = new_data()

    assert isinstance(result, dg.SkipReason)
    assert "no records changed" in result.skip_message
    assert cursor is None
    [probe] = sandbox.requests
    # One record at most, strictly after the cursor: the record at the cursor is already loaded.
    assert (probe.params["limit"], probe.params["updated_since"]) == ("1", format_ts(BASE_END + 1))
    assert probe.records == 0


def test_a_change_requests_one_incremental_sync_keyed_by_the_change(new_data, sandbox, instance):
    record_sync(instance, LOADED)
    sandbox.store.update(42, subject="changed")

    result, cursor = new_data()
    again, same_cursor = new_data(cursor)
    sandbox.store.update(43, subject="changed too")
    later, _ = new_data(same_cursor)

    assert isinstance(result, dg.RunRequest)
    assert result.run_key == f"customer_support_data:{LOADED}:1"
    assert result.run_config == INCREMENTAL and result.asset_selection == [KEY]
    assert result.tags["support_api/sync_type"] == "incremental"
    # The same change is not requested twice; a further change is.
    assert isinstance(again, dg.SkipReason) and "already requested" in again.skip_message
    assert isinstance(later, dg.RunRequest) and later.run_key == f"customer_support_data:{LOADED}:2"
    assert len(probes(sandbox)) == 3


def test_a_finished_sync_moves_the_probe_to_its_cursor(api_env, new_data, sandbox, instance, warehouse):
    """The contract between the asset's metadata and the sensor, with a real sync."""
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse, automation=AutomationSettings())
    resources = {**definitions.resources, "warehouse": warehouse}
    assert dg.materialize(list(definitions.assets), resources=resources, instance=instance).success
    newest = max(r["updated_at"] for r in sandbox.store.all_records())
    sandbox.requests.clear()

    quiet, _ = new_data()
    sandbox.store.update(9, subject="changed")
    changed, _ = new_data()

    assert isinstance(quiet, dg.SkipReason)
    assert isinstance(changed, dg.RunRequest) and changed.run_key == f"customer_support_data:{newest}:1"
    assert all(p.params["updated_since"] > newest for p in probes(sandbox))


FAMILY = [
    offset_endpoint("customer_support_data", "/v1/resource"),
    offset_endpoint("customers", "/v1/customers"),
    Endpoint.of("agents", "/v1/agents"),  # no incremental: no cursor to ask about
    Endpoint.of("ticket_comments", "/v1/resource/{resources.customer_support_data.id}/comments"),
]
FAMILY_KEYS = [dg.AssetKey(["support_api", e.name]) for e in FAMILY]


@pytest.fixture
def family_sensor(api_env, sandbox, instance):
    sensor = build_definitions(FAMILY, automation=AutomationSettings()).resolve_sensor_def(NEW_DATA_SENSOR)
    resources = {"support_api": SupportApiResource(base_url=sandbox.url)}
    return lambda: sensor(dg.build_sensor_context(instance=instance, resources=resources))


def test_before_any_sync_every_resource_is_requested(family_sensor, sandbox):
    result = family_sensor()

    assert isinstance(result, dg.RunRequest) and result.asset_selection == FAMILY_KEYS
    assert len(sandbox.requests) == 0


def test_each_resource_with_a_cursor_is_probed_and_a_changed_parent_brings_its_child(family_sensor, sandbox, instance):
    for key in FAMILY_KEYS:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"cursor_after": LOADED}))
    sandbox.store.update(42, subject="changed")

    result = family_sensor()

    tickets, _, _, comments = FAMILY_KEYS
    assert isinstance(result, dg.RunRequest)
    assert result.asset_selection == [tickets, comments]
    assert result.run_key == f"customer_support_data:{LOADED}:1" and result.run_config == INCREMENTAL
    # One probe per resource with a cursor; none for agents (no cursor) nor the child.
    assert sorted(r.path for r in sandbox.requests) == ["/v1/customers", "/v1/resource"]


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED])
@pytest.mark.parametrize("job_name, asset_selection", [("support_api_sync", None), ("__ASSET_JOB", {KEY})])
def test_nothing_is_requested_while_a_sync_is_queued_or_running(
    new_data, sandbox, instance, status, job_name, asset_selection
):
    sandbox.store.update(42, subject="changed")
    record_sync(instance, LOADED)
    run = instance.add_run(
        dg.DagsterRun(
            job_name=job_name,
            run_id=str(uuid.uuid4()),
            status=status,
            asset_selection=frozenset(asset_selection) if asset_selection else None,
            remote_job_origin=job_origin(job_name),  # required of queued runs
        )
    )

    result, cursor = new_data()

    assert isinstance(result, dg.SkipReason)
    assert run.run_id in result.skip_message and "queued or running" in result.skip_message
    assert cursor is None
    assert len(sandbox.requests) == 0  # not even the probe


def test_a_finished_or_unrelated_run_does_not_hold_the_sensor_back(new_data, sandbox, instance):
    record_sync(instance, LOADED)
    sandbox.store.update(42, subject="changed")
    instance.add_run(dg.DagsterRun(job_name="support_api_sync", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.SUCCESS))
    instance.add_run(dg.DagsterRun(job_name="another_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED))

    result, _ = new_data()

    assert isinstance(result, dg.RunRequest)


def test_an_api_error_fails_the_tick_with_a_message_without_the_key(new_data, sandbox, instance, api_key):
    record_sync(instance, LOADED)
    sandbox.faults.add(Fault(status=401))

    with pytest.raises(Exception, match="answered HTTP 401") as error:
        new_data()

    assert api_key not in str(error.value)


# --- the failure sensor ------------------------------------------------------------------


def failed_sync(sandbox, warehouse, instance, monkeypatch, tmp_path, **config):
    """A sync run that fails without retries: no API key anywhere."""
    monkeypatch.setenv("SUPPORT_API_BASE_URL", sandbox.url)
    monkeypatch.delenv("SUPPORT_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml here
    definitions = build_definitions(warehouse=warehouse, automation=AutomationSettings())
    job = definitions.resolve_job_def("support_api_sync")
    result = job.execute_in_process(instance=instance, raise_on_error=False, resources={"warehouse": warehouse})
    assert not result.success
    return result


def report(result, instance, settings: AutomationSettings, capfd):
    """Runs the failure sensor on the failed run: (its result, the lines it logged)."""
    sensor = build_definitions(automation=settings).resolve_sensor_def(FAILURE_SENSOR)
    context = dg.build_run_status_sensor_context(
        sensor_name=FAILURE_SENSOR,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    capfd.readouterr()
    outcome = sensor(context)
    # Outside the daemon, the sensor's logger writes to the console.
    return outcome, capfd.readouterr().err.splitlines()


def test_a_failed_sync_is_reported_with_its_run_id_and_cause(sandbox, warehouse, instance, monkeypatch, tmp_path, capfd):
    result = failed_sync(sandbox, warehouse, instance, monkeypatch, tmp_path)

    with WebhookReceiver() as webhook:
        _, lines = report(result, instance, AutomationSettings(failure_webhook_url=webhook.url), capfd)

    [line] = [line for line in lines if "support_api sync failed" in line]
    assert "ERROR" in line and result.run_id in line and "No API key for the support API" in line
    [posted] = webhook.received
    assert posted["run_id"] == result.run_id and posted["job_name"] == "support_api_sync"
    assert posted["cause"].startswith("Failure: No API key") and line.endswith(posted["text"])


def test_an_unreachable_webhook_is_a_warning_not_a_failure(sandbox, warehouse, instance, monkeypatch, tmp_path, capfd):
    result = failed_sync(sandbox, warehouse, instance, monkeypatch, tmp_path)

    _, lines = report(result, instance, AutomationSettings(failure_webhook_url="http://127.0.0.1:9/hook?token=abc"), capfd)

    assert any("support_api sync failed" in line for line in lines)
    assert any("could not post the failure to the webhook: ConnectionError" in line for line in lines)
    assert not any("token=abc" in line for line in lines)


def test_a_failed_run_of_another_job_is_not_reported(instance, capfd):
    @dg.op
    def boom():
        raise ValueError("not a sync")

    result = dg.GraphDefinition(name="other", node_defs=[boom]).to_job().execute_in_process(
        instance=instance, raise_on_error=False
    )

    outcome, lines = report(result, instance, AutomationSettings(), capfd)

    assert isinstance(outcome, dg.SkipReason) and "not a support_api sync" in outcome.skip_message
    assert not any("support_api sync failed" in line for line in lines)


def test_the_reported_cause_never_carries_the_api_key(instance, monkeypatch, capfd):
    monkeypatch.setenv("SUPPORT_API_KEY", "s3cret-key")

    @dg.op(name="support_api__customer_support_data")
    def leaky():
        # What urllib3's ConnectionError says: the URL, key included (DESIGN.md).
        raise ConnectionError("Max retries exceeded with url: /v1/resource?offset=0&api_key=s3cret-key&limit=100")

    job = dg.GraphDefinition(name="support_api_sync", node_defs=[leaky]).to_job()
    result = job.execute_in_process(instance=instance, raise_on_error=False)

    with WebhookReceiver() as webhook:
        _, lines = report(result, instance, AutomationSettings(failure_webhook_url=webhook.url), capfd)

    [line] = [line for line in lines if "support_api sync failed" in line]
    assert "ConnectionError: Max retries exceeded with url: /v1/resource?offset=0&api_key=***&limit=100" in line
    assert "s3cret-key" not in line and "s3cret-key" not in str(webhook.received)


def test_the_reported_cause_never_carries_a_key_from_dlt_secrets(instance, monkeypatch, capfd):
    """The key may live in .dlt/secrets.toml instead (`api_key`, read through dlt's secrets,
    which also read the API_KEY variable): the one redaction module masks it as a bare value."""
    monkeypatch.delenv("SUPPORT_API_KEY", raising=False)
    key = f"dlt-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("API_KEY", key)

    @dg.op(name="support_api__customer_support_data")
    def leaky():
        raise ValueError(f"the server said: {key} is not allowed here")

    job = dg.GraphDefinition(name="support_api_sync", node_defs=[leaky]).to_job()
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    _, lines = report(result, instance, AutomationSettings(), capfd)

    [line] = [line for line in lines if "support_api sync failed" in line]
    assert "ValueError: the server said: *** is not allowed here" in line
    assert key not in "\n".join(lines)


@pytest.mark.parametrize(
    "steps, expected",
    [(["support_api__customers"], True), (["support_api__ticket_comments", "x"], True), (["support_metrics"], False)],
)
def test_a_run_that_executes_any_resources_step_counts_as_a_sync(instance, steps, expected):
    """A re-execution from failure records the steps it runs, not always an asset selection."""
    run = dg.DagsterRun(job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), step_keys_to_execute=steps)

    assert is_sync_run(run, FAMILY_KEYS, instance) is expected


@pytest.mark.parametrize("assets", [frozenset(), None])  # dg.materialize records the empty set; the UI none
def test_a_run_of_the_checks_alone_is_no_sync(instance, assets):
    """"Execute checks" runs the resource's step, which then evaluates its checks and syncs nothing."""
    run = dg.DagsterRun(
        job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), asset_selection=assets,
        asset_check_selection=frozenset({dg.AssetCheckKey(FAMILY_KEYS[0], "primary_key_unique")}),
        step_keys_to_execute=["support_api__customer_support_data"],
    )

    assert not is_sync_run(run, FAMILY_KEYS, instance)


def test_the_shipped_resources_are_probed_on_their_own_paginators(api_env, sandbox, instance):
    """The file's tickets (offset) and customers (page numbers) are asked; the agents (no
    cursor) and the comments (a child) are not, and come with the changed tickets."""
    sensor = build_definitions(ENDPOINTS, automation=AutomationSettings()).resolve_sensor_def(NEW_DATA_SENSOR)
    for endpoint in ENDPOINTS:
        store = sandbox.stores.get(endpoint.name)
        newest = max((r["updated_at"] for r in store.all_records()), default=None) if endpoint.cursor_field else None
        key = dg.AssetKey(["support_api", endpoint.name])
        instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"cursor_after": newest}))
    context = lambda: dg.build_sensor_context(  # noqa: E731
        instance=instance, resources={"support_api": SupportApiResource(base_url=sandbox.url)}
    )

    quiet = sensor(context())
    probed = sorted(r.path for r in sandbox.requests)
    sandbox.stores["customers"].update(3, name="Zoë Ñúñez")
    customers_changed = sensor(context())

    assert isinstance(quiet, dg.SkipReason)
    assert probed == ["/v1/customers", "/v1/resource"]
    assert isinstance(customers_changed, dg.RunRequest)
    assert customers_changed.asset_selection == [dg.AssetKey(["support_api", "customers"])]
