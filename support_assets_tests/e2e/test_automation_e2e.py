"""End to end with the real `dagster dev` (webserver + daemon), a temporary DAGSTER_HOME, the
sandbox API over loopback and a DuckDB file: the pool, the new-data sensor and the failure
sensor as a user runs them."""

import os
import subprocess

import dagster as dg
from dagster_graphql import DagsterGraphQLClient

from support_assets.demo import dagster_env, link_instance_config
from support_assets.defs.resources import PROJECT_ROOT
from support_assets.defs.sensors import NEW_DATA_SENSOR

from support_assets_tests.helpers.automation import WebhookReceiver, wait_finished, wait_for
from support_assets_tests.helpers.dagster_dev import DagsterDev
from support_assets_tests.helpers import DAGSTER, rows, run_cli

TICKETS = "support_api.customer_support_data"
POOL_QUERY = "{ instance { poolConfig { poolGranularity defaultPoolLimit } } }"
POOL = {"poolGranularity": "op", "defaultPoolLimit": 1}
FULL_REFRESH = {"resources": {"sync": {"config": {"sync_type": "full_refresh"}}}}
KEY = dg.AssetKey(["support_api", "customer_support_data"])


def submit_pair(client, sandbox, delete: int) -> list[str]:
    sandbox.store.delete(delete)
    return [
        client.submit_job_execution("support_api_sync"),
        client.submit_job_execution("__ASSET_JOB", run_config=FULL_REFRESH, asset_selection=[KEY]),
    ]


def run_times(instance, run_id: str) -> list[tuple[float, float]]:
    record = instance.get_run_record_by_id(run_id)
    return [(record.start_time, record.end_time)]


def step_times(instance, run_id: str) -> list[tuple[float, float]]:
    """When each sync step (one per resource, `support_api__<name>`) started and ended."""
    events = [e for e in instance.all_logs(run_id) if (e.step_key or "").startswith("support_api__")]
    starts = {e.step_key: e.timestamp for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_START}
    ends = {e.step_key: e.timestamp for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS}
    return [(starts[step], ends[step]) for step in starts]


def assert_one_after_the_other(instance, run_ids: list[str], times):
    """The runs succeeded, and no two of their intervals (`times`) overlapped."""
    statuses = [wait_finished(instance, run_id).status for run_id in run_ids]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 2
    intervals = sorted(interval for run_id in run_ids for interval in times(instance, run_id))
    for (_, end_a), (start_b, _) in zip(intervals, intervals[1:]):
        assert end_a <= start_b, f"overlapping syncs: {intervals}"
    return sorted((instance.get_run_record_by_id(r) for r in run_ids), key=lambda r: r.start_time)


