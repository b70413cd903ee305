"""Run the sandbox as a process: python -m support_assets.sandbox --port 8765 --records 1000."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from .data import CUSTOMER_IDS, DEFAULT_AGENTS
from .server import SandboxServer


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM shuts down like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m support_assets.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--records", type=int, default=1000, help="tickets")
    parser.add_argument("--customers", type=int, default=CUSTOMER_IDS)
    parser.add_argument("--agents", type=int, default=DEFAULT_AGENTS)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added to every API response")
    args = parser.parse_args(argv)

    api_key = os.environ.get("SUPPORT_API_KEY")
    if not api_key:
        print("error: set SUPPORT_API_KEY to the API key the sandbox should accept",
              file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _interrupt)
    server = SandboxServer(api_key, records=args.records, customers=args.customers,
                           agents=args.agents, port=args.port)
    server.faults.latency = args.latency
    with server:
        print(f"sandbox listening on {server.url} ({args.records} records)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
