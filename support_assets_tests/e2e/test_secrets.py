"""The API key appears nowhere a run leaves text: on success, a 4xx, 5xx retries
exhausted, a refused connection, a timeout and a malformed answer, all with DEBUG
logging on (urllib3 logs full URLs at DEBUG).

Searched: log records captured at DEBUG, the raised exception and its traceback, the
Dagster instance's event log and run record (config, tags), asset metadata, every file
under DAGSTER_HOME (event log database, compute logs) and every file under the run's
data directory (DuckDB file, dlt's pipelines directory with its pickled trace, state
and load packages).
"""

import logging
import socket
import subprocess
import traceback
from dataclasses import replace

import dagster as dg
import pytest

from support_assets.sources.settings import RetryRules
from support_assets.definitions import build_definitions
from support_assets.defs.resources import SupportApiResource, WarehouseResource
from support_assets.sandbox import Fault, SandboxServer

from support_assets_tests.helpers import DAGSTER, TICKETS_ONLY, failure_text, run_cli
from support_assets_tests.helpers.secret_scan import files_under, leaks_in_files, leaks_in_text

FAST = RetryRules(backoff_factor=0.01, max_wait=0.05, request_timeout=10)
DEBUG_LOGS = {
    "python_logs": {
        "python_log_level": "DEBUG",
        "managed_python_loggers": ["urllib3", "dlt", "support_assets"],
    }
}
TICKET = dg.AssetKey(["support_api", "customer_support_data"])


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# path -> (faults, base URL override, expected in the failure message; None = success)
PATHS = {
    "success": ([], None, None),
    "4xx": ([Fault(status=403)], None, "the API rejected the key (403) for GET /v1/resource"),
    "5xx exhausted": ([Fault(status=502, times=16)], None, "502 Bad Gateway for GET /v1/resource (tried 4 times)"),
    "connection refused": ([], closed_port_url, "connection refused (tried 4 times)"),
    "timeout": ([Fault(delay=1, times=16)], None, "no answer within 0.3 s (tried 4 times)"),  # timeout 0.3 s
    "malformed response": ([Fault(body=b'{"data": [{"id": 1, "subject": "Ada')], None, "not valid JSON"),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_the_key_is_nowhere_on_every_path_with_debug_logging(
    path, sandbox, api_key, warehouse, tmp_path, monkeypatch, caplog
):
    faults, base_url, expected_error = PATHS[path]
    for fault in faults:
        sandbox.faults.add(fault)
    monkeypatch.setenv("SUPPORT_API_KEY", api_key)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")  # dlt's own logger too
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = dg.DagsterInstance.local_temp(str(home), overrides=DEBUG_LOGS)
    rules = replace(FAST, request_timeout=0.3) if path == "timeout" else FAST
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse, retry=rules)
    url = base_url() if base_url else sandbox.url
    resources = {**definitions.resources, "support_api": SupportApiResource(base_url=url)}

    raised = ""
    try:
        dg.materialize(list(definitions.assets), resources=resources, instance=instance)
    except Exception as exc:  # raise_on_error: what a caller of the run sees
        raised = "".join(traceback.format_exception(exc))

    if expected_error:
        assert expected_error in raised
    else:
        assert raised == ""
    (run,) = instance.get_runs()
    event_log = "\n".join(dg.serialize_value(record) for record in instance.all_logs(run.run_id))
    materialization = instance.get_latest_materialization_event(TICKET)
    metadata = repr(materialization.asset_materialization.metadata) if materialization else ""
    assert (materialization is not None) == (expected_error is None)

    # The searches can find something: DEBUG was on, URLs were logged, files were written.
    if path not in ("connection refused", "timeout"):  # no answer, no urllib3 line
        assert "api_key=***" in caplog.text  # urllib3's DEBUG line, masked
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert any("compute_logs" in str(p) for p in files_under(home))
    assert (tmp_path / "dlt" / "support_api" / "trace.pickle").exists()

    assert_no_key(api_key, caplog.text, raised, event_log, metadata, run, home, tmp_path)


def assert_no_key(api_key, logs, raised, event_log, metadata, run, home, tmp_path):
    assert not leaks_in_text(api_key, logs), "in the DEBUG logs"
    assert not leaks_in_text(api_key, raised), "in the exception or its traceback"
    assert not leaks_in_text(api_key, event_log), "in the event log"
    assert not leaks_in_text(api_key, metadata), "in the asset metadata"
    assert not leaks_in_text(api_key, dg.serialize_value(run)), "in the run's config, tags or record"
    assert leaks_in_files(api_key, home, tmp_path) == []


