"""Data-quality checks on each endpoint's table, run after every sync that includes
the asset (the sync job, a Materialize click, `dagster asset materialize`) and on
their own from the UI.

- primary_key_unique: no two rows share the primary key (the merge's promise).
- required_not_null: the primary key and the columns the config file declares
  `nullable: false` hold no null.
- complete_after_full_refresh, on resources whose API gives a count of records (an
  offset paginator reading `total`, not a child): after a full refresh the row count equals the
  API's `total` that sync saw; skipped after other sync types, whose `total` counts only
  the records they asked for.
- fresh (WARN), on resources with an incremental cursor: the newest value of the
  cursor field is no older than a configurable limit.
- column_schema_change (WARN, Dagster's own): the columns differ from the previous
  materialization's, e.g. the API sent a new field.

They query the warehouse through dlt's sql_client (queries.py), so they run the same
on every SQL destination, and through DuckDB over the Delta tables of the filesystem
destination (delta_tables.py).
"""

import datetime
import warnings
from typing import Iterable, Iterator, Optional

import dagster as dg

from ..sources.config_file import ENDPOINTS
from ..sources.paging import Paging
from ..sources.settings import SOURCE_NAME, Endpoint
from ..warehouse.queries import Warehouse
from ..sources.progress import plural
from .resources import WarehouseResource

DEFAULT_FRESHNESS_LIMIT = datetime.timedelta(hours=24)

UNIQUE, NOT_NULL, COMPLETE, FRESH = (
    "primary_key_unique",
    "required_not_null",
    "complete_after_full_refresh",
    "fresh",
)


def _hours(delta: datetime.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def build_support_api_checks(
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    freshness_limit: datetime.timedelta = DEFAULT_FRESHNESS_LIMIT,
) -> list[dg.AssetChecksDefinition]:
    """One multi-asset check per resource holding that table's checks, and Dagster's
    column schema change check per resource, which reports new fields."""
    endpoints = tuple(endpoints)
    keys = [dg.AssetKey([SOURCE_NAME, e.name]) for e in endpoints]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # printed on every code location load
        # One per asset: a step of its own, which a failed sync of another resource does not skip.
        schema_changes = [
            check
            for key in keys
            for check in dg.build_column_schema_change_checks(assets=[key], severity=dg.AssetCheckSeverity.WARN)
        ]
    return [*(_endpoint_checks(endpoint, freshness_limit) for endpoint in endpoints), *schema_changes]


def required_columns(endpoint: Endpoint) -> tuple[str, ...]:
    """The primary key and the columns the config file declares `nullable: false`."""
    declared = [name for name, hint in endpoint.columns.items() if hint.get("nullable") is False]
    return tuple(dict.fromkeys([endpoint.primary_key, *declared]))


def gives_total(endpoint: Endpoint) -> bool:
    """Whether a full refresh of the resource learns the API's count of its records: an offset
    paginator reading a `total` (paging.py). A child's requests each count one parent's
    children; a page-number paginator reads a count of pages; a next link carries no count."""
    return endpoint.parent is None and Paging.of(endpoint).total_field is not None


def _endpoint_checks(endpoint: Endpoint, freshness_limit: datetime.timedelta) -> dg.AssetChecksDefinition:
    key = dg.AssetKey([SOURCE_NAME, endpoint.name])
    table = endpoint.name
    pk = endpoint.primary_key
    required = required_columns(endpoint)
    fresh_column = endpoint.cursor_field
    specs = [
        # Blocking: a failure keeps the metrics (metrics.py) from building on the bad table.
        dg.AssetCheckSpec(
            UNIQUE, asset=key, description=f"No two rows share the primary key `{pk}`.", blocking=True
        ),
        dg.AssetCheckSpec(
            NOT_NULL, asset=key, description=f"No null in {', '.join(f'`{c}`' for c in required)}.", blocking=True
        ),
    ]
    if gives_total(endpoint):
        specs.append(
            dg.AssetCheckSpec(
                COMPLETE,
                asset=key,
                description="After a full refresh, the row count equals the `total` the API reported.",
            )
        )
    if fresh_column:
        specs.append(
            dg.AssetCheckSpec(
                FRESH,
                asset=key,
                description=f"The newest `{fresh_column}` is at most {_hours(freshness_limit)} h old"
                " (SUPPORT_FRESHNESS_HOURS).",
            )
        )

    @dg.multi_asset_check(
        specs=specs,
        name=f"{SOURCE_NAME}_{endpoint.name}_checks",
        can_subset=True,
        # Same pool as the syncs: a check never reads the warehouse while a sync writes it.
        pool=SOURCE_NAME,
    )
    def table_checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        db = Warehouse(warehouse.pipeline())
        selected = {check_key.name for check_key in context.selected_asset_check_keys}
        if UNIQUE in selected:
            yield _unique(db, key, table, pk)
        if NOT_NULL in selected:
            yield _not_null(db, key, table, required)
        if COMPLETE in selected:
            result = _complete(context, db, key, table)
            if result is None:
                context.log.info(
                    f"{COMPLETE} skipped: the last sync of {table} was not a full refresh, or the API gave no total"
                )
            else:
                yield result
        if FRESH in selected and fresh_column:
            yield _fresh(db, key, table, fresh_column, freshness_limit)

    return table_checks


def _no_table(key: dg.AssetKey, name: str, table: str, **kwargs) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=name,
        passed=False,
        description=f"The table {table} does not exist yet: no sync has loaded it.",
        **kwargs,
    )


