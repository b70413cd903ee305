"""The Dagster UI path, the way a user takes it: `dagster dev` from the repository root
(webserver, daemon and run queue) against the sandbox API, driven through the
webserver's GraphQL API, which is what the UI itself calls, and through a real
headless Chromium clicking Materialize.
"""

import os
import re
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from support_assets.sources.config_file import ENDPOINTS
from support_assets.sources.settings import SOURCE_NAME
from support_assets.defs.resources import PROJECT_ROOT
from support_assets.sandbox import SandboxServer

from support_assets.sources.sync_plan import SyncType
from support_assets.defs.sync_config import sync_run_config
from support_assets_tests.helpers.dagster_dev import FINISHED, LOCATION, REPOSITORY, DagsterDev
from support_assets_tests.helpers import rows

TICKETS = ENDPOINTS[0]
TICKETS_KEY = [SOURCE_NAME, TICKETS.name]
TICKETS_TABLE = f"{SOURCE_NAME}.{TICKETS.name}"
RUN_TIMEOUT = 300  # seconds; a run here takes about 20 s

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("SUPPORT_TEST_ARTIFACTS") or PROJECT_ROOT / "test-artifacts")

REPOSITORY_QUERY = """
query Repository($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      jobs { name }
      schedules { name }
      sensors { name }
      assetNodes {
        assetKey { path }
        description
        groupName
        kinds
        jobNames
        isMaterializable
        dependencyKeys { path }
        metadataEntries {
          label
          ... on TableSchemaMetadataEntry { schema { columns { name type } } }
        }
        assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
      }
    }
    ... on PythonError { message }
    ... on RepositoryNotFoundError { message }
  }
}
"""

# The check results the asset's page shows, as the UI asks for them.
CHECKS_QUERY = """
query Checks($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization { runId status stepKey } } }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def ui_api_key() -> str:
    return f"sentinel-key-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def ui_sandbox(ui_api_key):
    with SandboxServer(api_key=ui_api_key, records=250) as server:
        yield server


@pytest.fixture
def sandbox(ui_sandbox):
    """The module's sandbox, with a clean request log and no latency left over."""
    ui_sandbox.requests.clear()
    yield ui_sandbox
    ui_sandbox.faults.latency = 0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("support_data")


@pytest.fixture(scope="module")
def dev(tmp_path_factory, ui_sandbox, ui_api_key, data_dir):
    """One `dagster dev` for the module: it takes a while to start."""
    env = {
        **os.environ,
        "SUPPORT_API_BASE_URL": ui_sandbox.url,
        "SUPPORT_API_KEY": ui_api_key,
        "SUPPORT_DATA_DIR": str(data_dir),
    }
    for name in ("SUPPORT_DESTINATION", "SUPPORT_DUCKDB_PATH"):  # the defaults: DuckDB in data_dir
        env.pop(name, None)
    with DagsterDev(env, tmp_path_factory.mktemp("dagster_dev")) as server:
        yield server


def run_to_completion(dev: DagsterDev, run_id: str) -> dict:
    run = dev.wait_for_run(run_id, timeout=RUN_TIMEOUT)
    if run["status"] != "SUCCESS":
        errors = [m["message"] for m in dev.run_messages(run_id) if m["level"] == "ERROR"]
        pytest.fail(f"run {run_id} ended {run['status']}: {errors}")
    return run


def assert_warehouse_matches(data_dir: Path, sandbox: SandboxServer) -> None:
    db = data_dir / "support.duckdb"
    assert rows(db, f"select count(*), count(distinct id) from {TICKETS_TABLE}") == [
        (sandbox.store.total, sandbox.store.total)
    ]
    expected = {r["id"]: r["subject"] for r in sandbox.store.all_records()}
    assert dict(rows(db, f"select id, subject from {TICKETS_TABLE}")) == expected


def expected_definitions():
    """What the code location defines, loaded in this process, to hold the UI against."""
    from support_assets.definitions import defs

    repo = defs.get_repository_def()
    specs = {spec.key.path[-1]: spec for spec in defs.resolve_all_asset_specs()}
    checks = {}
    for check_key in repo.asset_graph.asset_check_keys:
        checks.setdefault(check_key.asset_key.path[-1], set()).add(check_key.name)
    return {
        "specs": specs,
        "checks": checks,
        "jobs": {job.name for job in repo.get_all_jobs() if not job.name.startswith("__")},
        "schedules": {s.name for s in repo.schedule_defs},
        "sensors": {s.name for s in repo.sensor_defs},
    }


