"""Every sync scenario side by side in one run, against the sandbox API: `make bench`.

    python bench/run.py [--quick | --destinations] [--out bench/results]

For each record count the sandbox runs in its own process
(`python -m support_assets.sandbox --port 0 --records N [--latency S]`), and each sync
runs in a fresh process (bench/scenario.py) whose peak RSS is read when it exits
(os.wait4). Scenarios take turns within each repeat, so that the machine's load falls on
all of them alike; figures are medians over the repeats, and times are also given as
ratios to the hand-written loop measured in the same run.

Where users run syncs, measured as they run them: the `dagster asset materialize` CLI as a
whole process (full sync, incremental sync with nothing new, peak RSS), and a run launched
through the webserver's GraphQL (the Materialize button's mutation) and executed by the
daemon, launch to success. Both against floors of the same run: (a) a trivial one-asset
code location with the in-process executor through the same CLI and the same webserver
(bench/floor_location.py), (b) the hand-written loop.

Writes results.json (every run), table.md (medians, ratios, the targets) and bench.png
(time and peak memory against record count) to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Optional

import requests

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "bench" / "scenario.py"
sys.path.insert(0, str(ROOT))  # support_assets_tests' database helpers


@dataclass
class Plan:
    """What one `make bench` measures."""

    repeats: int
    sizes: tuple[int, ...]  # record counts for the side-by-side sweep
    sweep: tuple[str, ...] = ("hand", "dlt_defaults", "dlt_records", "dlt", "dagster")
    growth_records: Optional[int] = 1_000_000  # memory growth from 100k to this
    growth: tuple[str, ...] = ("hand", "dlt", "dagster")
    latency_records: int = 20_000
    latency: float = 0.05
    latency_scenarios: tuple[str, ...] = ("dlt_defaults", "dlt_sequential", "dlt", "dagster")
    incremental_records: int = 100_000
    # The other destinations tested here, side by side with `dlt` (DuckDB) at this size.
    destinations: tuple[str, ...] = ("dlt_postgres", "dlt_mariadb", "dlt_delta")
    destination_records: int = 100_000
    drift_records: int = 20_000
    # Tickets in the multi-endpoint scenario (customers, agents and comments as the sandbox makes them).
    collections_records: int = 10_000
    cli_records: int = 100_000  # the CLI paths, against floor (a) and the hand loop
    cli_growth_records: Optional[int] = 1_000_000  # peak RSS of the CLI path
    ui_records: int = 10_000  # the webserver + daemon path: runs after a first sync
    ui_repeats: int = 5


FULL = Plan(repeats=3, sizes=(10_000, 30_000, 100_000))
QUICK = Plan(repeats=1, sizes=(10_000, 100_000), growth_records=None, cli_growth_records=None,
             ui_repeats=3)

# The user's command, and the same CLI on floor (a).
SYNC_SELECT = "support_api/customer_support_data"
FLOOR_MODULE = "floor_location"  # bench/floor_location.py
# Each CLI scenario: (code location, executor setting); `_multiprocess` is the same
# command with Dagster's multiprocess executor (SUPPORT_EXECUTOR), for comparison.
ASSET_STEPS = {"support_api__customer_support_data", "trivial", "dlt_minimal"}  # the tickets' sync step and the floors'; the rest are checks
CLI_SCENARIOS = ("cli_floor", "cli_dlt_floor", "cli_full", "cli_incremental", "cli_incremental_multiprocess")
# Floor (c): two records merged by dlt into DuckDB (bench/dlt_floor_location.py), what any dlt
# sync pays through Dagster.
DLT_FLOOR_MODULE, DLT_FLOOR_ASSET = "dlt_floor_location", "dlt_minimal"
UI_SCENARIOS = ("ui_floor", "ui_dlt_floor", "ui_sync")
# No user paths (CLI, UI) in a plan that measures one other part alone.
NO_USER_PATHS = {"cli_records": 0, "cli_growth_records": None, "ui_repeats": 0}
# The destinations part alone: 100k full syncs on each tested destination and the hand loop.
DESTINATIONS = Plan(repeats=3, sizes=(100_000,), sweep=("hand", "dlt"), growth_records=None,
                    latency_scenarios=(), incremental_records=0, drift_records=0, collections_records=0,
                    **NO_USER_PATHS)


@dataclass
class Run:
    scenario: str
    records: int
    latency: float
    repeat: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)
    # Where a CLI or UI run's time went, from its event log (seconds).
    breakdown: dict[str, float] = field(default_factory=dict)


class Sandbox:
    """The sandbox API in its own process."""

    def __init__(self, records: int, latency: float = 0.0) -> None:
        self.key = secrets.token_urlsafe(16)
        command = [sys.executable, "-m", "support_assets.sandbox", "--port", "0",
                   "--records", str(records)]
        if latency:
            command += ["--latency", str(latency)]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "SUPPORT_API_KEY": self.key},
        )
        line = self.proc.stdout.readline()  # "sandbox listening on http://127.0.0.1:PORT (N records)"
        if not line.startswith("sandbox listening on "):
            self.proc.kill()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line.split()[3]
        if records <= 250_000 and not latency:  # records are generated and encoded on first touch
            with requests.Session() as session:
                for offset in range(0, records, 1000):
                    session.get(f"{self.url}/v1/resource", timeout=60,
                                params={"api_key": self.key, "limit": 1000, "offset": offset})
                # The sandbox builds its updated_at index on the first filtered request (0.1 s
                # at 100k records), which an API with an index never pays: not the sync's time.
                session.get(f"{self.url}/v1/resource", timeout=60, params={
                    "api_key": self.key, "limit": 1, "updated_since": "2000-01-01T00:00:00Z"})

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@contextmanager
def destination_env(scenario: str, workdir: Path) -> Iterator[dict[str, str]]:
    """dlt's settings for a destination scenario: a fresh database of the run's own on the
    loopback servers (dropped afterwards), or a fresh folder for the Delta table."""
    from support_assets_tests.helpers import mariadb, postgres

    if scenario == "dlt_postgres":
        with postgres.database("bench") as db:
            yield {"DESTINATION__POSTGRES__CREDENTIALS": db.url}
    elif scenario == "dlt_mariadb":
        with mariadb.database("bench") as db:  # on MariaDB the dataset is a database
            yield {"DESTINATION__SQLALCHEMY__CREDENTIALS": db.url, "BENCH_DATASET": db.name}
    elif scenario == "dlt_delta":
        yield {"DESTINATION__FILESYSTEM__BUCKET_URL": str(workdir / "lake")}
    else:
        yield {}


def run_scenario(scenario: str, sandbox: Sandbox, records: int, workdir: Path) -> dict[str, Any]:
    """One sync in a fresh process; its JSON line plus its peak RSS and CPU time."""
    with destination_env(scenario, workdir) as destination:
        return _run_scenario(scenario, sandbox, records, workdir, destination)


def _run_scenario(scenario: str, sandbox: Sandbox, records: int, workdir: Path,
                  destination: dict[str, str]) -> dict[str, Any]:
    env = {
        **destination,
        **os.environ,
        "SUPPORT_API_KEY": sandbox.key,
        "RUNTIME__DLTHUB_TELEMETRY": "false",  # dlt_defaults runs without our config.toml
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "PYTHONPATH": str(ROOT),
    }
    (workdir / "dagster_home").mkdir(parents=True)
    # dlt reads .dlt/ from the working directory: dlt's defaults get an empty one.
    cwd = workdir if scenario == "dlt_defaults" else ROOT
    with open(workdir / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(SCENARIO), scenario, "--url", sandbox.url,
             "--records", str(records), "--workdir", str(workdir / "data")],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        output = proc.stdout.read()  # until the process exits
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (workdir / "stderr.txt").read_text()[-3000:]
        raise RuntimeError(f"{scenario} with {records} records failed ({proc.returncode}):\n{tail}")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def measure(scenarios: tuple[str, ...], records: int, latency: float, repeats: int,
            tmp: Path, log: list[Run]) -> None:
    sandbox = Sandbox(records, latency)
    try:
        for repeat in range(1, repeats + 1):
            for scenario in scenarios:
                workdir = tmp / f"{scenario}-{records}-{latency}-{repeat}"
                result = run_scenario(scenario, sandbox, records, workdir)
                expected = records
                if result["rows"] != expected:
                    raise RuntimeError(f"{scenario} left {result['rows']} rows, not {expected}")
                run = Run(
                    scenario, records, latency, repeat,
                    seconds=result.pop("seconds"), cpu_seconds=result.pop("cpu_seconds"),
                    peak_rss_mb=result.pop("peak_rss_mb"), rows=result.pop("rows"), extra=result,
                )
                log.append(run)
                print(f"  {scenario:15s} {records:>9,} records  latency {latency:.2f}s  "
                      f"#{repeat}: {run.seconds:6.2f} s  cpu {run.cpu_seconds:6.2f} s  "
                      f"peak {run.peak_rss_mb:6.0f} MB", flush=True)
    finally:
        sandbox.close()


# The daemon dequeues runs every 5 s by default: a wait of 0-5 s before any run starts, the
# floor's as much as the sync's, that only adds noise to the UI path's ratio.
FAST_QUEUE = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""


def dagster_home(path: Path, extra: str = "") -> Path:
    """A DAGSTER_HOME with the committed instance settings (the pool), as `make ui` has them."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text() + extra)
    return path


