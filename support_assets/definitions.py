"""The code location: builds `defs`, the one place where everything is wired."""

import gc

# Loading creates hundreds of thousands of objects (dlt, dagster-dlt, dagster-dbt, these
# definitions) that live as long as the process. With the collector on, its passes over them
# while they load took 0.17 s of every CLI run and run worker (docs/performance.md, section 19);
# it is back on, with them frozen out of its way, at the end of this module.
gc.disable()

import datetime  # noqa: E402 (after gc.disable: the imports are most of the load)
import os
from pathlib import Path
from typing import Iterable

import dagster as dg
from dagster_dlt import DagsterDltResource

from .defs.assets import build_support_api_assets
from .defs.checks import DEFAULT_FRESHNESS_LIMIT
from .defs.executor import executor_from_env
from .defs.jobs import build_sync_job
from .defs.metrics import build_metrics_definitions
from .defs.resources import DATA_DIR, SupportApiResource, WarehouseResource
from .defs.schedules import build_schedules
from .defs.sensors import build_failure_sensor, build_new_data_sensor
from .defs.settings import AutomationSettings, automation_from_env
from .defs.sync_config import SYNC_RESOURCE, SyncConfig
from .sources.config_file import load_endpoints
from .sources.settings import RETRY, Endpoint, RetryRules


def warehouse_from_env() -> WarehouseResource:
    """SUPPORT_DESTINATION, SUPPORT_DATA_DIR and SUPPORT_DUCKDB_PATH, read once as the
    code location loads (the destination decides the assets' kinds)."""
    data_dir = Path(os.environ.get("SUPPORT_DATA_DIR") or DATA_DIR)
    return WarehouseResource(
        destination=os.environ.get("SUPPORT_DESTINATION") or "duckdb",
        duckdb_path=os.environ.get("SUPPORT_DUCKDB_PATH") or str(data_dir / "support.duckdb"),
        pipelines_dir=str(data_dir / "dlt"),
    )


def freshness_limit_from_env() -> datetime.timedelta:
    """SUPPORT_FRESHNESS_HOURS: how long after the last sync the synced assets' freshness
    policy fails, and how old the newest `updated_at` may be before the fresh check warns."""
    value = os.environ.get("SUPPORT_FRESHNESS_HOURS")
    if not value:
        return DEFAULT_FRESHNESS_LIMIT
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not hours > 0:
        raise ValueError(f"SUPPORT_FRESHNESS_HOURS={value!r} is not a positive number of hours")
    return datetime.timedelta(hours=hours)


def build_definitions(
    endpoints: Iterable[Endpoint] | None = None,
    warehouse: WarehouseResource | None = None,
    retry: RetryRules = RETRY,
    automation: AutomationSettings | None = None,
) -> dg.Definitions:
    # The config file (SUPPORT_API_CONFIG or the shipped one): a bad file fails the load here.
    endpoints = tuple(endpoints) if endpoints is not None else load_endpoints()
    warehouse = warehouse or warehouse_from_env()
    automation = automation or automation_from_env()
    freshness_limit = freshness_limit_from_env()
    # Each resource's asset holds its checks (checks.py), evaluated in its sync step.
    assets = build_support_api_assets(endpoints, warehouse.destination, retry, warehouse.pipelines_dir, freshness_limit)
    # Dagster's own freshness on the synced tables: FAIL when no sync landed within the window.
    assets = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(freshness_policy=dg.FreshnessPolicy.time_window(fail_window=freshness_limit)),
        assets,
    )
    sync_job = build_sync_job(retry)
    defs = dg.Definitions(
        assets=assets,
        jobs=[sync_job],
        schedules=build_schedules(sync_job, automation),
        sensors=[
            build_new_data_sensor(endpoints, sync_job, automation),
            build_failure_sensor(endpoints, automation),
        ],
        resources={
            "dlt": DagsterDltResource(),
            # Resolved when a run starts; the UI shows the variable's name, not its value.
            "support_api": SupportApiResource(base_url=dg.EnvVar("SUPPORT_API_BASE_URL")),
            "warehouse": warehouse,
            # The sync type and its settings, for every resource's step of a run (sync_config.py).
            SYNC_RESOURCE: SyncConfig(),
        },
        # In the run's process by default; SUPPORT_EXECUTOR=multiprocess, or Celery workers
        # when SUPPORT_CELERY_BROKER_URL is set (executor.py).
        executor=executor_from_env(),
    )
    # The dbt models downstream of the sync (defs/metrics.py, docs/metrics.md).
    return dg.Definitions.merge(defs, build_metrics_definitions(warehouse.destination, [e.name for e in endpoints]))


try:
    defs = build_definitions()
finally:
    # What the code location loaded (Dagster, dlt, these definitions) lives as long as the
    # process: frozen, the garbage collector no longer walks it, neither during a run nor at the
    # process's exit, which took 0.7 s of every CLI run and run worker (docs/performance.md).
    gc.freeze()
    gc.enable()
