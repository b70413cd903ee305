"""What a CLI sync's resident memory is made of, at given moments of one full sync
(docs/performance.md, section 19).

    .venv/bin/python bench/rss_by_mapping.py [--records 1000000] [--at 4,15,40]

Runs `dagster asset materialize` of the tickets against the sandbox, as `make bench` does, and
at each moment (seconds after the command started) sums the process's resident memory by
mapping from /proc/PID/smaps: the Python heap and anonymous memory, and the code of each
shared library (DuckDB's, Arrow's, sqlglot's compiled modules...), which counts as resident
once touched. Prints one line per moment, then the peak sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, SYNC_SELECT, Sandbox, cli_env, dagster_home  # noqa: E402


def by_mapping(pid: int) -> collections.Counter:
    """Resident kB per mapping: a package's name for its files, [heap], [anon]..."""
    sizes: collections.Counter = collections.Counter()
    name = "[anon]"
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split()
                path = fields[5] if len(fields) > 5 else "[anon]"
                package = re.search(r"site-packages/([^/.]+)", path)
                name = package.group(1) if package else Path(path).name.split(".so")[0] or path
            elif line.startswith("Rss:"):
                sizes[name] += int(line.split()[1])
    return sizes


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        # No VmRSS line once the process is a zombie.
        return next((int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:")), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--at", default="4,15,40", help="seconds after the start, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("/tmp/rss-by-mapping"))
    args = parser.parse_args()
    moments = sorted(float(s) for s in args.at.split(","))
    shutil.rmtree(args.out, ignore_errors=True)
    dagster_home(args.out / "dagster_home")
    sandbox = Sandbox(args.records)
    try:
        env = cli_env(sandbox, args.out)
        command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize",
                   "-m", "support_assets.definitions", "--select", SYNC_SELECT]
        with open(args.out / "cli.log", "w") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            peak = (0.0, 0)
            while proc.poll() is None:
                elapsed = time.perf_counter() - started
                try:
                    peak = max(peak, (elapsed, rss_mb(proc.pid)), key=lambda p: p[1])
                    if moments and elapsed >= moments[0]:
                        moments.pop(0)
                        sizes = by_mapping(proc.pid)
                        top = ", ".join(f"{k} {v // 1024}" for k, v in sizes.most_common(8))
                        print(f"{elapsed:6.1f} s: {sum(sizes.values()) // 1024} MB resident: {top}", flush=True)
                except OSError:  # the process ended between poll() and the read
                    break
                time.sleep(0.1)
        if proc.wait() != 0:
            raise SystemExit(f"the sync failed: {args.out / 'cli.log'}")
    finally:
        sandbox.close()
    print(f"peak {peak[1]} MB at {peak[0]:.1f} s of {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
