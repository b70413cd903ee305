"""Data-quality checks on each endpoint's table. They are the check specs of the resource's own
asset (assets.py: `check_specs`), so they run in the resource's sync step, right after its load,
in every run that includes the asset (the sync job, a Materialize click, `dagster asset
materialize`); on their own ("Execute checks" in the UI) the same step
evaluates them without syncing.

- primary_key_unique: no two rows share the primary key (the merge's promise).
- required_not_null: the primary key and the columns the config file declares
  `nullable: false` hold no null.
- complete_after_full_refresh, on resources whose API gives a count of records (an
  offset paginator reading `total`, not a child): after a full refresh the row count equals the
  API's `total` that sync saw; skipped after other sync types, whose `total` counts only
  the records they asked for.
- fresh (WARN), on resources with an incremental cursor: the newest value of the
  cursor field is no older than a configurable limit.
- column_schema_change (WARN): the columns differ from the previous materialization's, e.g.
  the API sent a new field; the comparison of Dagster's build_column_schema_change_checks, on
  the `dagster/column_schema` metadata that dagster-dlt writes.

They query the warehouse through dlt's sql_client (queries.py), so they run the same
on every SQL destination, and through DuckDB over the Delta tables of the filesystem
destination (delta_tables.py).
"""

import datetime
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

import dagster as dg

from ..sources.paging import Paging
from ..sources.settings import SOURCE_NAME, Endpoint
from ..warehouse.queries import Warehouse
from ..sources.progress import plural
from ..redaction import scrub
from .resources import WarehouseResource

DEFAULT_FRESHNESS_LIMIT = datetime.timedelta(hours=24)

UNIQUE, NOT_NULL, COMPLETE, FRESH, SCHEMA = (
    "primary_key_unique",
    "required_not_null",
    "complete_after_full_refresh",
    "fresh",
    "column_schema_change",
)
COLUMN_SCHEMA = "dagster/column_schema"


