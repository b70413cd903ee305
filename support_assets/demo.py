"""The main job and the UI, against the offline sandbox API.

    python -m support_assets.demo run [--records N] [--verbose]   # sandbox -> dagster asset materialize -> DuckDB
    python -m support_assets.demo ui  [--port 3000] [--records N] [--latency S]   # dagster dev against the sandbox

Both go through the real code location (support_assets.definitions:defs) and the
real `dagster` CLI; the sandbox only stands in for the support API.
"""

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

import duckdb

from .definitions import warehouse_from_env
from .defs.resources import DATA_DIR, PROJECT_ROOT
from .sandbox import SandboxServer
from .sources.config_file import load_endpoints
from .sources.progress import plural
from .sources.settings import SOURCE_NAME

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def dagster_env(sandbox: SandboxServer, api_key: str) -> dict[str, str]:
    home = Path(os.environ.get("DAGSTER_HOME") or DATA_DIR / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    link_instance_config(home)
    return {
        **os.environ,
        "SUPPORT_API_BASE_URL": sandbox.url,
        "SUPPORT_API_KEY": api_key,
        "DAGSTER_HOME": str(home),
    }


def link_instance_config(home: Path) -> None:
    """With DAGSTER_HOME set, Dagster reads $DAGSTER_HOME/dagster.yaml, not the repository's:
    link it there so the one-sync-at-a-time pool applies. An existing file is left alone."""
    config = home / "dagster.yaml"
    if not config.exists() and not config.is_symlink():
        config.symlink_to(PROJECT_ROOT / "dagster.yaml")
    elif config.resolve() != (PROJECT_ROOT / "dagster.yaml").resolve():
        print(f"using your {config}; the sync pool settings are in {PROJECT_ROOT / 'dagster.yaml'}", flush=True)


def table_counts(duckdb_path: str, dataset: str) -> dict[str, int]:
    with duckdb.connect(duckdb_path, read_only=True) as db:
        tables = db.execute(
            "select table_name from information_schema.tables"
            " where table_schema = ? and table_name not like '\\_dlt%' escape '\\' order by 1",
            [dataset],
        ).fetchall()
        return {name: db.execute(f'select count(*) from "{dataset}"."{name}"').fetchone()[0] for (name,) in tables}


def metric_lines(duckdb_path: str) -> list[str]:
    """The dbt models' headline numbers (docs/metrics.md); none when they were not built."""
    with duckdb.connect(duckdb_path, read_only=True) as db:
        built = db.execute(
            "select count(*) from information_schema.tables where table_schema = 'support_metrics'"
        ).fetchone()[0]
        if not built:
            return []
        median, replied = db.execute(
            "select percentile_cont(0.5) within group (order by first_reply_hours), count(first_reply_hours)"
            " from support_metrics.ticket_metrics"
        ).fetchone()
        day, backlog, opened, solved = db.execute(
            "select day, backlog, opened, solved from support_metrics.daily_ticket_metrics order by day desc limit 1"
        ).fetchone() or (None, 0, 0, 0)
        top = db.execute(
            "select name, tickets from support_metrics.customer_metrics order by tickets desc, customer_id limit 1"
        ).fetchone()
    lines = [
        f"  median first reply: {median:.1f} h over {plural(replied, 'replied ticket')}"
        if median is not None else "  median first reply: no ticket has an agent's reply yet",
        f"  backlog today ({day}): {plural(backlog, 'open ticket')} ({opened} opened, {solved} solved)",
    ]
    if top:
        lines.append(f"  most tickets: {top[0]} ({plural(top[1], 'ticket')})")
    return lines


def run_summary(home: Path) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """What the last run of the instance at `home` did: the resources it materialized, their
    sync types, and its checks' names by result (passed, warned, failed)."""
    import dagster as dg  # here: the demo's other paths need no Dagster in this process

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(limit=1)
        synced, sync_types = [], []
        for record in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records:
            materialization = record.event_log_entry.asset_materialization
            if materialization.asset_key.path[0] != SOURCE_NAME:
                continue  # the metrics' models: their numbers come after the tables
            synced.append(materialization.asset_key.path[-1])
            sync_type = materialization.metadata.get("sync_type")
            if sync_type is not None and sync_type.value not in sync_types:
                sync_types.append(sync_type.value)
        checks: dict[str, list[str]] = {"passed": [], "warned": [], "failed": []}
        for record in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records:
            evaluation = record.event_log_entry.dagster_event.event_specific_data
            if evaluation.passed:
                outcome = "passed"
            else:
                outcome = "warned" if evaluation.severity == dg.AssetCheckSeverity.WARN else "failed"
            checks[outcome].append(evaluation.check_name)
    return synced, sync_types, checks


def run(records: int, verbose: bool = False) -> int:
    api_key = secrets.token_urlsafe(24)  # a throwaway key the sandbox accepts
    with SandboxServer(api_key=api_key, records=records) as sandbox:
        print(f"sandbox support API on {sandbox.url} with {plural(records, 'ticket')}", flush=True)
        env = dagster_env(sandbox, api_key)
        # Dagster's event stream (DEBUG) only with --verbose; kept for the error otherwise.
        result = subprocess.run(
            [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=not verbose,
            text=True,
        )
    if result.returncode != 0:
        if not verbose:
            print(result.stdout[-5000:] + result.stderr[-5000:], file=sys.stderr)
        print("materialization failed; the run's log is above", file=sys.stderr)
        return result.returncode
    warehouse = warehouse_from_env()
    synced, sync_types, checks = run_summary(Path(env["DAGSTER_HOME"]))
    order = [e.name for e in load_endpoints()]  # the config file's order
    synced.sort(key=lambda name: order.index(name) if name in order else len(order))
    how = f" ({', '.join(sync_types)})" if sync_types else ""
    print(f"synced {plural(len(synced), 'asset')}{how} from the sandbox API: {', '.join(synced)}")
    # One line for every table, the resources' first.
    counts = table_counts(warehouse.duckdb_path, warehouse.dataset_name)
    tables = [*(t for t in synced if t in counts), *(t for t in counts if t not in synced)]
    print(f"  rows in {warehouse.dataset_name}: " + ", ".join(f"{t} {counts[t]}" for t in tables))
    outcomes = [
        f"{len(names)} {outcome}" + (f" ({', '.join(names)})" if outcome != "passed" else "")
        for outcome, names in checks.items()
        if names
    ]
    print(f"  checks: {'; '.join(outcomes) or 'none ran'}")
    if warehouse.destination == "duckdb":
        lines = metric_lines(warehouse.duckdb_path)
        if lines:
            print("metrics (dbt models in support_metrics, docs/metrics.md):", *lines, sep="\n")
    print(f"data: {warehouse.duckdb_path} (dataset {warehouse.dataset_name})")
    print("UI: make ui (http://127.0.0.1:3000)")
    return 0


def ui(port: int, records: int, latency: float = 0.0) -> int:
    api_key = secrets.token_urlsafe(24)
    with SandboxServer(api_key=api_key, records=records) as sandbox:
        sandbox.faults.latency = latency  # a slower API, to watch a sync's progress lines
        print(f"sandbox support API on {sandbox.url}; Dagster UI on http://127.0.0.1:{port}", flush=True)
        dev = subprocess.Popen(
            [DAGSTER, "dev", "--host", "127.0.0.1", "--port", str(port)],
            env=dagster_env(sandbox, api_key),
            cwd=PROJECT_ROOT,
        )
        try:
            return dev.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached dagster dev too: let it stop its webserver and daemon rather
            # than kill it and orphan them; SIGTERM (which it treats as Ctrl-C) if it did not.
            for stop in (None, dev.terminate, dev.kill):
                if stop:
                    stop()
                try:
                    dev.wait(timeout=30)
                    break
                except subprocess.TimeoutExpired:
                    continue
            return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m support_assets.demo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialize every asset from the sandbox into DuckDB")
    run_parser.add_argument("--records", type=int, default=1000)
    run_parser.add_argument("--verbose", action="store_true", help="show Dagster's event stream")
    ui_parser = commands.add_parser("ui", help="dagster dev against the sandbox")
    ui_parser.add_argument("--port", type=int, default=3000)
    ui_parser.add_argument("--records", type=int, default=1000)
    ui_parser.add_argument("--latency", type=float, default=0.0, help="seconds the sandbox adds to every response")
    args = parser.parse_args()
    if args.command == "run":
        return run(args.records, args.verbose)
    return ui(args.port, args.records, args.latency)


if __name__ == "__main__":
    sys.exit(main())
