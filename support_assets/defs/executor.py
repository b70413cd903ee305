"""Which executor runs a sync's steps: in the run's own process by default.

A sync is a step per resource (which also evaluates the resource's checks), all sharing one
DuckDB file, in the `support_api` pool, so they never run side by side anyway. Dagster's
default multiprocess executor starts a fresh Python process for every step, which imports
dagster and this code location again: ~3 s per step on a 2-core machine, more than an
incremental sync itself (docs/performance.md). The in-process executor runs them one after
another in the run's process, with the same retries, pool slots and events.

SUPPORT_EXECUTOR picks another one:
- `in_process` (default without a Celery broker): every step in the run's process.
- `multiprocess`: Dagster's multiprocess executor, a process per step.
- `celery` (default when SUPPORT_CELERY_BROKER_URL is set): each step a Celery task on a
  worker (celery_executor.py), which keeps its own process per step.
"""

import os
from typing import Mapping

import dagster as dg

from . import celery_executor
from .celery_executor import BROKER_ENV, CelerySettings

EXECUTOR_ENV = "SUPPORT_EXECUTOR"
IN_PROCESS, MULTIPROCESS, CELERY = "in_process", "multiprocess", "celery"
CHOICES = (IN_PROCESS, MULTIPROCESS, CELERY)


def executor_name(environ: Mapping[str, str] = os.environ) -> str:
    """SUPPORT_EXECUTOR, or its default: Celery when a broker is configured, else in-process."""
    celery = CelerySettings.from_env(environ)
    chosen = environ.get(EXECUTOR_ENV, "").strip() or (CELERY if celery else IN_PROCESS)
    if chosen not in CHOICES:
        raise ValueError(f"{EXECUTOR_ENV}={chosen!r} is not one of {', '.join(CHOICES)}")
    if chosen == CELERY and celery is None:
        raise ValueError(f"{EXECUTOR_ENV}=celery needs {BROKER_ENV} (the broker's URL)")
    return chosen


def executor_from_env(environ: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    chosen = executor_name(environ)
    if chosen == CELERY:
        return celery_executor.executor_from_env(environ)
    return dg.multiprocess_executor if chosen == MULTIPROCESS else dg.in_process_executor