def _hours(delta: datetime.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def required_columns(endpoint: Endpoint) -> tuple[str, ...]:
    """The primary key and the columns the config file declares `nullable: false`."""
    declared = [name for name, hint in endpoint.columns.items() if hint.get("nullable") is False]
    return tuple(dict.fromkeys([endpoint.primary_key, *declared]))


def gives_total(endpoint: Endpoint) -> bool:
    """Whether a full refresh of the resource learns the API's count of its records: an offset
    paginator reading a `total` (paging.py). A child's requests each count one parent's
    children; a page-number paginator reads a count of pages; a next link carries no count."""
    return endpoint.parent is None and Paging.of(endpoint).total_field is not None


def check_specs(
    endpoint: Endpoint, freshness_limit: datetime.timedelta = DEFAULT_FRESHNESS_LIMIT
) -> list[dg.AssetCheckSpec]:
    """The checks of the resource's asset, as its multi_asset's `check_specs`."""
    key = dg.AssetKey([SOURCE_NAME, endpoint.name])
    required = required_columns(endpoint)
    specs = [
        # Blocking: a failure keeps the metrics (metrics.py) from building on the bad table.
        dg.AssetCheckSpec(
            UNIQUE, asset=key, description=f"No two rows share the primary key `{endpoint.primary_key}`.",
            blocking=True,
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
    if endpoint.cursor_field:
        specs.append(
            dg.AssetCheckSpec(
                FRESH,
                asset=key,
                description=f"The newest `{endpoint.cursor_field}` is at most {_hours(freshness_limit)} h old"
                " (SUPPORT_FRESHNESS_HOURS).",
            )
        )
    specs.append(
        dg.AssetCheckSpec(
            SCHEMA,
            asset=key,
            description="The columns are those of the previous materialization (`dagster/column_schema`).",
        )
    )
    return specs


@dataclass(frozen=True)
class Materializations:
    """The metadata (plain values) of the asset's latest materialization and of the one before."""

    latest: Optional[Mapping[str, Any]] = None
    previous: Optional[Mapping[str, Any]] = None

    @classmethod
    def stored(cls, instance: dg.DagsterInstance, key: dg.AssetKey) -> "Materializations":
        records = instance.fetch_materializations(key, limit=2).records
        found = [_plain(r.asset_materialization.metadata) for r in records if r.asset_materialization]
        return cls(*found[:2])

    def after(self, metadata: Mapping[str, Any]) -> "Materializations":
        """As they are once the step's own materialization of `metadata` is stored."""
        return Materializations(_plain(metadata), self.latest)


def _plain(metadata: Mapping[str, Any]) -> dict:
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


def selected_results(
    context: dg.AssetExecutionContext,
    endpoint: Endpoint,
    warehouse: WarehouseResource,
    materializations: Materializations,
    freshness_limit: datetime.timedelta = DEFAULT_FRESHNESS_LIMIT,
    synced: Optional[Warehouse] = None,
) -> Iterator[dg.AssetCheckResult]:
    """The results of the resource's checks that the run selected, read from the warehouse:
    through `synced`, the dataset of the sync this step just ran, on its connection; else
    through a pipeline and connection of their own ("Execute checks" alone).

    A check that cannot run (the warehouse unreachable, a query error) fails the step without a
    retry: the job's retry policy would re-run the sync with it."""
    key = dg.AssetKey([SOURCE_NAME, endpoint.name])
    selected = {k.name for k in context.selected_asset_check_keys if k.asset_key == key}
    if not selected:
        return
    table = endpoint.name
    results: list[dg.AssetCheckResult] = []
    try:
        # One connection for the queries, closed before the results go to Dagster.
        with (synced or Warehouse(warehouse.pipeline())).connected() as db:
            if UNIQUE in selected:
                results.append(_unique(db, key, table, endpoint.primary_key))
            if NOT_NULL in selected:
                results.append(_not_null(db, key, table, required_columns(endpoint)))
            if COMPLETE in selected:
                result = _complete(materializations.latest or {}, db, key, table)
                if result is None:
                    context.log.info(
                        f"{COMPLETE} skipped: the last sync of {table} was not a full refresh, or the API gave no total"
                    )
                else:
                    results.append(result)
            if FRESH in selected and endpoint.cursor_field:
                results.append(_fresh(db, key, table, endpoint.cursor_field, freshness_limit))
    except (dg.Failure, dg.DagsterError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported as the step's failure, without retry
        raise dg.Failure(
            f"{table}: the checks could not run: {type(exc).__name__}: {scrub(str(exc))}", allow_retries=False
        ) from None
    yield from results
    if SCHEMA in selected:
        yield _schema_change(key, materializations)


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


def _complete(
    last_sync: Mapping[str, Any], db: Warehouse, key: dg.AssetKey, table: str
) -> Optional[dg.AssetCheckResult]:
    """`last_sync`: the metadata of the asset's latest materialization (metadata.py wrote it)."""
    total = last_sync.get("api_total")
    if last_sync.get("sync_type") != "full_refresh" or total is None:
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


def _schema_change(key: dg.AssetKey, materializations: Materializations) -> dg.AssetCheckResult:
    """Dagster's build_column_schema_change_checks' comparison, with the same messages."""

    def result(passed: bool, description: str) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=key, check_name=SCHEMA, passed=passed, description=description,
            severity=dg.AssetCheckSeverity.WARN,
        )

    latest, previous = materializations.latest, materializations.previous
    if latest is None or previous is None:
        return result(True, "The asset has been materialized fewer than 2 times")
    new, old = latest.get(COLUMN_SCHEMA), previous.get(COLUMN_SCHEMA)
    if new is None:
        return result(False, "Latest materialization has no column schema metadata")
    if old is None:
        return result(False, "Previous materialization has no column schema metadata")
    old_types = {c.name: c.type for c in old.columns}
    new_types = {c.name: c.type for c in new.columns}
    added = [name for name in new_types if name not in old_types]
    removed = [name for name in old_types if name not in new_types]
    changed = [f"- {n}: {old_types[n]} -> {t}" for n, t in new_types.items() if n in old_types and old_types[n] != t]
    if not (added or removed or changed):
        return result(True, "No changes to column schema between previous and latest materialization")
    description = "Column schema changed between previous and latest materialization."
    if added:
        description += f"\n\nAdded columns: {', '.join(added)}"
    if removed:
        description += f"\n\nRemoved columns: {', '.join(removed)}"
    if changed:
        description += "\n\nColumn type changes:\n" + "\n".join(changed)
    return result(False, description)
