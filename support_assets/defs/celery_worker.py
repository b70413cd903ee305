"""The Celery app that runs this code location's steps for the Celery executor.

    celery -A support_assets.defs.celery_worker worker --prefetch-multiplier=1 --loglevel INFO

It is dagster-celery's own worker app (dagster_celery.app), built from the same
SUPPORT_CELERY_* variables as the executor and listening on SUPPORT_CELERY_QUEUE, so
producer and workers cannot disagree. A worker needs what a run needs: this package
installed, and the API, warehouse and Dagster storage variables (docs/deployment.md).
"""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task
from kombu import Queue

from .celery_executor import BROKER_ENV, CelerySettings

settings = CelerySettings.from_env()
if settings is None:
    raise RuntimeError(
        f"{BROKER_ENV} is not set: a worker needs the broker URL the code location uses,"
        " e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"
    )

app = make_app(
    CeleryExecutor.for_cli(
        broker=settings.broker, backend=settings.backend, config_source=settings.config_source()
    ).app_args()
)
# make_app declares only dagster-celery's default queue; consume ours instead.
app.conf.task_queues = [
    Queue(settings.queue, routing_key=f"{settings.queue}.#", queue_arguments={"x-max-priority": 10})
]
execute_plan = create_task(app)
