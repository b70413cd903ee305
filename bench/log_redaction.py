"""Cost of masking the key in every log record, as a ratio to plain logging.

    python bench/log_redaction.py [--records 200000] [--runs 5]

Formats urllib3-style DEBUG records (a URL with api_key) through a StreamHandler into
memory, without and with support_assets.redaction's record factory, runs interleaved;
reports the median seconds per run and the ratio.
"""

import argparse
import io
import logging
import statistics
import time

from support_assets import redaction


def run(records: int) -> float:
    stream = io.StringIO()
    logger = logging.getLogger("bench.urllib3.connectionpool")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    url = "/v1/resource?offset=%d&limit=100&api_key=bench-key-0123456789abcdef"
    started = time.perf_counter()
    for i in range(records):
        logger.debug('%s://%s:%s "%s %s %s" %s %s', "http", "127.0.0.1", 8765, "GET", url % i, "HTTP/1.1", 200, 29454)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    redaction.protect("bench-key-0123456789abcdef")
    masking = logging.getLogRecordFactory()
    plain_runs, masked_runs = [], []
    for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits both
        logging.setLogRecordFactory(logging.LogRecord)
        plain_runs.append(run(args.records))
        logging.setLogRecordFactory(masking)
        masked_runs.append(run(args.records))
    plain, masked = statistics.median(plain_runs), statistics.median(masked_runs)
    print(f"{args.records} records: plain {plain:.2f} s, masked {masked:.2f} s, ratio {masked / plain:.2f}"
          f" ({(masked - plain) / args.records * 1e6:.1f} µs a record)")


if __name__ == "__main__":
    main()