def test_the_ui_shows_the_assets_with_their_definitions_and_the_automation(dev):
    repo = dev.graphql(
        REPOSITORY_QUERY,
        {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}},
    )["repositoryOrError"]
    assert repo["__typename"] == "Repository", repo
    nodes = {tuple(n["assetKey"]["path"]): n for n in repo["assetNodes"]}

    # What the user sees on the asset's page today.
    tickets = nodes[tuple(TICKETS_KEY)]
    assert tickets["description"] == TICKETS.description
    assert tickets["groupName"] == SOURCE_NAME
    assert set(tickets["kinds"]) == {"dlt", "duckdb"}
    assert tickets["isMaterializable"]
    assert "support_api_sync" in tickets["jobNames"]

    # Everything the code location defines reaches the UI: every asset, its column
    # schema and checks when it has them, and every job, schedule and sensor.
    expected = expected_definitions()
    assert {key[-1] for key in nodes} == set(expected["specs"])
    assert {"customer_support_data", "customers", "agents", "ticket_comments"} <= set(expected["specs"])
    # The lineage graph draws the child under its parent.
    assert nodes[(SOURCE_NAME, "ticket_comments")]["dependencyKeys"] == [{"path": TICKETS_KEY}]
    for key, node in nodes.items():
        spec = expected["specs"][key[-1]]
        # support_api/<resource> in group support_api; the metrics' models in support_metrics
        assert key[0] in (SOURCE_NAME, "support_metrics") and node["groupName"] == key[0]
        assert node["description"] == spec.description
        assert set(node["kinds"]) == set(spec.kinds)
        schema = spec.metadata.get("dagster/column_schema")
        shown = [e for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
        if schema is None:
            assert not shown
        else:
            # dlt's specs hold a TableSchemaMetadataValue, dagster-dbt's a TableSchema
            columns = getattr(schema, "schema", schema).columns
            assert [(c["name"], c["type"]) for c in shown[0]["schema"]["columns"]] == [(c.name, c.type) for c in columns]
        shown_checks = {c["name"] for c in node["assetChecksOrError"].get("checks", [])}
        assert shown_checks == expected["checks"].get(key[-1], set())
    jobs = {j["name"] for j in repo["jobs"] if not j["name"].startswith("__")}
    assert jobs == expected["jobs"] and "support_api_sync" in jobs
    assert {s["name"] for s in repo["schedules"]} == expected["schedules"]
    assert {s["name"] for s in repo["sensors"]} == expected["sensors"]


def test_materialize_through_the_webserver_loads_every_record(dev, sandbox, ui_api_key, data_dir):
    run_id = dev.launch_assets([TICKETS_KEY])
    run = run_to_completion(dev, run_id)

    assert run["assetSelection"] == [{"path": TICKETS_KEY}]
    assert_warehouse_matches(data_dir, sandbox)
    # The checks ran in the same run, and the asset's page shows their results.
    node = dev.graphql(CHECKS_QUERY, {"key": {"path": TICKETS_KEY}})["assetNodeOrError"]
    shown = {c["name"]: c["executionForLatestMaterialization"] for c in node["assetChecksOrError"]["checks"]}
    for name in ("primary_key_unique", "required_not_null"):
        assert shown[name]["runId"] == run_id and shown[name]["status"] == "SUCCEEDED"
    # The daemon's run worker ran the sync and its checks in its own process (executor.py), in
    # one step: the resource's, which evaluates the checks after the load (checks.py).
    with dg.DagsterInstance.from_config(str(dev.home)) as instance:
        events = [e for e in instance.all_logs(run_id) if e.is_dagster_event]
    pids = {e.dagster_event.pid for e in events if e.dagster_event_type in (
        dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)}
    steps = {e.step_key for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS}
    assert len(pids) == 1 and steps == {"support_api__customer_support_data"}
    pages = [r for r in sandbox.requests if r.path == TICKETS.path]
    assert pages and all(r.params["api_key"] == ui_api_key for r in pages)
    # The key went to the API and nowhere else: not the run's log, not dagster dev's
    # output, not a file under DAGSTER_HOME (event log, compute logs) or the data folder.
    assert ui_api_key not in str(dev.run_messages(run_id))
    assert ui_api_key not in dev.log()
    for folder in (dev.home, data_dir):
        leaks = [p for p in folder.rglob("*") if p.is_file() and ui_api_key.encode() in p.read_bytes()]
        assert not leaks


def test_progress_shows_in_the_run_log_while_the_sync_is_still_fetching(dev, sandbox, data_dir):
    sandbox.store.add(3000 - sandbox.store.total)
    pages_total = 30
    # At least 12 s of fetching, more than two log intervals, with 8 pages in flight at a time.
    sandbox.faults.latency = 3.0
    # A full refresh reads all 3000 whatever earlier tests of this module synced.
    run_id = dev.launch_assets([TICKETS_KEY], run_config=sync_run_config(SyncType.full_refresh))

    first_seen = None  # (run status, pages served) when a progress line first showed
    deadline = time.monotonic() + RUN_TIMEOUT
    while first_seen is None and time.monotonic() < deadline:
        if any("fetched so far" in m["message"] for m in dev.run_messages(run_id)):
            served = sum(1 for r in sandbox.requests if r.path == TICKETS.path)
            first_seen = (dev.run(run_id)["status"], served)
        elif dev.run(run_id)["status"] in FINISHED:
            break
        time.sleep(0.5)
    run_to_completion(dev, run_id)

    assert first_seen is not None, "no progress line in the run's log"
    status, served = first_seen
    assert status == "STARTED" and served < pages_total, first_seen
    messages = [m["message"] for m in dev.run_messages(run_id)]
    so_far = [m for m in messages if m.startswith(f"{TICKETS.name}: ") and "fetched so far" in m]
    counts = [int(re.search(r"(\d+) of 3000 records", m).group(1)) for m in so_far]
    assert len(counts) >= 2 and counts == sorted(set(counts)) and counts[0] == 100, so_far
    assert f"{TICKETS.name}: all pages fetched (30 pages, 3000 of 3000 records)" in messages
    assert_warehouse_matches(data_dir, sandbox)


def chromium():
    """Playwright's sync API, or a failure under CI=true: CI installs Chromium (make browser)."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (make browser installs Debian's chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            missing = "playwright is not installed (make install)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test needs Chromium: {missing}")
        pytest.skip(missing)
    return sync_playwright


def test_a_materialize_click_in_chromium_syncs_and_the_run_succeeds(dev, sandbox, ui_api_key, data_dir):
    sync_playwright = chromium()
    sandbox.faults.latency = 0.1  # a sync slow enough to watch
    dev.dismiss_community_prompt()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{dev.url}/assets/{'/'.join(TICKETS_KEY)}")

            # The asset's page: its description, group, kinds and job.
            materialize = page.locator("button").filter(has_text=re.compile(r"^Materialize$"))
            materialize.wait_for()
            for text in (TICKETS.description, SOURCE_NAME, "DuckDB", "support_api_sync"):
                page.get_by_text(text, exact=True).first.wait_for()

            materialize.click()
            # The toast "Launched run …  View" links to the run's page.
            page.locator("a[href*='/runs/']", has_text="View").click()
            page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
            run_id = page.url.rstrip("/").rsplit("/", 1)[-1]

            page.get_by_text(re.compile(r"records fetched so far")).first.wait_for(
                timeout=RUN_TIMEOUT * 1000
            )
            page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_TIMEOUT * 1000)
            # Only the progress lines, for the screenshot.
            page.get_by_placeholder(re.compile(r"^Filter")).fill("fetched")
            page.get_by_text(re.compile(r"all pages fetched")).first.wait_for()
            page.screenshot(path=ARTIFACTS / "ui-run-succeeded.png")
            assert ui_api_key not in page.content()

            # Back on the asset's page: the latest materialization is this run's.
            page.goto(f"{dev.url}/assets/{'/'.join(TICKETS_KEY)}")
            page.locator(f"a[href*='/runs/{run_id}']").first.wait_for()
            page.screenshot(path=ARTIFACTS / "ui-asset-page.png")
        finally:
            browser.close()

    # What the browser showed is what happened.
    assert dev.run(run_id)["status"] == "SUCCESS"
    assert_warehouse_matches(data_dir, sandbox)


def test_the_readme_ui_command_serves_the_ui_against_the_sandbox(tmp_path):
    """`make ui` runs `python -m support_assets.demo ui`: sandbox and dagster dev in one
    command, from which a materialization loads the sandbox's records."""
    env = {**os.environ, "SUPPORT_DATA_DIR": str(tmp_path / "data")}
    for name in ("SUPPORT_API_BASE_URL", "SUPPORT_API_KEY", "SUPPORT_DESTINATION", "SUPPORT_DUCKDB_PATH"):
        env.pop(name, None)  # the command brings its own API and key
    command = lambda port: [  # noqa: E731
        sys.executable, "-m", "support_assets.demo", "ui", "--port", str(port), "--records", "120"
    ]

    names = ["customer_support_data", "customers", "agents", "ticket_comments"]
    with DagsterDev(env, tmp_path, command=command) as ui:
        run_to_completion(ui, ui.launch_assets([[SOURCE_NAME, name] for name in names]))
        assert f"Dagster UI on {ui.url}" in ui.log()

    db = tmp_path / "data" / "support.duckdb"
    assert rows(db, f"select count(*), count(distinct id) from {TICKETS_TABLE}") == [(120, 120)]
    for name in names[1:]:  # every resource's table, from the one command
        assert rows(db, f"select count(*) > 0 from {SOURCE_NAME}.{name}") == [(True,)], name
