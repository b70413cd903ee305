"""What a sync did, as metadata on each materialization: rows loaded per table, pages,
retries, the incremental cursor before and after, the sync type, new columns, and
whether anything new arrived. dagster-dlt's own metadata (the column schema of the
table and its child tables, dlt's jobs) stays; these keys are added to it.

`snapshot` runs before the sync, `with_sync_metadata` wraps the materializations
that `DagsterDltResource.run` yields.
"""

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Optional

import dagster as dg
import dlt

from ..sources.drift import DriftReport, few
from ..sources.progress import SyncProgress, plural
from ..sources.settings import SOURCE_NAME
from ..warehouse.queries import Warehouse

# Read back by the next sync: above 0, it reads the endpoint's whole range (sync_config.py).
RECORDS_POSSIBLY_MISSED = "records_possibly_missed"


def incremental_cursor(state: Mapping[str, Any], resource: str) -> Optional[str]:
    """The last value of the resource's dlt incremental cursor in a pipeline state, if any."""
    resources = state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
    for cursor in resources.get(resource, {}).get("incremental", {}).values():
        if isinstance(cursor, Mapping) and cursor.get("last_value") is not None:
            return str(cursor["last_value"])
    return None


def _data_tables(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    """Column names per data table in the pipeline's schema."""
    if not pipeline.default_schema_name:
        return {}
    schema = pipeline.default_schema
    # include_incomplete: dagster-dlt's metadata pops `data_type` and `nullable` out of the
    # live schema's columns, after which dlt counts the table as incomplete.
    names = schema.data_table_names(include_incomplete=True)
    return {name: set(schema.get_table_columns(name, include_incomplete=True)) for name in names}


@dataclass(frozen=True)
class Snapshot:
    """The cursors and table columns the warehouse's dlt state held before a sync."""

    cursors: dict[str, Optional[str]] = field(default_factory=dict)
    tables: dict[str, set[str]] = field(default_factory=dict)


def snapshot(pipeline: dlt.Pipeline, resources: Iterable[str]) -> Snapshot:
    """Reads dlt's state and schema from the destination, where they live between syncs."""
    pipeline.sync_destination()
    return Snapshot(
        cursors={name: incremental_cursor(pipeline.state, name) for name in resources},
        tables=_data_tables(pipeline),
    )


def _own_tables(tables: Iterable[str], table: str) -> list[str]:
    """The table and its child tables (`<table>__<list field>`)."""
    return sorted(t for t in tables if t == table or t.startswith(f"{table}__"))


def sync_metadata(
    table: str,
    progress: SyncProgress,
    pipeline: dlt.Pipeline,
    *,
    sync_type: str,
    cursor_before: Optional[str],
    cursor_after: Optional[str],
    tables_before: Optional[Mapping[str, set[str]]] = None,
    row_count: Optional[int] = None,
) -> dict[str, Any]:
    """The metadata of one endpoint's materialization after a sync that succeeded."""
    counts = progress.endpoints.get(table)
    fetched = counts.records if counts else 0
    normalize = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    loaded = dict(normalize.row_counts) if normalize else {}
    tables_after = _data_tables(pipeline)
    rows_by_table = {t: loaded.get(t, 0) for t in _own_tables({*tables_after, *loaded}, table)}

    # The lookback of an incremental sync may re-read records it already has; if the
    # cursor did not move, nothing newer than the last sync arrived.
    nothing_new = fetched == 0 or (cursor_before is not None and cursor_before == cursor_after)
    if nothing_new:
        summary = f"nothing new: {plural(fetched, 'record')} fetched, the cursor stayed at {cursor_before}"
        if fetched == 0:
            summary = "nothing new: the API returned no records; the table is unchanged"
    else:
        summary = f"{plural(fetched, 'record')} fetched, {plural(rows_by_table.get(table, 0), 'row')} loaded into {table}"

    metadata: dict[str, Any] = {
        "sync_type": sync_type,
        "summary": summary,
        "nothing_new": nothing_new,
        "rows_loaded": dg.MetadataValue.int(rows_by_table.get(table, 0)),
        "rows_loaded_by_table": dg.MetadataValue.json(rows_by_table),
        "records_fetched": dg.MetadataValue.int(fetched),
        "pages_requested": dg.MetadataValue.int(counts.pages if counts else 0),
        "api_total": counts.total if counts else None,
        # Retries of this resource's step (a child's include its parents' requests).
        "retries": dg.MetadataValue.int(progress.retries),
        "retry_wait_seconds": dg.MetadataValue.float(float(progress.retry_wait_seconds)),
        "cursor_before": cursor_before,
        "cursor_after": cursor_after,
        # Extra passes because the data changed under the sync, and, when they ran out,
        # the records that may be missing until the next sync reads the whole range (drift.py).
        "drift_passes": dg.MetadataValue.int(counts.drift.drift_passes if counts else 0),
        RECORDS_POSSIBLY_MISSED: dg.MetadataValue.int(counts.drift.records_possibly_missed if counts else 0),
    }
    if counts and counts.parents_gone:
        # A child's parents deleted upstream before their children were read (skipped, not failed).
        metadata["parents_gone"] = dg.MetadataValue.int(counts.parents_gone)
    if tables_before is not None:
        metadata.update(_schema_changes(table, tables_before, tables_after, row_count))
    if row_count is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(row_count)
    return metadata


def _schema_changes(
    table: str, before: Mapping[str, set[str]], after: Mapping[str, set[str]], rows: Optional[int]
) -> dict[str, Any]:
    """Columns and child tables this sync added to a table that already existed."""
    if table not in before:
        return {"schema_change": "table created" if rows is not None else "no table yet"}
    new_tables = [t for t in _own_tables(after, table) if t not in before]
    new_columns = sorted(
        f"{t}.{c}"
        for t in _own_tables(after, table)
        if t in before
        for c in after[t] - before[t]
        if not c.startswith("_dlt_")
    )
    change = "none"
    if new_columns or new_tables:
        change = "added " + ", ".join([*new_columns, *(f"table {t}" for t in new_tables)])
    return {
        "schema_change": change,
        "new_columns": dg.MetadataValue.json(new_columns),
        "new_tables": dg.MetadataValue.json(new_tables),
    }


def with_sync_metadata(
    results: Iterable[Any],
    progress: SyncProgress,
    pipeline: dlt.Pipeline,
    *,
    sync_type: str,
    before: Snapshot,
    log: Any = None,
    warehouse: Optional[Warehouse] = None,
) -> Iterator[Any]:
    """Each materialization of `results`, with this sync's metadata added to dagster-dlt's;
    `warehouse` asks the pipeline's dataset (the sync's own connection, in a `connected()` block)."""
    warehouse = warehouse or Warehouse(pipeline)
    for result in results:
        table = result.asset_key.path[-1]
        counts = progress.endpoints.get(table)
        if counts is not None:
            _settle_drift(warehouse, table, counts.drift, sync_type, log)
        metadata = sync_metadata(
            table,
            progress,
            pipeline,
            sync_type=sync_type,
            cursor_before=before.cursors.get(table),
            cursor_after=incremental_cursor(pipeline.state, table),
            tables_before=before.tables,
            row_count=warehouse.row_count(table),
        )
        if log is not None:
            log.info(f"{table}: {metadata['summary']}")
            if str(metadata.get("schema_change", "")).startswith("added"):
                log.warning(f"{table}: the API sent new fields; {metadata['schema_change']}")
        yield dg.MaterializeResult(
            asset_key=result.asset_key, metadata={**(result.metadata or {}), **metadata}
        )


def _settle_drift(warehouse: Warehouse, table: str, drift: DriftReport, sync_type: str, log: Any) -> None:
    """A full refresh that re-read its range removes the records an earlier pass read and
    the final one did not (deleted upstream while it paged); a sync that ran out of passes
    says so (docs/consistency.md)."""
    if drift.final_ids is not None and sync_type == "full_refresh":
        gone = [key for key in warehouse.keys(table, drift.primary_key) if key not in drift.final_ids]
        if gone:
            warehouse.delete_keys(table, drift.primary_key, gone)
        if log is not None:
            log.info(f"{table}: removed {len(gone)} records deleted upstream while the full refresh paged")
    if drift.bounded and log is not None:
        log.warning(
            f"{table}: the API's data kept changing while the sync paged; after {drift.drift_passes}"
            f" extra passes it completed with what it read. Records may be missing (records_possibly_missed"
            f" = {drift.records_possibly_missed}, an estimate) around offsets {few(drift.drift_offsets)};"
            f" the next sync of {table} reads its whole range again."
        )