def test_dagster_dev_reads_the_committed_dagster_yaml_when_dagster_home_is_unset(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    before = set(PROJECT_ROOT.glob(".tmp_dagster_home_*"))
    dev = DagsterDev(env, tmp_path, fresh_home=False)
    try:
        dev.start()
        pool = dev.graphql(POOL_QUERY)["instance"]["poolConfig"]
    finally:
        dev.stop()

    assert pool == POOL
    # Its temporary instance lives in the repository root and goes away with it.
    assert set(PROJECT_ROOT.glob(".tmp_dagster_home_*")) == before


def test_make_ui_links_the_pool_settings_into_dagster_home_and_keeps_a_users_own(tmp_path):
    fresh, own = tmp_path / "fresh", tmp_path / "own"
    fresh.mkdir()
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    link_instance_config(fresh)
    link_instance_config(own)

    assert (fresh / "dagster.yaml").resolve() == (PROJECT_ROOT / "dagster.yaml").resolve()
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    pools = dg.DagsterInstance.from_config(str(fresh)).get_concurrency_config().pool_config
    assert (pools.default_pool_limit, pools.pool_granularity.value) == (1, "op")


def test_dagster_asset_materialize_waits_for_the_pool_slot_of_a_running_sync(tmp_path, sandbox, cli_env):
    home = tmp_path / "dagster_home"
    link_instance_config(home)
    instance = dg.DagsterInstance.from_config(str(home))
    # A sync in progress elsewhere holds the pool's one slot.
    instance.event_log_storage.initialize_concurrency_limit_to_default("support_api")
    assert instance.event_log_storage.claim_concurrency_slot("support_api", "running-sync", "support_api").is_claimed
    command = [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"]
    cli = subprocess.Popen(command, env=cli_env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        waiting = lambda: [s.run_id for s in instance.event_log_storage.get_concurrency_info("support_api").pending_steps]
        assert wait_for(lambda: [r for r in waiting() if r != "running-sync"], 120, "the CLI run to wait for the slot")
        assert len(sandbox.requests) == 0 and cli.poll() is None

        instance.event_log_storage.free_concurrency_slots_for_run("running-sync")
        output, _ = cli.communicate(timeout=240)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, output.decode(errors="replace")[-3000:]
    assert rows(tmp_path / "support.duckdb", f"select count(*) from {TICKETS}") == [(250,)]


def test_syncs_queue_in_the_pool_and_sensors_drive_and_report_them(
    tmp_path, sandbox, api_key, cli_env, monkeypatch
):
    home = tmp_path / "dagster_home"
    # `make ui` builds its environment with dagster_env, which links the pool settings into
    # DAGSTER_HOME (Dagster reads $DAGSTER_HOME/dagster.yaml, not ./dagster.yaml, once it is set).
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with WebhookReceiver() as webhook:
        env = {
            **dagster_env(sandbox, api_key),
            "SUPPORT_DATA_DIR": str(tmp_path),
            "SUPPORT_NEW_DATA_SENSOR_INTERVAL": "2",
            "SUPPORT_FAILURE_SENSOR_INTERVAL": "2",
            "SUPPORT_FAILURE_WEBHOOK_URL": webhook.url,
        }
        assert (home / "dagster.yaml").resolve() == (PROJECT_ROOT / "dagster.yaml").resolve()
        dev = DagsterDev(env, tmp_path, fresh_home=False)
        try:
            dev.start()
            assert dev.graphql(POOL_QUERY)["instance"]["poolConfig"] == POOL
            instance = dg.DagsterInstance.from_config(str(home))
            client = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)
            db = tmp_path / "support.duckdb"

            # Two syncs requested at once on a fresh instance, as the Launchpad does: the job with
            # the default (incremental) config and a Materialize of the asset as a full refresh.
            # The pool does not exist before the first claim, so both runs may start; the sync
            # steps still run one after the other.
            first_pair = submit_pair(client, sandbox, delete=11)
            assert_one_after_the_other(instance, first_pair, step_times)
            # Once the pool exists, the later run waits in the queue until the earlier one ends.
            second_pair = submit_pair(client, sandbox, delete=12)
            records = assert_one_after_the_other(instance, second_pair, run_times)
            assert records[1].create_timestamp.timestamp() < records[0].end_time, "not requested at once"
            expected = {r["id"]: r["subject"] for r in sandbox.store.all_records()}
            assert dict(rows(db, f"select id, subject from {TICKETS}")) == expected

            # The new-data sensor, turned on with the README's command.
            result = run_cli([DAGSTER, "sensor", "start", NEW_DATA_SENSOR], env)
            assert result.returncode == 0, result.stderr[-2000:]
            sandbox.requests.clear()
            wait_for(
                lambda: any(r.params.get("limit") == "1" for r in sandbox.requests), 60, "a probe request"
            )
            sandbox.store.update(7, subject="changed while the sensor watched")
            by_sensor = dg.RunsFilter(tags={"dagster/sensor_name": NEW_DATA_SENSOR})
            sensor_run = wait_for(lambda: instance.get_runs(filters=by_sensor), 90, "a sensor run")[0]
            assert wait_finished(instance, sensor_run.run_id).status == dg.DagsterRunStatus.SUCCESS, dev.log()
            assert rows(db, f"select subject from {TICKETS} where id = 7") == [
                ("changed while the sensor watched",)
            ]
            # The sensor keeps probing afterwards, and the same change launches no second run.
            sandbox.requests.clear()
            wait_for(
                lambda: sum(r.params.get("limit") == "1" for r in sandbox.requests) >= 2, 60, "two more probes"
            )
            assert len(instance.get_runs(filters=by_sensor)) == 1

            # A failed sync reaches the failure sensor, which posts it to the webhook.
            failed = client.submit_job_execution(
                "support_api_sync",
                run_config={"resources": {"sync": {"config": {"sync_type": "backfill"}}}},
            )
            assert wait_finished(instance, failed).status == dg.DagsterRunStatus.FAILURE
            posted = wait_for(lambda: [p for p in webhook.received if p["run_id"] == failed], 60, "the webhook")
            assert "backfill_start" in posted[0]["cause"] and failed in posted[0]["text"]
            assert api_key not in str(webhook.received)
            for run in instance.get_runs():
                assert api_key not in str(instance.all_logs(run.run_id)), run.run_id
        finally:
            dev.stop()
    assert api_key not in dev.log()
