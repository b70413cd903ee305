"""Fixed costs of every run, each against what it replaced (docs/performance.md, sections 17, 19).

    .venv/bin/python bench/run_overheads.py [--repeats 5] [--rows 100000]

- load: seconds (wall and CPU) to import the code location in a fresh interpreter that has
  imported dagster (as the CLI and a run worker have), as shipped (the collector off during
  the load) and with gc.disable() made a no-op (the collector on, as before).
- exit: seconds from the last atexit handler to the end of a fresh interpreter that loaded
  the code location, as shipped (gc.freeze() at the end of the load) and with gc.unfreeze()
  right after it (the collector walks everything again, as before the change).
- checks' queries: the three questions of an incremental sync's checks (duplicate keys, nulls,
  the newest cursor value) on a DuckDB table of `--rows` rows, on one connection
  (Warehouse.connected, as the checks ask them) and on one connection each (as before).
- one event: seconds per event a step writes to the run's event log (a `context.log.info`, as
  each line the sync logs), on a SQLite instance as `dagster asset materialize` and the
  daemon's runs with the default DAGSTER_HOME settings use, in a fresh interpreter.
Medians over `--repeats`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXIT = """
import atexit, gc, sys, time
import support_assets.definitions
if {unfreeze}:
    gc.unfreeze()
atexit.register(lambda: sys.stdout.write(f"{{time.time()}}\\n"))
"""


LOAD = """
import gc, time
import dagster
if {collector_on}:
    gc.disable = lambda: None
wall, cpu = time.perf_counter(), time.process_time()
import support_assets.definitions
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


EVENT = """
import tempfile, time
import dagster as dg

@dg.op
def logs(context):
    started = time.perf_counter()
    for i in range({events}):
        context.log.info(f"line {{i}}")
    print("seconds", (time.perf_counter() - started) / {events})

@dg.job(executor_def=dg.in_process_executor)
def job():
    logs()

with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.local_temp(home) as instance:
    job.execute_in_process(instance=instance)
"""


def event_seconds(events: int = 100) -> float:
    proc = subprocess.run([sys.executable, "-c", EVENT.format(events=events)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return float(next(line for line in proc.stdout.splitlines() if line.startswith("seconds")).split()[1])


def load_seconds(collector_on: bool) -> tuple[float, float]:
    proc = subprocess.run([sys.executable, "-c", LOAD.format(collector_on=collector_on)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    wall, cpu = proc.stdout.split()[-2:]
    return float(wall), float(cpu)


def exit_seconds(unfreeze: bool) -> float:
    proc = subprocess.run([sys.executable, "-c", EXIT.format(unfreeze=unfreeze)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    ended = time.time()
    return ended - float(proc.stdout.split()[-1])


def checks_seconds(rows: int, repeats: int) -> tuple[float, float]:
    import dlt

    sys.path.insert(0, str(ROOT))
    from support_assets.warehouse.queries import Warehouse

    with tempfile.TemporaryDirectory() as tmp:
        pipeline = dlt.pipeline("run_overheads", destination=dlt.destinations.duckdb(f"{tmp}/w.duckdb"),
                                dataset_name="support_api", pipelines_dir=f"{tmp}/dlt")
        pipeline.run([{"id": i, "updated_at": "2026-12-01T00:00:00Z"} for i in range(rows)], table_name="t")

        def ask(db: Warehouse) -> None:
            db.duplicate_keys("t", "id")
            db.null_counts("t", ["id"])
            db.newest("t", "updated_at")

        def one_connection() -> None:
            with Warehouse(pipeline).connected() as db:
                ask(db)

        def timed(fn) -> float:
            started = time.perf_counter()
            fn()
            return time.perf_counter() - started

        timed(one_connection)  # the first connection of a process pays for imports
        shared = statistics.median(timed(one_connection) for _ in range(repeats))
        each = statistics.median(timed(lambda: ask(Warehouse(pipeline))) for _ in range(repeats))
    return shared, each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    loads: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(args.repeats):  # taking turns
        for collector_on in loads:
            loads[collector_on].append(load_seconds(collector_on))
    for collector_on, label in ((False, "collector off during the load (as shipped)"),
                                (True, "collector on during the load (before)")):
        wall = statistics.median(w for w, _ in loads[collector_on])
        cpu = statistics.median(c for _, c in loads[collector_on])
        print(f"{wall:6.3f} s  load of the code location, {label}; CPU {cpu:.3f} s")
    frozen = statistics.median(exit_seconds(False) for _ in range(args.repeats))
    unfrozen = statistics.median(exit_seconds(True) for _ in range(args.repeats))
    print(f"{frozen:6.3f} s  exit after loading the code location, frozen (as shipped)")
    print(f"{unfrozen:6.3f} s  exit after loading the code location, gc.unfreeze() (before)")
    event = statistics.median(event_seconds() for _ in range(args.repeats))
    print(f"{event:6.4f} s  one event written to the run's event log by a step (SQLite instance)")
    shared, each = checks_seconds(args.rows, args.repeats)
    print(f"{shared:6.3f} s  the checks' 3 queries on {args.rows:,} rows, one connection (as shipped)")
    print(f"{each:6.3f} s  the checks' 3 queries on {args.rows:,} rows, a connection each (before)")


if __name__ == "__main__":
    main()
