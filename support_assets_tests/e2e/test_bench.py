"""`make bench` keeps working: every scenario runs end to end on a small sandbox, and the
`dlt` scenario is the same pipeline the Dagster asset runs. (No timings are asserted.)"""

import subprocess
import sys

import pytest

from support_assets.defs.resources import PROJECT_ROOT, WarehouseResource

sys.path.insert(0, str(PROJECT_ROOT / "bench"))

import run  # noqa: E402
import scenario  # noqa: E402


def test_the_dlt_scenario_runs_the_assets_pipeline_settings(tmp_path):
    ours = scenario.Warehouse(tmp_path)
    asset = WarehouseResource(
        duckdb_path=str(tmp_path / "support.duckdb"), pipelines_dir=str(tmp_path / "dlt")
    )

    assert ours.loader_file_format == asset.loader_file_format
    a, b = ours.pipeline(), asset.pipeline()
    assert (a.pipeline_name, a.dataset_name, a.pipelines_dir) == (
        b.pipeline_name,
        b.dataset_name,
        b.pipelines_dir,
    )
    assert a.destination.destination_type == b.destination.destination_type
    assert a.destination.config_params["credentials"] == b.destination.config_params["credentials"]


def test_every_scenario_runs_and_leaves_every_record(tmp_path):
    plan = run.Plan(
        repeats=1,
        sizes=(300,),
        growth_records=None,
        latency_records=300,
        latency=0.01,
        incremental_records=300,
    )
    log = []

    run.measure(plan.sweep, 300, 0.0, 1, tmp_path, log)
    run.measure(plan.latency_scenarios, 300, 0.01, 1, tmp_path, log)
    run.measure(("incremental",), 300, 0.0, 1, tmp_path, log)
    run.measure(("drift",), 300, 0.0, 1, tmp_path, log)

    assert {r.scenario for r in log} == {*plan.sweep, *plan.latency_scenarios, "incremental", "drift"}
    assert all(r.rows == 300 and r.peak_rss_mb > 0 for r in log)
    incremental = next(r for r in log if r.scenario == "incremental").extra
    assert incremental["full_requests"] == 3  # pages of 100
    assert incremental["incremental_requests"] == 1  # the 3 changed records fit one page
    drift = next(r for r in log if r.scenario == "drift").extra
    assert drift["calm_requests"] == 3  # no drift: exactly the pages
    assert 6 <= drift["drift_requests"] <= 6 + 7  # one more pass (and pages fetched ahead of a moved end)
    assert drift["incremental_drift_requests"] > drift["incremental_calm_requests"]
    info = {"machine": run.machine(), "load_before": "0", "load_after": "0", "minutes": 1}
    report = run.table(log, plan, info)
    for name in (*plan.sweep, "dlt_sequential", "Targets", "drift, 300 records"):
        assert name in report


def test_the_collections_scenario_syncs_every_resource_and_counts_the_comments_per_changed_ticket(tmp_path):
    plan = run.Plan(repeats=1, sizes=(), growth_records=None, collections_records=300)
    log = []

    run.measure(("collections",), 300, 0.0, 1, tmp_path, log)

    [collections] = log
    e = collections.extra
    assert collections.rows == 300
    assert list(e["per_endpoint"]) == ["customer_support_data", "customers", "agents", "ticket_comments"]
    assert e["per_endpoint"]["customers"]["records"] == 5000  # the sandbox's default
    assert e["full_comment_requests"] == 300  # one per ticket
    # The changed tickets' comments, and those of the ticket at the stored cursor.
    assert e["changed"] == 3 and e["changed_comment_requests"] == e["calm_comment_requests"] + 3
    info = {"machine": run.machine(), "load_before": "0", "load_after": "0", "minutes": 1}
    report = run.table(log, plan, info)
    assert "every resource, 300 tickets" in report and "per changed ticket" in report


