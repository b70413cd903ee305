"""What loading the code location costs, and how much of it lazy imports could save.

    .venv/bin/python bench/import_time.py [--repeats 7]

Each figure is the median over fresh interpreters of the time to import the modules named
(wall clock around the import statement, interpreter start left out), and of the
interpreter's peak RSS once they (and the case's setup) are imported. Every run of the
`dagster` CLI, every run worker the daemon starts and every step process of the
multiprocess executor pays the code location's import once. For the tree of what it
imports: `python -X importtime -c "import support_assets.definitions"`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

DBT_PYTHON = str(Path(__file__).resolve().parents[1] / ".venv-dbt" / "bin" / "python")
# What dagster_dbt.compat imports when dbt-core is importable: what every run's process paid
# while dbt-core was installed beside Dagster (now in .venv-dbt, run as a command).
DBT_CORE_AS_DAGSTER_DBT_IMPORTS = (
    "from dbt.version import __version__\n"
    "from dbt.adapters.base.impl import BaseAdapter, BaseColumn, BaseRelation\n"
    "from dbt.contracts.results import NodeStatus, TestStatus\n"
    "from dbt.node_types import NodeType"
)

# (label, statements timed, statements run first and not timed[, interpreter])
CASES = [
    ("dagster", "import dagster", ""),
    ("dagster + dagster_dlt (pulls in dlt)", "import dagster, dagster_dlt", ""),
    ("support_assets.definitions (the code location, defs built)", "import support_assets.definitions", ""),
    ("  of which the project's own modules and build_definitions()",
     "import support_assets.definitions", "import dagster, dagster_dlt, dlt, duckdb, requests"),
    ("  duckdb, after dagster and dlt", "import duckdb", "import dagster, dagster_dlt"),
    ("  dagster_celery, after dagster and dagster_dlt", "import dagster_celery", "import dagster, dagster_dlt"),
    ("  dagster_dbt, after dagster and dagster_dlt (no dbt-core beside it)", "import dagster_dbt",
     "import dagster, dagster_dlt"),
    ("dbt-core's modules that dagster_dbt would import (in .venv-dbt's Python)",
     DBT_CORE_AS_DAGSTER_DBT_IMPORTS, "", DBT_PYTHON),
]


def timed(statement: str, setup: str, python: str = sys.executable) -> tuple[float, float]:
    """(seconds of `statement`, the interpreter's peak RSS in MB after setup and statement)."""
    code = (f"{setup}\nimport resource, time\nt = time.perf_counter()\n{statement}\n"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    seconds, rss = subprocess.run([python, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.split()[-2:]
    return float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for label, statement, setup, *python in CASES:
        runs = [timed(statement, setup, *python) for _ in range(args.repeats)]
        seconds, rss = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"{seconds:6.3f} s  {rss:4.0f} MB peak  {label}")


if __name__ == "__main__":
    main()