# The new resources' paths: page numbers, a next link in the body (sent without the key),
# a Link header per ticket's comments; each resource in a step and a dlt pipeline of its own.
COMMENTS = "/v1/resource/*/comments"
RESOURCE_PATHS = {
    "every resource lands": ([], None),
    "401 on the agents": ([Fault(status=401, path="/v1/agents")], "agents: the API rejected the key (401)"),
    "5xx exhausted on the comments": (
        [Fault(status=503, path=COMMENTS, times=16)], "ticket_comments: the API answered 503 Service Unavailable"
    ),
    "malformed page of customers": (
        [Fault(body=b'{"data": [{"id": 1, "name": "Zo', path="/v1/customers")], "customers: BadApiResponse: customers (GET /v1/customers, page 1): the body is not valid JSON"
    ),
}


@pytest.mark.parametrize("path", list(RESOURCE_PATHS))
def test_the_key_is_nowhere_on_the_paths_of_every_resource(path, api_key, tmp_path, monkeypatch, caplog):
    faults, expected_error = RESOURCE_PATHS[path]
    monkeypatch.setenv("SUPPORT_API_KEY", api_key)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = dg.DagsterInstance.local_temp(str(home), overrides=DEBUG_LOGS)
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "support.duckdb"), pipelines_dir=str(tmp_path / "dlt"))
    definitions = build_definitions(warehouse=warehouse, retry=FAST)  # the shipped file: four resources
    with SandboxServer(api_key=api_key, records=30, customers=120, agents=25) as sandbox:
        for fault in faults:
            sandbox.faults.add(fault)
        resources = {**definitions.resources, "support_api": SupportApiResource(base_url=sandbox.url)}
        result = dg.materialize(list(definitions.assets), resources=resources, instance=instance, raise_on_error=False)
        served = {r.path for r in sandbox.requests}

    raised = failure_text(result)
    assert result.success == (expected_error is None)
    if expected_error:
        assert expected_error in raised
    # The key went out on every route: page numbers, next links and Link headers included.
    assert {"/v1/resource", "/v1/customers", "/v1/agents"} <= served
    assert any(p.endswith("/comments") for p in served)
    assert "api_key=***" in caplog.text
    (run,) = instance.get_runs()
    event_log = "\n".join(dg.serialize_value(record) for record in instance.all_logs(run.run_id))
    metadata = "\n".join(repr(e.materialization.metadata) for e in result.get_asset_materialization_events())
    assert_no_key(api_key, caplog.text, raised, event_log, metadata, run, home, tmp_path)


@pytest.fixture
def debug_cli_env(cli_env):
    """The CLI's instance with python logs at DEBUG, urllib3's and dlt's included."""
    home = cli_env["DAGSTER_HOME"]
    with open(f"{home}/dagster.yaml", "w") as f:
        f.write(
            "python_logs:\n  python_log_level: DEBUG\n"
            "  managed_python_loggers: [urllib3, dlt, support_assets]\n"
            "telemetry:\n  enabled: false\n"
        )
    return {**cli_env, "RUNTIME__LOG_LEVEL": "DEBUG"}


def test_dagster_asset_materialize_at_debug_leaves_no_key(debug_cli_env, api_key, tmp_path):
    result = run_cli([DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"],
                     debug_cli_env)

    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "api_key=***" in output  # urllib3's DEBUG lines were printed, masked
    assert not leaks_in_text(api_key, output)
    assert any("compute_logs" in str(p) for p in files_under(tmp_path / "dagster_home"))
    assert leaks_in_files(api_key, tmp_path) == []


def test_a_failing_cli_run_with_the_key_in_dlt_secrets_toml_leaves_no_key(debug_cli_env, api_key, tmp_path):
    """Connection refused through the step subprocess, Dagster's op retries and the CLI's
    error report, with the key read by dlt's config (`api_key` in .dlt/secrets.toml, no
    SUPPORT_API_KEY), which must stay out of dlt's trace of resolved config values too.
    Short waits come from a code location built with fast RetryRules."""
    project = tmp_path / "project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "secrets.toml").write_text(f'api_key = "{api_key}"\n')
    env = {k: v for k, v in debug_cli_env.items() if k != "SUPPORT_API_KEY"}
    env.update(SUPPORT_API_BASE_URL=closed_port_url(), RUNTIME__DLTHUB_TELEMETRY="false")

    result = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "support_assets_tests.helpers.fast_retry_location", "--select", "*"],
        env=env, cwd=project, capture_output=True, text=True, timeout=300,
    )

    assert result.returncode != 0
    output = result.stdout + result.stderr
    # Requests were made (so the key was found): a missing key fails before any.
    assert "connection refused (tried 4 times); the sync failed 4 times in a row" in output
    # Each resource's step retried 3 times; the comments' step is skipped (its parent failed).
    for step in ("support_api__customer_support_data", "support_api__customers", "support_api__agents"):
        assert sum("STEP_UP_FOR_RETRY" in line and f" {step} " in line for line in output.splitlines()) == 3, step
    assert not leaks_in_text(api_key, output)
    assert (tmp_path / "dlt" / "support_api" / "trace.pickle").exists()
    assert leaks_in_files(api_key, tmp_path / "dlt", tmp_path / "dagster_home") == []
