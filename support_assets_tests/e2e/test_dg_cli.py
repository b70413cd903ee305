"""Dagster's `dg` CLI on the project, from the repository root, against the sandbox API:
[tool.dg] in pyproject.toml points it at support_assets.definitions."""

import json
import sys
from pathlib import Path

from support_assets_tests.helpers import rows, run_cli
from support_assets_tests.helpers.dagster_dev import DagsterDev

DG = str(Path(sys.executable).with_name("dg"))


def test_dg_check_defs_loads_the_code_location(cli_env):
    result = run_cli([DG, "check", "defs"], cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_shows_the_assets_checks_job_schedules_sensors_and_resources(cli_env):
    result = run_cli([DG, "list", "defs", "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    names = ["agents", "customer_support_data", "customers", "ticket_comments"]
    models = ["customer_metrics", "daily_ticket_metrics", "ticket_metrics"]  # docs/metrics.md
    assert sorted(a["asset_key"] for a in listed["assets"]) == [
        *(f"support_api/{n}" for n in names), *(f"support_metrics/{m}" for m in models)
    ]
    assert all(a["kinds"] == ["dlt", "duckdb"] for a in listed["assets"] if a["asset_key"].startswith("support_api/"))
    assert "support_api/customer_support_data:primary_key_unique" in {c["key"] for c in listed["asset_checks"]}
    assert [j["name"] for j in listed["jobs"]] == ["support_api_sync"]
    assert {s["name"]: s["cron_schedule"] for s in listed["schedules"]} == {
        "support_api_incremental": "0 * * * *",
        "support_api_full_refresh": "30 3 * * *",
    }
    assert {s["name"] for s in listed["sensors"]} == {
        "support_api_new_data", "support_api_sync_failure", "support_metrics_automation"
    }
    assert {"dlt", "support_api", "warehouse", "sync"} <= {r["name"] for r in listed["resources"]}


def test_dg_launch_materializes_the_asset_into_duckdb(cli_env, sandbox, tmp_path):
    result = run_cli([DG, "launch", "--assets", "support_api/customer_support_data"], cli_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (count,) = rows(tmp_path / "support.duckdb", "select count(*) from support_api.customer_support_data")
    assert count == (250,)  # the sandbox fixture serves 250 records


def test_dg_dev_serves_the_code_location_and_a_launched_run_loads_the_sandbox(cli_env, tmp_path):
    """`dg dev` from the repository root (webserver and daemon): the code location loads,
    and a run launched the way the Materialize button does lands every record."""
    command = lambda port: [DG, "dev", "--host", "127.0.0.1", "--port", str(port)]  # noqa: E731
    with DagsterDev(cli_env, tmp_path, command=command) as dev:
        run_id = dev.launch_assets([["support_api", "customer_support_data"]])
        run = dev.wait_for_run(run_id, timeout=300)
        assert run["status"] == "SUCCESS", [m["message"] for m in dev.run_messages(run_id)][-5:]
    assert rows(tmp_path / "support.duckdb", "select count(*) from support_api.customer_support_data") == [(250,)]
