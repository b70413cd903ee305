"""Scheduled syncs: an incremental one (hourly by default) and a full refresh (nightly by
default) that removes records deleted upstream and anything offset pagination missed.

Both start STOPPED: turn them on in the UI (Automation) or with `dagster schedule start`.
"""

import dagster as dg

from .settings import AutomationSettings
from ..sources.sync_plan import SyncType
from .jobs import SYNC_JOB_NAME, SYNC_TYPE_TAG
from .sync_config import sync_run_config

INCREMENTAL_SCHEDULE = "support_api_incremental"
FULL_REFRESH_SCHEDULE = "support_api_full_refresh"


def build_schedules(job, settings: AutomationSettings) -> list[dg.ScheduleDefinition]:
    def schedule(name: str, cron: str, sync_type: SyncType, description: str) -> dg.ScheduleDefinition:
        return dg.ScheduleDefinition(
            name=name,
            cron_schedule=cron,
            execution_timezone=settings.timezone,
            job=job,
            run_config=sync_run_config(sync_type),
            tags={SYNC_TYPE_TAG: sync_type.value},
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description=description,
        )

    return [
        schedule(
            INCREMENTAL_SCHEDULE,
            settings.incremental_cron,
            SyncType.incremental,
            f"Incremental {SYNC_JOB_NAME}: records changed since the last sync"
            f" ({settings.incremental_cron}, {settings.timezone}; SUPPORT_INCREMENTAL_CRON).",
        ),
        schedule(
            FULL_REFRESH_SCHEDULE,
            settings.full_refresh_cron,
            SyncType.full_refresh,
            f"Full refresh {SYNC_JOB_NAME}: re-reads every record, removes those deleted upstream"
            f" ({settings.full_refresh_cron}, {settings.timezone}; SUPPORT_FULL_REFRESH_CRON).",
        ),
    ]
