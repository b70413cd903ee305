"""When syncs run by themselves: cron strings, time zone, sensor intervals and the failure
webhook, from environment variables read once as the code location loads."""

import os
from dataclasses import dataclass, fields
from typing import Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

# AutomationSettings field -> the environment variable that sets it.
ENV_VARS = {
    "incremental_cron": "SUPPORT_INCREMENTAL_CRON",
    "full_refresh_cron": "SUPPORT_FULL_REFRESH_CRON",
    "timezone": "SUPPORT_SCHEDULE_TIMEZONE",
    "new_data_interval_seconds": "SUPPORT_NEW_DATA_SENSOR_INTERVAL",
    "failure_interval_seconds": "SUPPORT_FAILURE_SENSOR_INTERVAL",
    "failure_webhook_url": "SUPPORT_FAILURE_WEBHOOK_URL",
}


@dataclass(frozen=True)
class AutomationSettings:
    incremental_cron: str = "0 * * * *"  # hourly, on the hour
    full_refresh_cron: str = "30 3 * * *"  # nightly at 03:30, clear of the hourly run
    timezone: str = "UTC"
    new_data_interval_seconds: int = 120  # at most one probe request per endpoint per interval
    failure_interval_seconds: int = 30
    failure_webhook_url: Optional[str] = None

    def __post_init__(self) -> None:
        for field in ("incremental_cron", "full_refresh_cron"):
            if not _is_valid_cron(getattr(self, field)):
                raise ValueError(f"{ENV_VARS[field]}: {getattr(self, field)!r} is not a valid cron string")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{ENV_VARS['timezone']}: unknown time zone {self.timezone!r} (use an IANA name such as Europe/Berlin)"
            ) from None
        for field in ("new_data_interval_seconds", "failure_interval_seconds"):
            if getattr(self, field) < 1:
                raise ValueError(f"{ENV_VARS[field]}: the minimum interval must be at least 1 second")


def automation_from_env(environ: Mapping[str, str] = os.environ) -> AutomationSettings:
    """Settings from the SUPPORT_* variables in ENV_VARS (unset or empty: the default); an invalid
    value fails the code location's load with a message naming the variable."""
    values: dict[str, object] = {}
    for field in fields(AutomationSettings):
        var = ENV_VARS[field.name]
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        if field.name.endswith("_seconds"):
            try:
                values[field.name] = int(raw)
            except ValueError:
                raise ValueError(f"{var}: {raw!r} is not a whole number of seconds") from None
        else:
            values[field.name] = raw
    return AutomationSettings(**values)  # type: ignore[arg-type]


def _is_valid_cron(cron: str) -> bool:
    # Dagster's own check, through its public API: a schedule refuses an invalid cron string.
    try:
        dg.ScheduleDefinition(name="cron_check", cron_schedule=cron, job_name="cron_check")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True