def cli_env(sandbox: "Sandbox", workdir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SUPPORT_API_BASE_URL": sandbox.url,
        "SUPPORT_API_KEY": sandbox.key,
        "SUPPORT_DATA_DIR": str(workdir / "data"),
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "PYTHONPATH": str(ROOT / "bench"),  # floor_location
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        **extra,
    }


def run_breakdown(home: Path, started: float, ended: float) -> dict[str, float]:
    """The latest run of this DAGSTER_HOME, from its event log: seconds from `started` (the
    process's or the launch's wall clock) to the first step, in the sync step, in the check
    steps, and from the last step's end to `ended`."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(limit=1)
        steps = instance.get_run_step_stats(run.run_id)
        # The progress log's first line comes with the first page (support_assets/progress.py).
        first_page = next((e.timestamp for e in instance.all_logs(run.run_id)
                           if not e.is_dagster_event and "fetched" in e.user_message), None)
    if not steps:
        return {}
    sync = [s for s in steps if s.step_key in ASSET_STEPS]
    checks = [s for s in steps if s.step_key not in ASSET_STEPS]
    breakdown = {
        "before_first_step": min(s.start_time for s in steps) - started,
        "sync_step": sum(s.end_time - s.start_time for s in sync),
        "check_steps": sum(s.end_time - s.start_time for s in checks),
        "after_last_step": ended - max(s.end_time for s in steps),
    }
    if first_page is not None and sync:
        breakdown["sync_step_to_first_page"] = first_page - sync[0].start_time
    return breakdown


def run_cli(module: str, select: str, env: dict[str, str], workdir: Path) -> tuple[float, float, float, dict]:
    """`dagster asset materialize` as a user runs it, timed as a whole process: wall and
    CPU seconds, peak RSS (the process and the step processes it waited for), breakdown."""
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
               "-m", module, "--select", select]
    with open(workdir / "cli.log", "a") as log:
        wall_started = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        wall_ended = time.time()
    if os.waitstatus_to_exitcode(status) != 0:
        tail = (workdir / "cli.log").read_text()[-3000:]
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{tail}")
    breakdown = run_breakdown(Path(env["DAGSTER_HOME"]), wall_started, wall_ended)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, breakdown


def measure_cli(records: int, repeats: int, tmp: Path, log: list[Run],
                scenarios: tuple[str, ...] = CLI_SCENARIOS) -> None:
    """Per repeat, taking turns: floor (a); a full sync of `records` into a fresh
    warehouse; an incremental sync with nothing new after it (the asset's default config:
    incremental, lookback 600 s), with the in-process default and with multiprocess."""
    sandbox = Sandbox(records)
    try:
        for repeat in range(1, repeats + 1):
            workdir = tmp / f"cli-{records}-{repeat}"
            dagster_home(workdir / "dagster_home")
            for scenario in scenarios:
                executor = "multiprocess" if scenario.endswith("_multiprocess") else ""
                env = cli_env(sandbox, workdir, SUPPORT_EXECUTOR=executor)
                if scenario in ("cli_floor", "cli_dlt_floor"):
                    floor_dir = tmp / f"{scenario}-{records}-{repeat}"
                    dagster_home(floor_dir / "dagster_home")
                    env = cli_env(sandbox, floor_dir)
                    if scenario == "cli_dlt_floor":
                        run_cli(DLT_FLOOR_MODULE, "*", env, floor_dir)  # its first load, untimed
                    result = run_cli(FLOOR_MODULE if scenario == "cli_floor" else DLT_FLOOR_MODULE, "*", env, floor_dir)
                    rows = 1
                else:
                    result = run_cli("support_assets.definitions", SYNC_SELECT, env, workdir)
                    rows = _rows(workdir / "data" / "support.duckdb")
                    if rows != records:
                        raise RuntimeError(f"{scenario} left {rows} rows, not {records}")
                seconds, cpu, peak, breakdown = result
                run = Run(scenario, records, 0.0, repeat, seconds=seconds, cpu_seconds=cpu,
                          peak_rss_mb=peak, rows=rows, breakdown=breakdown)
                log.append(run)
                print(f"  {scenario:28s} {records:>9,} records  #{repeat}: {seconds:6.2f} s  "
                      f"cpu {cpu:6.2f} s  peak {peak:6.0f} MB  "
                      + "  ".join(f"{k} {v:.2f}" for k, v in breakdown.items()), flush=True)
    finally:
        sandbox.close()


def _rows(path: Path) -> int:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute("select count(*) from support_api.customer_support_data").fetchone()[0]


UI_WORKSPACE = """\
load_from:
  - python_module:
      module_name: support_assets.definitions
      location_name: support_assets
  - python_module:
      module_name: floor_location
      location_name: floor
      working_directory: {bench}
  - python_module:
      module_name: dlt_floor_location
      location_name: dlt_floor
      working_directory: {bench}
