"""Deletions the API flags (e.g. a `deleted_at` timestamp), in dlt's terms.

Pure dlt, no Dagster import. The config file gives the flag column dlt's own `hard_delete`
hint (`deleted_at: {data_type: timestamp, hard_delete: true}`; `Endpoint.deleted_field`): the
merge of an incremental sync or a backfill deletes the row of a record whose flag is set (any
value but null, or true for a bool) instead of writing it. A full refresh (`replace`) does not
merge, so it leaves flagged records out, as it leaves out every record the API no longer serves.
"""

from typing import Any, Callable

from .settings import Endpoint


def is_flagged(endpoint: Endpoint) -> Callable[[dict], bool]:
    """Whether a record of `endpoint` is flagged as deleted, as dlt's `hard_delete` reads it."""
    field = endpoint.deleted_field

    def flagged(record: dict) -> bool:
        found = record.get(field) if field else None
        return found is not None and found is not False

    return flagged


def deletion_steps(endpoint: Endpoint, replace: bool) -> list[dict[str, Any]]:
    """rest_api processing steps: a full refresh (`replace`) drops flagged records; a merge
    needs none, the `hard_delete` hint does it."""
    if not endpoint.deleted_field or not replace:
        return []
    flagged = is_flagged(endpoint)
    return [{"filter": lambda record: not flagged(record)}]
