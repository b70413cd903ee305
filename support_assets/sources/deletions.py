"""Deletions the API flags (a `deleted_at` timestamp, a `status` of "deleted"), in dlt's terms.

Pure dlt, no Dagster import. An endpoint that names its flag (`Endpoint.deleted_field`,
settings.py) gets one more column, `DELETED_COLUMN`, true for a flagged record and carrying dlt's
`hard_delete` hint: the merge of an incremental sync or a backfill deletes that record's row
instead of writing it. A full refresh (`replace`) simply leaves flagged records out, as it
leaves out every record the API no longer serves.
"""

from typing import Any, Callable

from .settings import Endpoint
from .schema import TableSchema, column

DELETED_COLUMN = "_deleted_upstream"


def is_flagged(endpoint: Endpoint) -> Callable[[dict], bool]:
    """Whether a record of `endpoint` is flagged as deleted."""
    field = endpoint.deleted_field

    def flagged(record: dict) -> bool:
        found = record.get(field) if field else None
        return found is not None and found is not False

    return flagged


def with_deleted_column(schema: TableSchema, endpoint: Endpoint) -> TableSchema:
    """`schema` plus the hard-delete column, for an endpoint that flags deletions."""
    if not endpoint.deleted_field:
        return schema
    hint = column("bool", hard_delete=True, description=f"Flagged as deleted by the API ({endpoint.deleted_field})")
    return TableSchema(
        columns={**schema.columns, DELETED_COLUMN: hint},
        objects=schema.objects,
        lists=schema.lists,
        freshness_column=schema.freshness_column,
    )


def deletion_steps(endpoint: Endpoint, replace: bool) -> list[dict[str, Any]]:
    """rest_api processing steps: drop flagged records (`replace`), or mark them for the merge."""
    if not endpoint.deleted_field:
        return []
    flagged = is_flagged(endpoint)
    if replace:
        return [{"filter": lambda record: not flagged(record)}]

    def mark(record: dict) -> dict:
        record[DELETED_COLUMN] = flagged(record)
        return record

    return [{"map": mark}]