"""


def measure_ui(records: int, repeats: int, tmp: Path, log: list[Run]) -> None:
    """`dagster dev` (webserver and daemon) serving this code location and floor (a); runs
    launched with the Materialize button's GraphQL mutation, taking turns, timed from the
    run's creation to its end as the instance records them. A first sync loads the records
    untimed, so the timed syncs are incremental with nothing new, like most scheduled and
    sensor runs."""
    sys.path.insert(0, str(ROOT))
    from support_assets_tests.helpers.dagster_dev import DagsterDev

    import dagster as dg

    workdir = tmp / "ui"
    workdir.mkdir()
    (workdir / "workspace.yaml").write_text(UI_WORKSPACE.format(bench=ROOT / "bench"))
    sandbox = Sandbox(records)
    dev = DagsterDev(
        cli_env(sandbox, workdir), workdir, fresh_home=False,
        command=lambda port: [str(Path(sys.executable).with_name("dagster")), "dev", "-w",
                              str(workdir / "workspace.yaml"), "--host", "127.0.0.1",
                              "--port", str(port)],
    )
    dagster_home(workdir / "dagster_home", FAST_QUEUE)
    targets = {"ui_floor": ("floor", [["trivial"]]),
               "ui_dlt_floor": ("dlt_floor", [[DLT_FLOOR_ASSET]]),
               "ui_sync": ("support_assets", [SYNC_SELECT.split("/")])}
    try:
        dev.start()
        dev.wait_for_location("floor")
        dev.wait_for_location("dlt_floor")

        def launch(scenario: str) -> tuple[float, dict[str, float]]:
            location, assets = targets[scenario]
            run_id = dev.launch_assets(assets, location=location)
            finished = dev.wait_for_run(run_id, poll=0.2)
            if finished["status"] != "SUCCESS":
                raise RuntimeError(f"{scenario}: run {run_id} {finished['status']}:\n{dev.log()[-3000:]}")
            with dg.DagsterInstance.from_config(str(workdir / "dagster_home")) as instance:
                record = instance.get_run_record_by_id(run_id)
                created, ended = record.create_timestamp.timestamp(), record.end_time
                steps = instance.get_run_step_stats(run_id)
                events = instance.all_logs(run_id)
            breakdown = {"queued": record.start_time - created} if record.start_time else {}
            breakdown.update(queued_parts(events), events=len(events))
            if steps:
                breakdown["before_first_step"] = min(s.start_time for s in steps) - created
                breakdown["steps"] = max(s.end_time for s in steps) - min(s.start_time for s in steps)
            return ended - created, breakdown

        launch("ui_sync")  # the first sync: every record, untimed
        launch("ui_dlt_floor")  # its first load too
        if _rows(workdir / "data" / "support.duckdb") != records:
            raise RuntimeError("the first sync through the UI did not load every record")
        for repeat in range(1, repeats + 1):
            for scenario in targets:
                seconds, breakdown = launch(scenario)
                log.append(Run(scenario, records, 0.0, repeat, seconds=seconds, cpu_seconds=0.0,
                               peak_rss_mb=0.0, rows=0, breakdown=breakdown))
                print(f"  {scenario:28s} #{repeat}: {seconds:6.2f} s launch to success  "
                      + "  ".join(f"{k} {v:.2f}" for k, v in breakdown.items()), flush=True)
    finally:
        dev.stop()
        sandbox.close()


def queued_parts(events: list) -> dict[str, float]:
    """What `queued` holds after the daemon dequeues the run: the run worker's process starting
    (a new Python importing Dagster, before the run worker's first event) and then loading the
    code location (until RUN_START)."""
    at = {}
    for event in events:
        kind = event.dagster_event.event_type_value if event.dagster_event else None
        if kind == "ENGINE_EVENT" and (event.dagster_event.message or "").startswith("Started process for run"):
            kind = "process"
        at.setdefault(kind, event.timestamp)
    if not {"PIPELINE_STARTING", "process", "PIPELINE_START"} <= at.keys():
        return {}
    return {"worker_start": at["process"] - at["PIPELINE_STARTING"],
            "code_load": at["PIPELINE_START"] - at["process"]}


def median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def select(log: list[Run], scenario: str, records: int, latency: float = 0.0) -> list[Run]:
    return [r for r in log if r.scenario == scenario and r.records == records
            and r.latency == latency and not r.extra]


def is_user_path(run: Run) -> bool:
    """A CLI or UI run: in the headline table, not in the in-process sweep."""
    return run.scenario.startswith(("cli_", "ui_"))


def sweep(log: list[Run]) -> list[Run]:
    return [r for r in log if not r.extra and not is_user_path(r)]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        memory_gb = round(int(memory) / 1024 / 1024, 1)
    except OSError:
        memory_gb = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb,
            "python": platform.python_version(), "system": platform.platform()}


def table(log: list[Run], plan: Plan, info: dict[str, Any]) -> str:
    lines = [
        f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores, "
        f"{info['machine']['memory_gb']} GB; Python {info['machine']['python']}. "
        f"Load average {info['load_before']} before, {info['load_after']} after "
        f"({info['minutes']:.0f} min). Medians of {plan.repeats} run(s); ratio = time / hand loop.",
        "",
        *headline(log, plan),
        "",
        "In process, the sync alone (interpreter start and first imports left out):",
        "",
        "| records | latency | scenario | time (s) | ratio | CPU (s) | peak RSS (MB) |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    groups = sorted({(r.records, r.latency) for r in sweep(log)})
    for records, latency in groups:
        base = select(log, "hand", records, latency)
        base_time = median(base, "seconds") if base else None
        for scenario in dict.fromkeys(r.scenario for r in sweep(log)):
            runs = select(log, scenario, records, latency)
            if not runs:
                continue
            seconds = median(runs, "seconds")
            ratio = f"{seconds / base_time:.2f}" if base_time else "–"
            lines.append(
                f"| {records:,} | {latency * 1000:.0f} ms | {scenario} | {seconds:.2f} | {ratio} | "
                f"{median(runs, 'cpu_seconds'):.2f} | {median(runs, 'peak_rss_mb'):.0f} |"
            )
    lines += ["", "Targets of the in-process breakdown:", ""]
    lines += [f"- {line}" for line in targets(log, plan)]
    return "\n".join(lines) + "\n"


def headline(log: list[Run], plan: Plan) -> list[str]:
    """Where users run syncs, against the floors of the same run, and the targets."""
    def runs(scenario: str, records: Optional[int] = None) -> list[Run]:
        return [r for r in log if r.scenario == scenario and (records is None or r.records == records)]

    def t(scenario: str, records: Optional[int] = None, attr: str = "seconds") -> Optional[float]:
        found = runs(scenario, records)
        return median(found, attr) if found else None

    def check(ok: bool) -> str:
        return "met" if ok else "**NOT met**"

    n = plan.cli_records
    floor_a, floor_b = t("cli_floor", n), t("hand", n)
    rows_: list[tuple[str, Optional[float], str, str]] = []  # path, seconds, ratio, target
    if floor_a is not None:
        rows_.append(("floor (a): trivial asset, in-process executor, `dagster asset materialize`",
                      floor_a, "", ""))
    if floor_b is not None:
        rows_.append((f"floor (b): the hand loop, {n:,} records (in process)", floor_b, "", ""))
    floor_c = t("cli_dlt_floor", n)
    if floor_c is not None and floor_a:
        rows_.append(("floor (c): two records merged by dlt into DuckDB, `dagster asset materialize`",
                      floor_c, f"{floor_c / floor_a:.2f}× (a)", "what dlt alone costs"))
    incremental = t("cli_incremental", n)
    if incremental is not None and floor_a:
        ratio = incremental / floor_a
        rows_.append(("incremental sync with nothing new, CLI", incremental, f"{ratio:.2f}× (a)",
                      f"≤ 1.6× — {check(ratio <= 1.6)}"))
    multiprocess = t("cli_incremental_multiprocess", n)
    if multiprocess is not None and floor_a:
        rows_.append(("… the same with SUPPORT_EXECUTOR=multiprocess (Dagster's default before)",
                      multiprocess, f"{multiprocess / floor_a:.2f}× (a)", "for comparison"))
    full = t("cli_full", n)
    if full is not None and floor_a and floor_b:
        ratio = full / (floor_a + floor_b)
        rows_.append((f"full sync of {n:,} records, CLI", full, f"{ratio:.2f}× (a + b)",
                      f"≤ 1.3× — {check(ratio <= 1.3)}"))
    ui_floor, ui_dlt_floor, ui_sync = t("ui_floor"), t("ui_dlt_floor"), t("ui_sync")
    if ui_floor is not None:
        rows_.append(("trivial asset through the webserver's GraphQL + daemon, launch to success",
                      ui_floor, "", ""))
    if ui_dlt_floor is not None and ui_floor:
        rows_.append(("floor (c) through the webserver's GraphQL + daemon, launch to success", ui_dlt_floor,
                      f"{ui_dlt_floor / ui_floor:.2f}× the trivial asset", "what dlt alone costs"))
    if ui_sync is not None and ui_floor:
        ratio = ui_sync / ui_floor
        rows_.append((f"sync through the webserver's GraphQL + daemon ({plan.ui_records:,} records, "
                      "nothing new), launch to success", ui_sync, f"{ratio:.2f}× the trivial asset",
                      f"≤ 1.5× — {check(ratio <= 1.5)}"))
    lines = [
        "Where users run syncs (medians; whole `dagster` processes, launch to success in the UI):",
        "",
        "| path | time (s) | ratio | target |",
        "| --- | ---: | ---: | --- |",
        *(f"| {path} | {seconds:.2f} | {ratio} | {target} |" for path, seconds, ratio, target in rows_),
        "",
    ]
    for records in sorted({r.records for r in runs("cli_full")}):
        peak = t("cli_full", records, "peak_rss_mb")
        lines.append(f"- peak RSS of the CLI path, full sync of {records:,} records: {peak:.0f} MB "
                     f"(≤ 400 — {check(peak <= 400)})")
    breakdown = [s for s in CLI_SCENARIOS + UI_SCENARIOS if runs(s) and runs(s)[0].breakdown]
    if breakdown:
        keys = list(dict.fromkeys(k for s in breakdown for r in runs(s) for k in r.breakdown))
        lines += ["", "Where a run's time goes (medians, s, and the number of events; from the run's event log):", "",
                  "| path | " + " | ".join(k.replace("_", " ") for k in keys) + " |",
                  "| --- |" + " ---: |" * len(keys)]
        for scenario in breakdown:
            found = runs(scenario, None if scenario.startswith("ui_") else n) or runs(scenario)
            cells = [statistics.median(r.breakdown[k] for r in found) if all(k in r.breakdown for r in found)
                     else None for k in keys]
            lines.append(f"| {scenario} | " + " | ".join(
                "–" if c is None else f"{c:.0f}" if k == "events" else f"{c:.2f}" for k, c in zip(keys, cells)) + " |")
    return lines


def targets(log: list[Run], plan: Plan) -> list[str]:
    out = []
    size = 100_000 if 100_000 in plan.sizes else max(plan.sizes, default=0)

    def t(scenario: str, records: int, latency: float = 0.0, attr: str = "seconds") -> Optional[float]:
        runs = select(log, scenario, records, latency)
        return median(runs, attr) if runs else None

    def check(ok: bool) -> str:
        return "met" if ok else "NOT met"

    hand, dlt, dagster = t("hand", size), t("dlt", size), t("dagster", size)
    if hand and dlt and dagster:
        out.append(f"{size:,} records, wall time ≤ 2× the hand loop: Dagster path "
                   f"{dagster / hand:.2f}×, dlt alone {dlt / hand:.2f}× — {check(dagster / hand <= 2)}")
        out.append(f"Dagster path ≤ 1.15× the same dlt pipeline: {dagster / dlt:.2f}× — "
                   f"{check(dagster / dlt <= 1.15)}")
    records_path = t("dlt_records", size)
    if dlt and records_path:
        out.append(f"Arrow path: the dlt pipeline {records_path / dlt:.1f}× faster than with every "
                   f"record through dlt's normalizer ({records_path:.2f} s → {dlt:.2f} s)")
    for scenario in ("dlt", "dagster"):
        peak = t(scenario, size, attr="peak_rss_mb")
        if peak:
            line = f"{scenario}: peak RSS at {size:,} records {peak:.0f} MB (≤ 400) — {check(peak <= 400)}"
            if plan.growth_records and (big := t(scenario, plan.growth_records, attr="peak_rss_mb")):
                line += (f"; at {plan.growth_records:,} {big:.0f} MB, growth {big / peak:.2f}× "
                         f"(< 1.2) — {check(big / peak < 1.2)}")
            out.append(line)
    at = plan.destination_records
    per_destination = {s: t(s, at) for s in ("dlt", *plan.destinations)}
    if t("hand", at) and all(per_destination.values()):
        out.append(f"{at:,} records, full sync per destination (× the hand loop into DuckDB): " + ", ".join(
            f"{s} {v:.2f} s ({v / t('hand', at):.2f}×, peak {t(s, at, attr='peak_rss_mb'):.0f} MB)"
            for s, v in per_destination.items()))
    incremental = [r for r in log if r.scenario == "incremental"]
    if incremental:
        requests_ratio = statistics.median(
            r.extra["incremental_requests"] / r.extra["full_requests"] for r in incremental)
        time_ratio = statistics.median(r.seconds / r.extra["full_seconds"] for r in incremental)
        sample = incremental[0].extra
        out.append(
            f"incremental after {sample['changed']:,} of {incremental[0].records:,} records changed: "
            f"{sample['incremental_requests']} requests against {sample['full_requests']} "
            f"({requests_ratio:.1%}, ≤ 2% — {check(requests_ratio <= 0.02)}), time "
            f"{time_ratio:.1%} of the full sync's (≤ 10% — {check(time_ratio <= 0.10)})")
    drift = [r for r in log if r.scenario == "drift"]
    if drift:
        e = drift[0].extra
        pages = -(-drift[0].records // 100)
        out.append(
            f"drift, {drift[0].records:,} records: a full refresh without drift made {e['calm_requests']} "
            f"requests (the {pages} pages — {check(e['calm_requests'] == pages)}); with a record inserted "
            f"and one deleted mid-sync {e['drift_requests']} ({e['drift_requests'] / e['calm_requests']:.2f}×: "
            f"one more pass, ≤ 2× + 7 — {check(e['drift_requests'] <= 2 * pages + 7)}), time "
            f"{statistics.median(r.seconds / r.extra['calm_seconds'] for r in drift):.2f}× the calm one's; "
            f"incremental after {e['changed']} changes: {e['incremental_calm_requests']} requests calm, "
            f"{e['incremental_drift_requests']} with the change mid-sync")
    collections = [r for r in log if r.scenario == "collections"]
    if collections:
        e = collections[0].extra

        def per_second(key: str, name: str) -> float:
            return statistics.median(r.extra["per_endpoint"][name]["records"] / r.extra["per_endpoint"][name][key]
                                     for r in collections)

        out.append(f"every resource, {collections[0].records:,} tickets, each resource alone (records/s, "
                   f"this project against the hand loop): " + ", ".join(
                       f"{name} {e['per_endpoint'][name]['records']:,} records {per_second('seconds', name):,.0f}/s "
                       f"vs {per_second('hand_seconds', name):,.0f}/s"
                       for name in e["per_endpoint"]))
        out.append(
            f"all four in one source: full sync {median(collections, 'seconds'):.2f} s "
            f"({e['full_comment_requests']} comment requests); incremental with nothing new "
            f"{e['calm_seconds']:.2f} s ({e['calm_comment_requests']} comment requests); after "
            f"{e['changed']} tickets got a comment {e['changed_seconds']:.2f} s "
            f"({e['changed_comment_requests']} comment requests): "
            f"{statistics.median(r.extra['seconds_per_changed_parent'] for r in collections) * 1000:.1f} ms "
            f"per changed ticket")
    sequential = t("dlt_sequential", plan.latency_records, plan.latency)
    concurrent = t("dlt", plan.latency_records, plan.latency)
    defaults = t("dlt_defaults", plan.latency_records, plan.latency)
    if sequential and concurrent:
        line = (f"{plan.latency * 1000:.0f} ms per response, {plan.latency_records:,} records: "
                f"concurrent pages {sequential / concurrent:.1f}× faster than one page at a time "
                f"(≥ 3) — {check(sequential / concurrent >= 3)}")
        if defaults:
            line += f"; {defaults / concurrent:.1f}× faster than dlt's defaults"
        out.append(line)
    return out


def plot(log: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (times, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for scenario in dict.fromkeys(r.scenario for r in sweep(log) if r.latency == 0):
        sizes = sorted({r.records for r in log if r.scenario == scenario and r.latency == 0
                        and not r.extra})
        if not sizes:
            continue
        runs = [select(log, scenario, n) for n in sizes]
        times.plot(sizes, [median(r, "seconds") for r in runs], marker="o", label=scenario)
        memory.plot(sizes, [median(r, "peak_rss_mb") for r in runs], marker="o", label=scenario)
    for axes, label in ((times, "wall time (s)"), (memory, "peak RSS (MB)")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("records (full sync, 100 per page)")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
    memory.axhline(400, color="grey", linestyle="--", linewidth=1)
    times.legend()
    figure.suptitle("Full sync of the sandbox API into DuckDB (medians)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, 10k and 100k records, no 1M memory run (a few minutes)")
    parser.add_argument("--user-paths", action="store_true",
                        help="only the CLI and UI paths, with the hand loop for floor (b)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--destinations", action="store_true",
                        help="only the 100k full syncs on each tested destination, 3 repeats")
    parser.add_argument("--only", choices=["drift", "collections"],
                        help="only this section, at the full (or --quick) plan's size and repeats")
    args = parser.parse_args()
    plan = DESTINATIONS if args.destinations else QUICK if args.quick else FULL
    if args.only:
        plan = Plan(repeats=plan.repeats, sizes=(), growth_records=None, latency_scenarios=(),
                    incremental_records=0, drift_records=plan.drift_records if args.only == "drift" else 0,
                    collections_records=plan.collections_records if args.only == "collections" else 0,
                    **NO_USER_PATHS)
    if args.user_paths:
        plan = replace(plan, sizes=(plan.cli_records,), sweep=("hand",), growth_records=None,
                       latency_scenarios=(), incremental_records=0, drift_records=0, destinations=(),
                       collections_records=0)
    bench(plan, args.out)


def bench(plan: Plan, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    info: dict[str, Any] = {"machine": machine(), "plan": asdict(plan),
                            "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    log: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="support-bench-") as tmp:
        for records in plan.sizes:
            print(f"full syncs of {records:,} records", flush=True)
            scenarios = plan.sweep + (plan.destinations if records == plan.destination_records else ())
            measure(scenarios, records, 0.0, plan.repeats, Path(tmp), log)
        if plan.growth_records:
            print(f"memory growth: {plan.growth_records:,} records", flush=True)
            measure(plan.growth, plan.growth_records, 0.0, 1, Path(tmp), log)
        if plan.latency_scenarios:
            print(f"latency-bound: {plan.latency * 1000:.0f} ms per response", flush=True)
            measure(plan.latency_scenarios, plan.latency_records, plan.latency, plan.repeats,
                    Path(tmp), log)
        if plan.incremental_records:
            print("incremental sync after 1% of the records changed", flush=True)
            measure(("incremental",), plan.incremental_records, 0.0, plan.repeats, Path(tmp), log)
        if plan.drift_records:
            print("full refresh and incremental sync while the data changes (drift)", flush=True)
            measure(("drift",), plan.drift_records, 0.0, plan.repeats, Path(tmp), log)
        if plan.collections_records:
            print("every resource of the config file: per resource, all four, comments per changed ticket",
                  flush=True)
            measure(("collections",), plan.collections_records, 0.0, plan.repeats, Path(tmp), log)
        if plan.cli_records:
            print(f"`dagster asset materialize`: floor (a), {plan.cli_records:,} records", flush=True)
            measure_cli(plan.cli_records, plan.repeats, Path(tmp), log)
        if plan.cli_growth_records:
            print(f"`dagster asset materialize`: {plan.cli_growth_records:,} records", flush=True)
            measure_cli(plan.cli_growth_records, 1, Path(tmp), log, scenarios=("cli_full",))
        if plan.ui_repeats:
            print("webserver + daemon: runs launched through GraphQL", flush=True)
            measure_ui(plan.ui_records, plan.ui_repeats, Path(tmp), log)
    info["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    info["minutes"] = (time.monotonic() - started) / 60

    (out / "results.json").write_text(
        json.dumps({**info, "runs": [asdict(r) for r in log]}, indent=1))
    (out / "table.md").write_text(table(log, plan, info))
    plot(log, out / "bench.png")
    print()
    print((out / "table.md").read_text())
    print(f"written to {out}")


if __name__ == "__main__":
    main()