def _unique(db: Warehouse, key: dg.AssetKey, table: str, pk: str) -> dg.AssetCheckResult:
    found = db.duplicate_keys(table, pk)
    if found is None:
        return _no_table(key, UNIQUE, table)
    duplicated, sample = found
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=UNIQUE,
        passed=duplicated == 0,
        description=f"{duplicated} values of `{pk}` appear in more than one row" if duplicated else None,
        metadata={"duplicated_keys": duplicated, "sample": dg.MetadataValue.json(sample)},
    )


def _not_null(db: Warehouse, key: dg.AssetKey, table: str, columns: tuple[str, ...]) -> dg.AssetCheckResult:
    nulls = db.null_counts(table, columns)
    if nulls is None:
        return _no_table(key, NOT_NULL, table)
    bad = {c: n for c, n in nulls.items() if n}
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=NOT_NULL,
        passed=not bad,
        description=", ".join(f"{plural(n, 'row')} with a null `{c}`" for c, n in bad.items()) or None,
        metadata={f"null_{c}": n for c, n in nulls.items()},
    )


def _last_sync(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dict:
    """The metadata of the asset's latest materialization (metadata.py wrote it)."""
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def _complete(
    context: dg.AssetCheckExecutionContext, db: Warehouse, key: dg.AssetKey, table: str
) -> Optional[dg.AssetCheckResult]:
    last = _last_sync(context, key)
    total = last.get("api_total")
    if last.get("sync_type") != "full_refresh" or total is None:
        return None  # not yielding it marks the check skipped in the UI
    rows = db.row_count(table)
    if rows is None:
        return _no_table(key, COMPLETE, table)
    passed = rows == total
    description = None
    if not passed:
        description = f"{plural(rows, 'row')} in {table}, but the API's `total` at the last full refresh was {total}"
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=COMPLETE,
        passed=passed,
        description=description,
        metadata={"row_count": rows, "api_total": total},
    )


def _fresh(
    db: Warehouse, key: dg.AssetKey, table: str, column: str, limit: datetime.timedelta
) -> dg.AssetCheckResult:
    newest = db.newest(table, column)
    common = {"severity": dg.AssetCheckSeverity.WARN}
    if newest is None:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=FRESH,
            passed=False,
            description=f"{table} holds no `{column}` yet.",
            metadata={"limit_hours": _hours(limit)},
            **common,
        )
    age = datetime.datetime.now(datetime.timezone.utc) - newest
    passed = age <= limit
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=FRESH,
        passed=passed,
        description=None
        if passed
        else f"The newest `{column}` is {_hours(age)} h old, over the limit of {_hours(limit)} h.",
        metadata={
            f"newest_{column}": newest.isoformat(),
            "age_hours": _hours(age),
            "limit_hours": _hours(limit),
        },
        **common,
    )
