"""An incremental sync on dlt's duckdb factory against support_assets.warehouse.destinations.duckdb:
configuration lookups and wall time (docs/performance.md, section 9).

    python bench/destination_lookups.py [--records 100000] [--repeats 7]

Loads --records records with the bench's `dlt` pipeline (bench/scenario.py), changes 1% of
them upstream and keeps a copy of the warehouse. Each repeat then puts that copy back and
runs the same incremental sync once per factory, taking turns, counting the destination's
configuration lookups (`Destination.configuration`) and how many a capabilities call asked
for. Prints medians. The sandbox runs in its own process (bench/run.py).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support_assets  # noqa: E402,F401 - before pyarrow (support_assets/__init__.py)
from run import Sandbox  # noqa: E402
from scenario import Warehouse, warm_up  # noqa: E402

import dlt  # noqa: E402
from dlt.common.destination.reference import Destination  # noqa: E402

from support_assets.warehouse import destinations  # noqa: E402
from support_assets.sources.sync_plan import SyncPlan  # noqa: E402
from support_assets.sources import support_api_source  # noqa: E402


class Lookups:
    """Counts Destination.configuration calls, and those made inside capabilities()."""

    def __init__(self) -> None:
        self.total = self.for_capabilities = 0
        self._asking = 0
        configuration, capabilities = Destination.configuration, Destination.capabilities

        def counted_configuration(destination: Any, *args: Any, **kwargs: Any) -> Any:
            self.total += 1
            self.for_capabilities += bool(self._asking)
            return configuration(destination, *args, **kwargs)

        def counted_capabilities(destination: Any, *args: Any, **kwargs: Any) -> Any:
            self._asking += 1
            try:
                return capabilities(destination, *args, **kwargs)
            finally:
                self._asking -= 1

        Destination.configuration = counted_configuration  # type: ignore[method-assign]
        Destination.capabilities = counted_capabilities  # type: ignore[method-assign]

    def reset(self) -> None:
        self.total = self.for_capabilities = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    factories = {"dlt.destinations.duckdb": dlt.destinations.duckdb,
                 "destinations.duckdb": destinations.duckdb}
    sandbox = Sandbox(args.records)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work, copy = Path(tmp) / "work", Path(tmp) / "copy"
            warm_up("dlt", Path(tmp) / "warm_up")
            Warehouse(work).run(support_api_source(sandbox.url, sandbox.key, plan=SyncPlan()))
            with requests.Session() as control:
                for id in range(1, args.records + 1, 100):
                    control.post(
                        f"{sandbox.url}/_sandbox/records/customer_support_data",
                        json={"update": {"id": id, "fields": {"status": "changed"}}}, timeout=30,
                    ).raise_for_status()
            shutil.copytree(work, copy)

            lookups = Lookups()
            seen: dict[str, list[tuple[float, int, int]]] = {name: [] for name in factories}
            for _ in range(args.repeats):
                for name, factory in factories.items():
                    shutil.rmtree(work)
                    shutil.copytree(copy, work)
                    source = support_api_source(sandbox.url, sandbox.key, plan=SyncPlan())
                    lookups.reset()
                    started = time.perf_counter()
                    Warehouse(work, factory).run(source)
                    seen[name].append(
                        (time.perf_counter() - started, lookups.total, lookups.for_capabilities))
    finally:
        sandbox.close()

    print(f"incremental sync after {args.records // 100:,} of {args.records:,} records changed,"
          f" medians of {args.repeats}:")
    for name, runs in seen.items():
        seconds = statistics.median(r[0] for r in runs)
        total = statistics.median(r[1] for r in runs)
        asked = statistics.median(r[2] for r in runs)
        print(f"  {name:24} {seconds:.3f} s  {total:.0f} configuration lookups,"
              f" {asked:.0f} of them for capabilities")


if __name__ == "__main__":
    main()