def test_the_cli_and_ui_paths_run_against_their_floors(tmp_path):
    """The headline paths: floor (a) and the project through the real `dagster asset
    materialize`, and both through `dagster dev`'s GraphQL and daemon."""
    plan = run.Plan(repeats=1, sizes=(300,), cli_records=300, ui_records=300, ui_repeats=1)
    log = []

    run.measure(("hand",), 300, 0.0, 1, tmp_path, log)
    run.measure_cli(300, 1, tmp_path, log)
    run.measure_ui(300, 1, tmp_path, log)

    assert [r.scenario for r in log] == ["hand", *run.CLI_SCENARIOS, *run.UI_SCENARIOS]
    cli = {r.scenario: r for r in log if r.scenario.startswith("cli_")}
    assert all(r.peak_rss_mb > 0 and r.breakdown["before_first_step"] > 0 for r in cli.values())
    # The sync's step ran in the measured runs, its checks in it: no step of checks, as in the floor.
    assert cli["cli_full"].breakdown["sync_step"] > 0
    assert cli["cli_full"].breakdown["check_steps"] == cli["cli_floor"].breakdown["check_steps"] == 0
    assert "sync_step_to_first_page" in cli["cli_incremental"].breakdown
    assert cli["cli_dlt_floor"].breakdown["sync_step"] > 0  # floor (c)'s step, found in its event log
    # `queued` split into the run worker's start and its load of the code location, each found.
    ui = {r.scenario: r for r in log if r.scenario.startswith("ui_")}
    assert all(0 < r.breakdown["worker_start"] + r.breakdown["code_load"] <= r.breakdown["queued"]
               for r in ui.values())
    assert ui["ui_sync"].breakdown["events"] > ui["ui_floor"].breakdown["events"] > 0
    info = {"machine": run.machine(), "load_before": "0", "load_after": "0", "minutes": 1}
    report = run.table(log, plan, info)
    for line in ("| incremental sync with nothing new, CLI |", "| full sync of 300 records, CLI |",
                 "launch to success |", "peak RSS of the CLI path, full sync of 300 records",
                 "| floor (c): two records merged by dlt into DuckDB", "| floor (c) through the webserver's"):
        assert line in report
    assert report.count("≤ ") >= 4  # a verdict for every target


def test_the_destination_scenarios_load_every_record_into_each_destination(tmp_path):
    plan = run.Plan(repeats=1, sizes=(300,), destination_records=300)
    log = []

    run.measure(("hand", "dlt", *plan.destinations), 300, 0.0, 1, tmp_path, log)

    assert {r.scenario for r in log} == {"hand", "dlt", "dlt_postgres", "dlt_mariadb", "dlt_delta"}
    assert all(r.rows == 300 for r in log)
    info = {"machine": run.machine(), "load_before": "0", "load_after": "0", "minutes": 1}
    assert "300 records, full sync per destination" in run.table(log, plan, info)


def test_a_scenario_that_loses_records_fails_the_bench(tmp_path, monkeypatch):
    def short(scenario_name, sandbox, records, workdir):
        return {"seconds": 1.0, "rows": records - 1, "peak_rss_mb": 1, "cpu_seconds": 1}

    monkeypatch.setattr(run, "run_scenario", short)

    with pytest.raises(RuntimeError, match="left 99 rows, not 100"):
        run.measure(("hand",), 100, 0.0, 1, tmp_path, [])


def test_the_destination_lookups_bench_compares_both_factories():
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "destination_lookups.py"),
         "--records", "300", "--repeats", "1"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(lines) == {"dlt.destinations.duckdb", "destinations.duckdb"}
    assert lines["destinations.duckdb"].endswith(" 0 of them for capabilities")
    assert not lines["dlt.destinations.duckdb"].endswith(" 0 of them for capabilities")


def test_the_import_time_bench_times_every_case():
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "import_time.py"), "--repeats", "1"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 8 and all(line.split()[1] == "s" and float(line.split()[0]) > 0 for line in lines)
    assert "support_assets.definitions" in result.stdout


def test_the_run_overheads_bench_compares_each_change_with_what_it_replaced():
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "run_overheads.py"), "--repeats", "1", "--rows", "1000"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 7 and all(line.split()[1] == "s" and float(line.split()[0]) > 0 for line in lines)
    assert "collector off during the load (as shipped)" in lines[0] and "collector on during the load" in lines[1]
    assert "frozen (as shipped)" in lines[2] and "gc.unfreeze()" in lines[3]
    assert "one event written to the run's event log" in lines[4]
    assert "one connection" in lines[5] and "a connection each" in lines[6]


def test_the_rss_by_mapping_bench_names_what_is_resident_during_a_sync(tmp_path):
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "rss_by_mapping.py"), "--records", "10000",
         "--at", "2", "--out", str(tmp_path / "out")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    moment, peak = result.stdout.splitlines()[-2:]
    assert "MB resident" in moment and "[heap]" in moment  # the process's own heap, by mapping
    assert peak.startswith("peak ") and int(peak.split()[1]) > 100
