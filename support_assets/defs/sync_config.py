"""The sync type of a run, chosen in its run config (the Launchpad, `--config-json`), and the
cursor each materialization records for the new-data sensor.

    {"resources": {"sync": {"config": {"sync_type": "full_refresh"}}}}

A run syncs each resource in a step of its own (assets.py); the sync type is the config of the
Dagster resource `sync`, which every step of the run reads, so one setting reaches them all.
"""

from typing import Any, Iterable, Iterator, Mapping, Optional

import dagster as dg
import dlt
from pydantic import Field

from ..sources.drift import DEFAULT_MAX_DRIFT_PASSES
from ..sources.settings import Endpoint
from ..sources.sync_plan import SyncPlan, SyncType, parse_time
from .metadata import RECORDS_POSSIBLY_MISSED, incremental_cursor

DEFAULT_LOOKBACK_SECONDS = 600
# Materialization metadata read by the new-data sensor (sensors.py).
CURSOR_KEY = "cursor_after"  # written by metadata.py
CURSOR_FIELD_KEY = "cursor_field"
PARENT_CURSOR_KEY = "parent_cursor_after"
# The Dagster resource key of SyncConfig: `{"resources": {"sync": {"config": {...}}}}`.
SYNC_RESOURCE = "sync"


class SyncConfig(dg.ConfigurableResource):
    """How a run syncs: one setting for every resource's step (a Dagster resource, not op config,
    which would have to be repeated per step)."""

    sync_type: SyncType = Field(
        default=SyncType.incremental,
        description=(
            "incremental: records changed since the last sync (the default). full_refresh:"
            " re-read every record; records deleted upstream are removed. backfill: re-sync"
            " the records changed in [backfill_start, backfill_end), the cursor stays put."
        ),
    )
    lookback_seconds: int = Field(
        default=DEFAULT_LOOKBACK_SECONDS,
        description=(
            "incremental: also re-read records changed up to this many seconds before the"
            " stored cursor, so changes made while the previous sync paged are not missed."
        ),
    )
    max_drift_passes: int = Field(
        default=DEFAULT_MAX_DRIFT_PASSES,
        description=(
            "Extra passes over an endpoint's range while its data changes under the sync"
            " (docs/consistency.md). When they run out the sync completes, warns, records"
            " records_possibly_missed, and the next sync reads the whole range again."
        ),
    )
    backfill_start: Optional[str] = Field(
        default=None, description="backfill: first change time included, ISO 8601 (UTC if no offset)."
    )
    backfill_end: Optional[str] = Field(
        default=None, description="backfill: change time where the window ends (excluded), ISO 8601."
    )

    def plan(self, rescan: Iterable[str] = ()) -> SyncPlan:
        """The sync this config asks for, reading the whole range of the endpoints in `rescan`
        (`endpoints_to_rescan`); a config error fails the run before any request, with no
        retry, and leaves the warehouse as it was."""
        try:
            return SyncPlan(
                sync_type=self.sync_type,
                lookback_seconds=self.lookback_seconds,
                start=_bound("backfill_start", self.backfill_start),
                end=_bound("backfill_end", self.backfill_end),
                max_drift_passes=self.max_drift_passes,
                rescan=frozenset(rescan),
            )
        except ValueError as exc:
            raise dg.Failure(f"invalid sync config: {exc}", allow_retries=False) from None


def _bound(name: str, value: Optional[str]):
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an ISO 8601 date or time") from None


def endpoints_to_rescan(
    instance: dg.DagsterInstance, endpoints: Mapping[dg.AssetKey, Endpoint], keys: Iterable[dg.AssetKey]
) -> list[str]:
    """The endpoints whose last materialization ran out of drift passes (records_possibly_missed
    above 0): this sync reads their whole range, so the records that sync missed arrive now."""
    names = []
    for key in keys:
        event = instance.get_latest_materialization_event(key) if key in endpoints else None
        materialization = event.asset_materialization if event else None
        missed = materialization.metadata.get(RECORDS_POSSIBLY_MISSED) if materialization else None
        if missed is not None and (getattr(missed, "value", missed) or 0) > 0:
            names.append(endpoints[key].name)
    return names


def sync_run_config(sync_type: SyncType = SyncType.incremental, **fields: Any) -> dict[str, Any]:
    """Run config that selects a sync type, for schedules, sensors and `--config-json`."""
    return {"resources": {SYNC_RESOURCE: {"config": {"sync_type": sync_type.value, **fields}}}}


def with_cursor_metadata(
    results: Iterable[dg.MaterializeResult],
    pipeline: dlt.Pipeline,
    endpoints: Mapping[dg.AssetKey, Endpoint],
    plan: SyncPlan,
    log: Any = None,
) -> Iterator[dg.MaterializeResult]:
    """Adds the sync type and the endpoint's cursor after the run to each materialization."""
    for result in results:  # the pipeline has run by the time the first result arrives
        endpoint = endpoints.get(result.asset_key) if result.asset_key else None
        if endpoint is None:
            yield result
            continue
        cursor = incremental_cursor(pipeline.state, endpoint.name)
        # The sync type and the cursor itself are in metadata.py's keys already.
        extra: dict[str, Any] = {CURSOR_FIELD_KEY: endpoint.cursor_field}
        if endpoint.parent:
            # The child's own copy of its parent's cursor: its next incremental sync asks for
            # the children of the parents changed after it.
            extra[PARENT_CURSOR_KEY] = incremental_cursor(pipeline.state, endpoint.parent)
        if log:
            log(f"{endpoint.name}: {plan.sync_type.value} sync done, cursor {endpoint.cursor_field} = {cursor}")
        yield dg.MaterializeResult(
            asset_key=result.asset_key,
            metadata={**(result.metadata or {}), **extra},
            check_results=result.check_results,
            data_version=result.data_version,
            tags=result.tags,
        )
