"""Helpers for the schema, checks, metadata and bad-input tests: run a sync in process
the way the sync job does (each asset's step syncs it, then evaluates its checks), and read
what it left behind."""

import duckdb
import dagster as dg

from support_assets.sources.sync_plan import SyncType
from support_assets.definitions import build_definitions
from support_assets.defs.sync_config import sync_run_config
from support_assets_tests.helpers import TICKETS_ONLY

TICKETS = "support_api.customer_support_data"
KEY = dg.AssetKey(["support_api", "customer_support_data"])


def sync(warehouse, definitions=None, *, instance=None, sync_type=None, checks=True, selection=None):
    """Materializes the support_api assets (and their checks, in the same steps) in process, as an
    incremental sync unless `sync_type` says otherwise; the tickets only by default."""
    definitions = definitions or build_definitions(TICKETS_ONLY, warehouse=warehouse)
    if not checks:
        selection = (selection or dg.AssetSelection.all()).without_checks()
    return dg.materialize(
        [*definitions.assets, *definitions.asset_checks],
        resources={**definitions.resources, "warehouse": warehouse},
        instance=instance,
        run_config=sync_run_config(SyncType(sync_type)) if sync_type else None,
        raise_on_error=False,
        selection=selection,
    )


def metadata(result, key=KEY) -> dict:
    """The materialization metadata of `key` in a run, as plain values."""
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def checks(result) -> dict:
    """check name -> AssetCheckEvaluation of a run."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def warehouse_state(duckdb_path) -> dict:
    """Every row of the tickets table (tags included) and the number of loads: what a
    failed sync must leave exactly as it was."""
    with duckdb.connect(str(duckdb_path), read_only=True) as db:
        return {
            "tickets": db.sql(f"select * from {TICKETS} order by id").fetchall(),
            "loads": db.sql("select count(*) from support_api._dlt_loads").fetchall(),
        }


def every_event_text(result) -> str:
    """All that a run wrote to its event log: messages, errors with their causes, metadata."""
    return "\n".join(repr(event) for event in result.all_events)
