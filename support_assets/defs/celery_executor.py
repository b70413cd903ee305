"""Syncs on Celery workers: dagster-celery's executor, switched on by the environment.

With SUPPORT_CELERY_BROKER_URL set, every job of the code location (the sync job and
a Materialize click alike) runs its steps as Celery tasks on the queue
SUPPORT_CELERY_QUEUE, picked up by workers started with dagster-celery's own CLI on the
config file celery_worker.py writes.
The run itself stays where the run launcher put it and waits for the task's result.
Unset, executor.py runs the steps in the run's process (or SUPPORT_EXECUTOR's choice).
"""

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import dagster as dg

BROKER_ENV = "SUPPORT_CELERY_BROKER_URL"
BACKEND_ENV = "SUPPORT_CELERY_BACKEND_URL"
QUEUE_ENV = "SUPPORT_CELERY_QUEUE"
# dagster-celery's own default queue, the one `dagster-celery worker start` listens on.
DEFAULT_QUEUE = "dagster"


@dataclass(frozen=True)
class CelerySettings:
    broker: str
    backend: str
    queue: str = DEFAULT_QUEUE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Optional["CelerySettings"]:
        broker = environ.get(BROKER_ENV)
        if not broker:
            return None
        backend = environ.get(BACKEND_ENV)
        if not backend:
            # Redis keeps results itself; an AMQP broker returns them as messages
            # (rpc://, dagster-celery's default).
            backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
        return cls(broker=broker, backend=backend, queue=environ.get(QUEUE_ENV) or DEFAULT_QUEUE)

    def executor_config(self) -> dict[str, Any]:
        """dagster-celery's executor config. URLs that may hold a password go in as env
        references, read where the run executes."""
        if self.backend == self.broker:
            backend: Any = {"env": BROKER_ENV}
        elif "://" in self.backend and self.backend != "rpc://":
            backend = {"env": BACKEND_ENV}
        else:
            backend = self.backend
        return {
            "broker": {"env": BROKER_ENV},
            "backend": backend,
            "config_source": self.config_source(),
        }

    def config_source(self) -> dict[str, Any]:
        """Celery settings shared by the executor (the producer) and the workers."""
        return {
            # The executor sends steps without a dagster-celery/queue tag here.
            "task_default_queue": self.queue,
            "broker_connection_retry_on_startup": True,
        }


def executor_from_env(environ: Mapping[str, str] = os.environ) -> Optional[dg.ExecutorDefinition]:
    """dagster-celery's executor, or None without a broker (executor.py picks the executor)."""
    settings = CelerySettings.from_env(environ)
    if settings is None:
        return None
    # Imported only when configured: dagster-celery (and Celery) cost every load 0.023 s
    # (bench/import_time.py, docs/performance.md section 17).
    from dagster_celery import celery_executor

    return celery_executor.configured(settings.executor_config(), name="support_api_celery")
