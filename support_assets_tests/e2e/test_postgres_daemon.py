"""deploy/dagster.yaml for real: the daemon on PostgreSQL storage runs a sensor's syncs."""

import dagster as dg
import pytest

from support_assets_tests.helpers.daemon_location import SENSOR
from support_assets_tests.helpers.deployment import Background, deployment_env, wait_for
from support_assets_tests.helpers import DAGSTER, run_cli
from support_assets_tests.helpers.postgres import database

DAEMON = DAGSTER.replace("/dagster", "/dagster-daemon")
KEY = dg.AssetKey(["support_api", "customer_support_data"])


@pytest.fixture
def pg():
    with database() as db:
        yield db


def test_the_daemon_runs_sensor_launched_syncs_one_at_a_time_recorded_in_postgres(
    monkeypatch, tmp_path, pg, sandbox, api_key
):
    env = deployment_env(tmp_path, pg, sandbox.url, api_key)
    # The deployment step docs/deployment.md prescribes (see deploy/dagster.yaml on why).
    setup = run_cli([DAGSTER, "instance", "concurrency", "set", "support_api", "1"], env)
    assert setup.returncode == 0, setup.stderr[-3000:]
    daemon = Background(
        [DAEMON, "run", "-m", "support_assets_tests.helpers.daemon_location"], env, tmp_path / "daemon.log"
    )
    try:
        def finished_run():
            if "runs" not in pg.tables("public"):
                return None
            rows = pg.rows(
                "select r.run_id, r.status from runs r join run_tags t on t.run_id = r.run_id"
                " where t.key = 'dagster/sensor_name' and t.value = %s", (SENSOR,)
            )
            done = [r for r in rows if r[1] in ("SUCCESS", "FAILURE", "CANCELED")]
            return rows if len(done) == 2 else None

        runs = wait_for("the sensor's two runs to finish", finished_run, timeout=400, context=daemon.output)
    finally:
        daemon.stop()

    # Two runs (run keys hold however many ticks), both succeeded, in PostgreSQL's run storage.
    assert len(runs) == 2, runs
    assert {status for _, status in runs} == {"SUCCESS"}, daemon.output()[-4000:]
    run_ids = [run_id for run_id, _ in runs]
    assert pg.rows("select distinct pipeline_name from runs") == [("support_api_sync",)]
    # Read back through Dagster itself, from the same dagster.yaml: PostgreSQL storage, and
    # the run went through the run queue (QueuedRunCoordinator) to a materialization.
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, env[name])
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        records = sorted(instance.get_run_records(dg.RunsFilter(run_ids=run_ids)), key=lambda r: r.start_time)
        events = {
            run_id: [e.dagster_event_type for e in instance.all_logs(run_id) if e.is_dagster_event]
            for run_id in run_ids
        }
        materializations = instance.fetch_materializations(KEY, limit=10).records
    order = [dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING,
             dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS]
    for run_id in run_ids:
        assert [e for e in events[run_id] if e in order] == order
    assert sorted(m.run_id for m in materializations) == sorted(run_ids)
    # The support_api pool (limit 1) kept the runs apart:
    # the second started only after the first had ended.
    first, second = records
    assert second.start_time >= first.end_time
    assert pg.rows('select concurrency_key, "limit" from concurrency_limits') == [("support_api", 1)]
    # The sensor's tick is in the schedule storage, and the data in the warehouse.
    ticks = pg.rows("select status from job_ticks where tick_body like %s", (f'%"{SENSOR}"%',))
    assert ("SUCCESS",) in ticks
    assert pg.rows("select count(*), count(distinct id) from support_api.customer_support_data") == [(250, 250)]
    assert api_key not in daemon.output()
