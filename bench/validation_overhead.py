"""What checking every page and record (validation.py) costs a sync, as a ratio.

    python bench/validation_overhead.py [--records 20000] [--runs 3]

Loads the sandbox's records into a fresh DuckDB file with dlt, once with the response
validator and once with it switched off, alternating; reports the median of each and
their ratio. A second figure isolates the validator: its time per page of 100
records against parsing that page's JSON once. The sandbox runs in a subprocess so
client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dlt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sandbox_throughput import start_sandbox  # noqa: E402
from support_assets.sandbox.data import make_record  # noqa: E402
from support_assets.sources.config_file import ENDPOINTS  # noqa: E402
from support_assets.sources.schema import table_schema  # noqa: E402
from support_assets.sources import support_api_source  # noqa: E402
from support_assets.sources.validation import ResponseValidator  # noqa: E402


def sync_seconds(url: str, api_key: str, validate: bool) -> float:
    original = ResponseValidator.__call__
    if not validate:
        ResponseValidator.__call__ = lambda self, response, *a, **kw: None  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pipeline = dlt.pipeline(
                "bench_validation",
                destination=dlt.destinations.duckdb(f"{tmp}/bench.duckdb"),
                dataset_name="support_api",
                pipelines_dir=f"{tmp}/dlt",
            )
            start = time.perf_counter()
            pipeline.run(support_api_source(url, api_key), loader_file_format="parquet")
            return time.perf_counter() - start
    finally:
        ResponseValidator.__call__ = original  # type: ignore[method-assign]


def per_page_ms() -> tuple[float, float]:
    """(validator, one JSON parse) in ms for a page of 100 sandbox records."""
    pages = []
    for p in range(50):
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        records = [make_record(p * 100 + i + 1) for i in range(100)]
        response._content = json.dumps({"data": records, "total": 5000}).encode()
        response.request = requests.Request("GET", f"http://x/v1/resource?limit=100&offset={p * 100}").prepare()
        pages.append(response)
    validator = ResponseValidator("customer_support_data", table_schema(ENDPOINTS[0]))

    def median_ms(fn) -> float:
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for page in pages:
                fn(page)
            runs.append((time.perf_counter() - start) * 1000 / len(pages))
        return statistics.median(runs)

    return median_ms(validator), median_ms(lambda page: page.json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    validator_ms, parse_ms = per_page_ms()
    print(f"per page of 100: validator {validator_ms:.2f} ms, one JSON parse {parse_ms:.2f} ms")

    api_key = secrets.token_hex(8)
    proc, url = start_sandbox(args.records, api_key)
    try:
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.runs):
            for validate in (False, True):
                times[validate].append(sync_seconds(url, api_key, validate))
    finally:
        proc.terminate()
        proc.wait()
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(
        f"{args.records} records, median of {args.runs}: {off:.2f} s without validation,"
        f" {on:.2f} s with it; ratio {on / off:.3f}"
    )


if __name__ == "__main__":
    main()
