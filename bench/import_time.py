"""What loading the code location costs, and how much of it lazy imports could save.

    .venv/bin/python bench/import_time.py [--repeats 7]

Each figure is the median over fresh interpreters of the time to import the modules named
(wall clock around the import statement, interpreter start left out). Every run of the
`dagster` CLI, every run worker the daemon starts and every step process of the
multiprocess executor pays the code location's import once. For the tree of what it
imports: `python -X importtime -c "import support_assets.definitions"`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

# (label, statements timed, statements run first and not timed)
CASES = [
    ("dagster", "import dagster", ""),
    ("dagster + dagster_dlt (pulls in dlt)", "import dagster, dagster_dlt", ""),
    ("support_assets.definitions (the code location, defs built)", "import support_assets.definitions", ""),
    ("  of which the project's own modules and build_definitions()",
     "import support_assets.definitions", "import dagster, dagster_dlt, dlt, duckdb, requests"),
    ("  duckdb, after dagster and dlt", "import duckdb", "import dagster, dagster_dlt"),
    ("  dagster_celery, after dagster and dagster_dlt", "import dagster_celery", "import dagster, dagster_dlt"),
]


def timed(statement: str, setup: str) -> float:
    code = f"{setup}\nimport time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for label, statement, setup in CASES:
        seconds = statistics.median(timed(statement, setup) for _ in range(args.repeats))
        print(f"{seconds:6.3f} s  {label}")


if __name__ == "__main__":
    main()
