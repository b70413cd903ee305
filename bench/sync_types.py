"""What each sync type costs: requests, records served and wall time, against the sandbox.

    python bench/sync_types.py [--records 20000] [--changed 20]

Loads --records records (the first sync), changes --changed of them upstream, then times an
incremental sync, a full refresh and one new-data probe, each through the real asset
in-process (dg.materialize: Dagster, dlt, DuckDB in a temporary folder). The sandbox runs in
this process, so absolute times include its work; compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time

import dagster as dg

from support_assets.sources.config_file import ENDPOINTS
from support_assets.definitions import build_definitions
from support_assets.sources.probe import count_changed
from support_assets.defs.resources import WarehouseResource
from support_assets.sandbox import SandboxServer
from support_assets.sandbox.data import BASE_END, format_ts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--changed", type=int, default=20)
    args = parser.parse_args()

    key = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(api_key=key, records=args.records) as sandbox:
        os.environ.update(SUPPORT_API_BASE_URL=sandbox.url, SUPPORT_API_KEY=key)
        warehouse = WarehouseResource(duckdb_path=f"{tmp}/support.duckdb", pipelines_dir=f"{tmp}/dlt")
        definitions = build_definitions(ENDPOINTS[:1], warehouse=warehouse)  # the tickets
        resources = {**definitions.resources, "warehouse": warehouse}

        def sync(label: str, **config) -> tuple[int, int, float]:
            sandbox.requests.clear()
            started = time.perf_counter()
            result = dg.materialize(
                list(definitions.assets), resources=resources,
                run_config={"resources": {"sync": {"config": config}}},
            )
            elapsed = time.perf_counter() - started
            assert result.success, label
            served = sum(r.records for r in sandbox.requests)
            print(f"{label:<24} {len(sandbox.requests):>6} requests {served:>8} records {elapsed:>7.2f} s")
            return len(sandbox.requests), served, elapsed

        sync("first sync (everything)")
        step = max(args.records // args.changed, 1)
        for id in range(1, args.records + 1, step)[: args.changed]:
            sandbox.store.update(id, subject="changed upstream")
        incremental = sync("incremental", lookback_seconds=0)
        full = sync("full refresh", sync_type="full_refresh")

        sandbox.requests.clear()
        started = time.perf_counter()
        count = count_changed(sandbox.url, key, ENDPOINTS[0], format_ts(BASE_END))
        probe = time.perf_counter() - started
        print(f"{'new-data probe':<24} {len(sandbox.requests):>6} requests {count:>8} counted {probe:>7.3f} s")
        print(
            f"full refresh / incremental: {full[2] / incremental[2]:.1f}x the time,"
            f" {full[1] / max(incremental[1], 1):.0f}x the records"
        )


if __name__ == "__main__":
    main()
