"""`dagster dev` from the repository root (what `make ui` starts): the UI's asset graph runs from
the sync to the models, and Dagster's freshness daemon gives the synced assets the state their
freshness policy says: UNKNOWN before any sync, PASS after one, FAIL once the window passed.

The graph needs the default configuration to sync the tables the models read (issue 15)."""

import os
import time

import dagster as dg
import pytest

from support_assets_tests.helpers.automation import wait_for
from support_assets_tests.helpers.dagster_dev import LOCATION, REPOSITORY, DagsterDev

TICKETS = dg.AssetKey(["support_api", "customer_support_data"])
WINDOW_SECONDS = 61  # SUPPORT_FRESHNESS_HOURS below; Dagster's shortest window is 60 s

ASSET_GRAPH = """
query Graph($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    ... on Repository { assetNodes { assetKey { path } groupName kinds dependencyKeys { path } } }
  }
}
"""


SENSOR = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { ... on Sensor { sensorState { status } } }
}
"""


def freshness_state(instance: dg.DagsterInstance, key: dg.AssetKey):
    record = instance.get_freshness_state_records([key]).get(key)
    return record.freshness_state.value if record else None


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    from support_assets.sandbox import SandboxServer

    tmp_path = tmp_path_factory.mktemp("metrics_dagster_dev")
    api_key = "sentinel-key-metrics-dagster-dev"
    with SandboxServer(api_key=api_key, records=50) as sandbox:
        env = {
            **os.environ,
            "SUPPORT_API_BASE_URL": sandbox.url,
            "SUPPORT_API_KEY": api_key,
            "SUPPORT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORT_FRESHNESS_HOURS": str(WINDOW_SECONDS / 3600),
            "FRESHNESS_DAEMON_INTERVAL_SECONDS": "1",
        }
        with DagsterDev(env, tmp_path) as server:
            yield server


def test_the_ui_graph_runs_from_the_sync_to_the_models(dev):
    nodes = dev.graphql(
        ASSET_GRAPH, {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}}
    )["repositoryOrError"]["assetNodes"]
    graph = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    ticket_metrics = graph["support_metrics/ticket_metrics"]
    assert ticket_metrics["groupName"] == "support_metrics" and "dbt" in ticket_metrics["kinds"]
    assert {"/".join(d["path"]) for d in ticket_metrics["dependencyKeys"]} == {
        "support_api/customer_support_data",
        "support_api/ticket_comments",
    }
    assert {"/".join(d["path"]) for d in graph["support_metrics/customer_metrics"]["dependencyKeys"]} == {
        "support_api/customers",
        "support_metrics/ticket_metrics",
    }
    for table in ("customer_support_data", "customers", "ticket_comments"):
        assert graph[f"support_api/{table}"]["groupName"] == "support_api"  # synced, not stubs


def test_the_metrics_automation_sensor_is_on_from_the_start(dev):
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "support_metrics_automation"}
    sensor = dev.graphql(SENSOR, {"selector": selector})["sensorOrError"]
    assert sensor["sensorState"]["status"] == "RUNNING"


def test_the_freshness_daemon_follows_the_policy(dev):
    with dg.DagsterInstance.from_config(str(dev.home)) as instance:
        assert wait_for(lambda: freshness_state(instance, TICKETS) == "UNKNOWN", 120, "UNKNOWN before a sync")

        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=TICKETS))  # a sync landed
        synced = time.time()
        assert wait_for(lambda: freshness_state(instance, TICKETS) == "PASS", 60, "PASS after the sync")
        assert time.time() - synced < WINDOW_SECONDS

        assert wait_for(lambda: freshness_state(instance, TICKETS) == "FAIL", WINDOW_SECONDS + 60, "FAIL")
        assert time.time() - synced >= WINDOW_SECONDS
