"""The sync job, and which runs count as a sync that is queued or running."""

from typing import Iterable

import dagster as dg

from ..sources.settings import RETRY, SOURCE_NAME, RetryRules
from .assets import retry_policy, sync_step
from .sync_config import SYNC_RESOURCE

SYNC_JOB_NAME = f"{SOURCE_NAME}_sync"
# Tag on runs started by a schedule or sensor, so the Runs page can filter by sync type.
SYNC_TYPE_TAG = f"{SOURCE_NAME}/sync_type"

# Created-but-never-submitted runs (NOT_STARTED) are left out: one that was abandoned would
# otherwise hold the new-data sensor back for ever.
IN_FLIGHT_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def build_sync_job(retry: RetryRules = RETRY):
    return dg.define_asset_job(
        SYNC_JOB_NAME,
        selection=dg.AssetSelection.groups(SOURCE_NAME),
        # The assets set no retry_policy: the job carries it (assets.py says why).
        op_retry_policy=retry_policy(retry),
        description=(
            "Merge-sync every support API resource into the warehouse, each in a step of its own:"
            " one that fails does not stop the others. Run config picks the sync type for every"
            f' step: {{"resources": {{"{SYNC_RESOURCE}": {{"config": {{"sync_type": "incremental"'
            ' | "full_refresh" | "backfill"}}}}; incremental is the default.'
        ),
    )


def is_sync_run(
    run: dg.DagsterRun, asset_keys: Iterable[dg.AssetKey], instance: dg.DagsterInstance
) -> bool:
    """A run of the sync job, or any run that materializes a support API asset: a Materialize
    click (the implicit asset job), `dagster asset materialize`, `dg.materialize`."""
    asset_keys = set(asset_keys)
    if run.job_name == SYNC_JOB_NAME:
        return True
    if run.asset_selection:
        return bool(run.asset_selection & asset_keys)
    # Checks alone ("Execute checks": an empty asset selection, or none beside the checks'):
    # the resource's step evaluates them without syncing (assets.py).
    if run.asset_selection is not None or run.asset_check_selection:
        return False
    # No selection recorded: the run executes a sync if its plan holds a resource's step.
    steps = {sync_step(key) for key in asset_keys}
    if run.step_keys_to_execute is not None:
        return bool(steps & set(run.step_keys_to_execute))
    if run.execution_plan_snapshot_id:
        snapshot = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        return any(step.key in steps for step in snapshot.steps)
    return False


def syncs_in_flight(instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey]) -> list[dg.DagsterRun]:
    asset_keys = set(asset_keys)
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT_STATUSES))
    return [run for run in runs if is_sync_run(run, asset_keys, instance)]
