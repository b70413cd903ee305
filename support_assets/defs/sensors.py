"""Sensors: a new-data sensor that starts an incremental sync when the API has changes, and a
run-failure sensor that reports a failed sync (log line, optional webhook)."""

import json
import re
from typing import Iterable, Optional

import dagster as dg
import requests

from ..sources.probe import can_probe
from ..sources.settings import SOURCE_NAME, Endpoint
from .settings import AutomationSettings
from ..sources.sync_plan import SyncType, cursor_resolution, format_time, parse_time
from .jobs import SYNC_TYPE_TAG, is_sync_run, syncs_in_flight
from ..redaction import protect_configured_key, scrub
from .resources import SupportApiResource
from .sync_config import CURSOR_KEY, sync_run_config

NEW_DATA_SENSOR = "support_api_new_data"
FAILURE_SENSOR = "support_api_sync_failure"
FIRST_SYNC = "first-sync"


def asset_key(endpoint: Endpoint) -> dg.AssetKey:
    return dg.AssetKey([SOURCE_NAME, endpoint.name])


def synced_cursor(instance: dg.DagsterInstance, endpoint: Endpoint) -> tuple[bool, Optional[str]]:
    """(whether the endpoint was ever synced, the cursor its latest materialization recorded:
    None when that sync found no records)."""
    event = instance.get_latest_materialization_event(asset_key(endpoint))
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return False, None
    value = materialization.metadata.get(CURSOR_KEY)
    cursor = value.value if value is not None else None  # a null entry holds None too
    return True, None if cursor is None else str(cursor)


def strictly_after(cursor: str, endpoint: Endpoint):
    """The first cursor value after `cursor`: the API's filter includes its bound, and the
    record at the cursor itself is already loaded."""
    fmt = endpoint.cursor_format
    return format_time(parse_time(cursor, fmt) + cursor_resolution(fmt), fmt)


def with_children(endpoints: Iterable[Endpoint], selection: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
    """`selection`, then the children (and theirs) of the resources in it: a child follows its
    parent, whose changed records are the ones its requests are made for."""
    selected = list(selection)
    for key in selected:  # grows while it is read: children of children too
        for child in endpoints:
            if child.parent == key.path[-1] and asset_key(child) not in selected:
                selected.append(asset_key(child))
    return selected


def build_new_data_sensor(
    endpoints: Iterable[Endpoint], job, settings: AutomationSettings
) -> dg.SensorDefinition:
    endpoints = tuple(endpoints)
    keys = [asset_key(e) for e in endpoints]

    @dg.sensor(
        name=NEW_DATA_SENSOR,
        job=job,
        minimum_interval_seconds=settings.new_data_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Asks each resource with a cursor, in one small request, whether records changed since"
            " the last synced cursor and, if so, requests an incremental sync of the resources that"
            " changed and of their children (run key: resource, cursor and number of changes)."
            " Requests nothing while a sync is queued or running."
        ),
    )
    def support_api_new_data(context: dg.SensorEvaluationContext, support_api: SupportApiResource):
        busy = syncs_in_flight(context.instance, keys)
        if busy:
            return dg.SkipReason(
                f"a sync is queued or running (run {busy[0].run_id}); not asking the API until it ends"
            )
        changes: list[str] = []
        selection: list[dg.AssetKey] = []
        for endpoint in endpoints:
            synced, cursor = synced_cursor(context.instance, endpoint)
            if not synced:
                # Never synced here: the first incremental sync reads everything.
                changes.append(f"{endpoint.name}:{FIRST_SYNC}")
                selection.append(asset_key(endpoint))
                continue
            if not can_probe(endpoint):
                continue  # no cursor to ask about: the schedules sync it (a child with its parent)
            # No cursor (the last sync found no records): any record is new.
            since = strictly_after(cursor, endpoint) if cursor is not None else None
            count = support_api.count_changed(endpoint, since)
            context.log.info(f"{endpoint.name}: {count} changed record(s) after {endpoint.cursor_field} {cursor}")
            if count:
                changes.append(f"{endpoint.name}:{cursor or 'no-cursor'}:{count}")
                selection.append(asset_key(endpoint))
        selection = with_children(endpoints, selection)
        if not changes:
            return dg.SkipReason("no records changed after the last synced cursor")
        run_key = ";".join(changes)
        # The sensor's cursor holds the last key it requested, so that a change is requested
        # once even where run keys are not checked (direct evaluation); the daemon also
        # refuses a second run with the same key.
        if context.cursor and json.loads(context.cursor).get("requested") == run_key:
            return dg.SkipReason(f"already requested a sync for {run_key}")
        context.update_cursor(json.dumps({"requested": run_key}))
        return dg.RunRequest(
            run_key=run_key,
            run_config=sync_run_config(SyncType.incremental),
            asset_selection=selection,
            tags={SYNC_TYPE_TAG: SyncType.incremental.value},
        )

    return support_api_new_data


MAX_CAUSE = 500


def failure_cause(context: dg.RunFailureSensorContext) -> str:
    """The root cause of the first failed step, else of the run's failure: its type and the
    first line of its message."""
    errors = [event.step_failure_data.error for event in context.get_step_failure_events()]
    errors.append(getattr(context.failure_event.event_specific_data, "error", None))
    error = next((e for e in errors if e is not None), None)
    if error is None:
        return (context.failure_event.message or "unknown cause").strip()
    while error.cause is not None:  # the wrappers say "an exception was thrown"; the root says why
        error = error.cause
    lines = [line.strip() for line in (error.message or "").splitlines() if line.strip()]
    first = lines[0] if lines else ""
    # Serialized messages may start with the (qualified) class name already.
    first = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name or '')}: ", "", first)
    return f"{error.cls_name}: {first}"


def build_failure_sensor(
    endpoints: Iterable[Endpoint], settings: AutomationSettings
) -> dg.SensorDefinition:
    keys = [asset_key(e) for e in endpoints]
    webhook_url = settings.failure_webhook_url

    @dg.run_failure_sensor(
        name=FAILURE_SENSOR,
        minimum_interval_seconds=settings.failure_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Reports a failed support_api sync: an error line with the run id and cause in this"
            " sensor's log, and a JSON POST to SUPPORT_FAILURE_WEBHOOK_URL when it is set."
        ),
    )
    def support_api_sync_failure(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if not is_sync_run(run, keys, context.instance):
            return dg.SkipReason(f"run {run.run_id} ({run.job_name}) is not a support_api sync")
        # Errors from the HTTP stack can carry the request URL; never pass the key on.
        protect_configured_key()  # SUPPORT_API_KEY or api_key in .dlt/secrets.toml
        cause = scrub(failure_cause(context))[:MAX_CAUSE]
        message = f"support_api sync failed: run {run.run_id} (job {run.job_name}): {cause}"
        context.log.error(message)
        if webhook_url:
            payload = {"text": message, "run_id": run.run_id, "job_name": run.job_name, "cause": cause}
            try:
                response = requests.post(webhook_url, json=payload, timeout=10)
                response.raise_for_status()
            except requests.RequestException as exc:
                # The URL may embed a token: name the error's type only.
                context.log.warning(f"could not post the failure to the webhook: {type(exc).__name__}")

    return support_api_sync_failure
