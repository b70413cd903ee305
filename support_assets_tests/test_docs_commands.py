"""Every command in a shell block of the README and docs/ is run by a test (the registry
below names it, and the test must exist), or is marked `# not run here` on its line.
Variable assignments (`export X=...`) configure the commands around them and are not
counted as commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "not run here"
E2E = "support_assets_tests/e2e/"

# A command (its comment stripped) -> the test that runs it, or a file that runs it.
RUN_BY = {
    r"make demo": E2E + "test_end_to_end.py::test_the_readme_main_job_command",
    r"make (test|install)": ".ci/run",  # CI's own script; make test installs first
    r"make ui|\.venv/bin/python -m support_assets\.demo ui .*": E2E + "test_ui.py::test_the_readme_ui_command_serves_the_ui_against_the_sandbox",
    r"make bench(-quick)?": E2E + "test_bench.py::test_every_scenario_runs_and_leaves_every_record",
    r"make bench BENCH_ARGS=\"--only drift .*\"": E2E + "test_bench.py::test_every_scenario_runs_and_leaves_every_record",
    r"make bench BENCH_ARGS=\"--only collections .*\"": E2E + "test_bench.py::test_the_collections_scenario_syncs_every_resource_and_counts_the_comments_per_changed_ticket",
    r"make bench BENCH_ARGS=--user-paths": E2E + "test_bench.py::test_the_cli_and_ui_paths_run_against_their_floors",
    r"make bench BENCH_ARGS=--destinations": E2E + "test_bench.py::test_the_destination_scenarios_load_every_record_into_each_destination",
    r"\.venv/bin/dagster asset materialize -m support_assets\.definitions --select '\*'": E2E + "test_end_to_end.py::test_dagster_asset_materialize_cli_loads_every_record",
    r".* --config-json .*\"full_refresh\".*": "support_assets_tests/defs/test_sync_types.py::test_the_readme_cli_command_runs_a_full_refresh",
    r"\.venv/bin/dagster dev": E2E + "test_ui.py::test_the_ui_shows_the_assets_with_their_definitions_and_the_automation",
    r"\.venv/bin/dg (check defs|list defs)": E2E + "test_dg_cli.py::test_dg_check_defs_loads_the_code_location",
    r"\.venv/bin/dg launch --assets support_api/customer_support_data": E2E + "test_dg_cli.py::test_dg_launch_materializes_the_asset_into_duckdb",
    r"\.venv/bin/dg dev": E2E + "test_dg_cli.py::test_dg_dev_serves_the_code_location_and_a_launched_run_loads_the_sandbox",
    r"(\.venv/bin/)?dagster instance concurrency set support_api 1": E2E + "test_postgres_daemon.py::test_the_daemon_runs_sensor_launched_syncs_one_at_a_time_recorded_in_postgres",
    r"python -m support_assets\.defs\.celery_worker \S+": E2E + "test_celery.py::test_a_sync_waits_for_a_worker_then_the_worker_lands_every_record",
    r"dagster-celery worker start -A dagster_celery\.app -y \S+ -q .*": E2E + "test_celery.py::test_a_sync_waits_for_a_worker_then_the_worker_lands_every_record",
    r"\.venv/bin/dagster sensor start support_api_new_data": E2E + "test_automation_e2e.py::test_syncs_queue_in_the_pool_and_sensors_drive_and_report_them",
    r"SUPPORT_API_KEY=\S+ \.venv/bin/python -m support_assets\.sandbox --port \d+ --records \d+": "support_assets_tests/sandbox/test_sandbox.py::test_module_runs_as_subprocess_without_leaking_key",
    r"SOURCES__SUPPORT_API__BASE_URL=\S+ SOURCES__SUPPORT_API__API_KEY=\S+ \.venv/bin/python sources_example\.py": "support_assets_tests/sources/test_docs_example.py::test_the_docs_example_loads_every_sandbox_record_into_duckdb",
    r"\.venv/bin/pytest support_assets_tests/test_library_internals\.py": "support_assets_tests/test_library_internals.py::test_dlt_offset_paginator_stops_on_its_private_has_next_page_flag",
    r"\.venv/bin/python bench/run\.py --user-paths.*": E2E + "test_bench.py::test_the_cli_and_ui_paths_run_against_their_floors",
    r"\.venv/bin/python bench/run_overheads\.py.*": E2E + "test_bench.py::test_the_run_overheads_bench_compares_each_change_with_what_it_replaced",
    r"\.venv/bin/python bench/import_time\.py.*": E2E + "test_bench.py::test_the_import_time_bench_times_every_case",
    r"\.venv/bin/python bench/rss_by_mapping\.py.*": E2E + "test_bench.py::test_the_rss_by_mapping_bench_names_what_is_resident_during_a_sync",
}


def commands(page: Path) -> list[tuple[str, str]]:
    """(command without its comment, the whole line) of every shell block of `page`."""
    found = []
    for body in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(), re.S):
        for line in body.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith(("#", "export ")):
                found.append((re.sub(r"\s+", " ", command), line))
    return found


def test_every_command_in_the_docs_is_run_by_a_test_or_marked():
    unaccounted = []
    for page in PAGES:
        for command, line in commands(page):
            if NOT_RUN in line:
                continue
            targets = [t for pattern, t in RUN_BY.items() if re.fullmatch(pattern, command)]
            if not targets:
                unaccounted.append(f"{page.relative_to(ROOT)}: {command}")
    assert not unaccounted, "commands neither run by a test (RUN_BY) nor marked '# not run here':\n" + "\n".join(unaccounted)


def test_every_test_the_registry_names_exists():
    for target in RUN_BY.values():
        path, _, function = target.partition("::")
        assert (ROOT / path).exists(), target
        if function:
            assert f"def {function}(" in (ROOT / path).read_text(), target
