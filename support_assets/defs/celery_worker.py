"""The Celery workers' config file, for dagster-celery's own worker CLI.

    python -m support_assets.defs.celery_worker celery-worker.yaml
    dagster-celery worker start -A dagster_celery.app -y celery-worker.yaml \\
        -q "${SUPPORT_CELERY_QUEUE:-dagster}" -n support_api -- --concurrency=1

The file holds the executor's own config (celery_executor.py), built from the same
SUPPORT_CELERY_* variables, so producer and workers cannot disagree. URLs that may hold a
password are written as {env: ...} references, which the CLI resolves when a worker
starts: the file holds no password.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from .celery_executor import BROKER_ENV, CelerySettings

HEADER = "# dagster-celery worker config, written from SUPPORT_CELERY_* by support_assets.defs.celery_worker\n"


def worker_yaml(settings: CelerySettings) -> str:
    """The `-y` file of `dagster-celery worker start`: an `execution: config:` block.
    JSON is YAML, so the standard library writes it."""
    return HEADER + json.dumps({"execution": {"config": settings.executor_config()}}, indent=2) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m support_assets.defs.celery_worker",
        description="Write the config file of `dagster-celery worker start -y` from SUPPORT_CELERY_*.",
    )
    parser.add_argument("path", type=Path, help="where to write the YAML file")
    args = parser.parse_args(argv)
    settings = CelerySettings.from_env()
    if settings is None:
        print(
            f"{BROKER_ENV} is not set: a worker needs the broker URL the code location uses,"
            " e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//",
            file=sys.stderr,
        )
        return 2
    args.path.write_text(worker_yaml(settings))
    print(
        f"wrote {args.path}; start a worker with: dagster-celery worker start -A dagster_celery.app"
        f" -y {args.path} -q {settings.queue}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
