"""Sandbox paging throughput: one keep-alive requests.Session walking every page.

    python bench/sandbox_throughput.py [--records 100000] [--limit 100] [--runs 5]

The sandbox runs in a subprocess (python -m support_assets.sandbox) so client and
server do not share a GIL. Run 1 is cold (records generated and encoded on first
touch); the median over all runs is reported.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time

import requests


def start_sandbox(records: int, api_key: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "support_assets.sandbox", "--port", "0", "--records", str(records)],
        env={**os.environ, "SUPPORT_API_KEY": api_key},
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # "sandbox listening on http://127.0.0.1:PORT (N records)"
    if not line.startswith("sandbox listening on "):
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return proc, line.split()[3]


def fetch_all(session: requests.Session, url: str, api_key: str, records: int,
              limit: int) -> int:
    """Fetch every page; returns bytes received."""
    received = 0
    for offset in range(0, records, limit):
        response = session.get(url, params={"api_key": api_key, "limit": limit, "offset": offset})
        response.raise_for_status()
        received += len(response.content)
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    api_key = secrets.token_hex(16)
    proc, base_url = start_sandbox(args.records, api_key)
    url = f"{base_url}/v1/resource"
    pages = -(-args.records // args.limit)
    try:
        with requests.Session() as session:
            last = session.get(url, params={"api_key": api_key, "offset": args.records - 1}).json()
            assert last["total"] == args.records and len(last["data"]) == 1, last
            rates, throughputs = [], []
            for run in range(1, args.runs + 1):
                started = time.perf_counter()
                received = fetch_all(session, url, api_key, args.records, args.limit)
                elapsed = time.perf_counter() - started
                rates.append(pages / elapsed)
                throughputs.append(received / elapsed / 1e6)
                print(f"run {run}: {pages} pages in {elapsed:.2f}s = {rates[-1]:.0f} pages/s, "
                      f"{throughputs[-1]:.1f} MB/s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"median: {statistics.median(rates):.0f} pages/s, "
          f"{statistics.median(throughputs):.1f} MB/s "
          f"({args.records} records, {args.limit} per page, {args.runs} runs)")


if __name__ == "__main__":
    main()
