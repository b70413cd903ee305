"""dlt's loader file formats for PostgreSQL: insert_values (dlt's default) against csv (COPY).

    python bench/postgres_loader_formats.py [--records 100000] [--runs 3]

The sandbox runs in a subprocess; each load runs in a fresh subprocess (so its peak
RSS is its own) into a fresh database on 127.0.0.1:5432, through the project's own
source and WarehouseResource pipeline, i.e. what a sync does minus Dagster. dlt's
parquet format for PostgreSQL needs an ADBC driver (adbc-driver-postgresql), which
the project does not install; it is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from sandbox_throughput import start_sandbox  # noqa: E402

FORMATS = ("insert_values", "csv")


def child(file_format: str, base_url: str, api_key: str, pipelines_dir: str) -> None:
    from support_assets.defs.resources import WarehouseResource
    from support_assets.sources import support_api_source

    pipeline = WarehouseResource(destination="postgres", pipelines_dir=pipelines_dir).pipeline()
    started = time.perf_counter()
    pipeline.run(support_api_source(base_url, api_key), loader_file_format=file_format)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb}))


def one_load(file_format: str, base_url: str, api_key: str, records: int) -> dict:
    from support_assets_tests.helpers.postgres import database

    with database("bench_formats") as db, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DESTINATION__POSTGRES__CREDENTIALS": db.url}
        out = subprocess.run(
            [sys.executable, __file__, "--child", file_format, base_url, api_key, tmp],
            env=env, capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{file_format} load failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        (count,) = db.rows("select count(distinct id) from support_api.customer_support_data")[0]
        assert count == records, (file_format, count)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("FORMAT", "URL", "KEY", "DIR"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    api_key = secrets.token_hex(16)
    proc, base_url = start_sandbox(args.records, api_key)
    results: dict[str, list[dict]] = {f: [] for f in FORMATS}
    try:
        for run in range(args.runs):
            for file_format in FORMATS if run % 2 == 0 else reversed(FORMATS):
                result = one_load(file_format, base_url, api_key, args.records)
                results[file_format].append(result)
                print(f"run {run + 1} {file_format:>13}: {result['seconds']:6.1f} s,"
                      f" peak RSS {result['rss_mb']:6.0f} MB", flush=True)
    finally:
        proc.terminate()
        proc.wait()

    median = {f: statistics.median(r["seconds"] for r in rs) for f, rs in results.items()}
    peak = {f: max(r["rss_mb"] for r in rs) for f, rs in results.items()}
    print(f"\n{args.records} records, median of {args.runs} runs:")
    for f in FORMATS:
        print(f"  {f:>13}: {median[f]:6.1f} s, peak RSS {peak[f]:6.0f} MB")
    print(f"  insert_values / csv: {median['insert_values'] / median['csv']:.2f}x the time,"
          f" {peak['insert_values'] / peak['csv']:.2f}x the memory")


if __name__ == "__main__":
    main()
