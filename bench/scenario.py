"""One benchmark scenario: a full sync of the sandbox API into a fresh DuckDB file.

    python bench/scenario.py SCENARIO --url URL --records N --workdir DIR

Run by bench/run.py, each time in a fresh process, so that the parent can read this
process's peak RSS when it exits. Prints one JSON line: the sync's wall time (imports and
interpreter start excluded), the rows it left in the table, and for `incremental` the
figures of both syncs. The API key comes from SUPPORT_API_KEY.

Scenarios:
  hand            a hand-written requests -> DuckDB loop: pages one after another,
                  10,000 records a batch through Arrow into `insert or replace`
  dlt_defaults    the reference configuration (shared/DESIGN.md) with dlt's defaults:
                  its own session and paginator, insert_values; run from a directory
                  without this project's .dlt/config.toml
  dlt             this project's dlt pipeline, source and run settings, without Dagster
  dlt_records     the same with every record through dlt's normalizer (arrow=False), as
                  before the Arrow path (support_assets/sources/arrow_pages.py)
  dlt_sequential  the same with one page request at a time (concurrency=1)
  dagster         this project through Dagster: dg.materialize of the real assets, in process
  dlt_postgres,   `dlt` into the other destinations tested here, each configured by dlt's own
  dlt_mariadb,    DESTINATION__... variables (bench/run.py makes a fresh database or folder),
  dlt_delta       with the file and table format from its capabilities (warehouse_destination.py);
                  rows are counted through queries.py, as the checks count them
  incremental     `dagster`, then 1% of the records changed, then `dagster` again: an
                  incremental sync with the asset's default config (lookback 600 s)
  drift           a full refresh and an incremental sync (1% changed, at least 200), each once without
                  and once with a record inserted and one deleted after page 2 is served
  collections     every resource of the config file (tickets, customers, agents, the tickets'
                  comments): per resource, a hand loop for its paginator and this project's
                  source with that resource alone (records/s); then all four in one source, a
                  full sync; then 1% of the tickets get a comment and an incremental sync of
                  all four: the cost of the comments per changed ticket

The `dlt*` scenarios sync the tickets alone (`resources=["customer_support_data"]`): the
other resources are the `collections` scenario's.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import duckdb
import requests

TABLE = "support_api.customer_support_data"
BATCH = 10_000
TICKETS_ONLY = ["customer_support_data"]


def hand(url: str, key: str, workdir: Path) -> int:
    import pyarrow as pa

    db = duckdb.connect(str(workdir / "hand.duckdb"))
    db.execute("create schema support_api")
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        records = pa.Table.from_pylist(batch)  # noqa: F841 - read by DuckDB by name
        if not db.execute(
            "select 1 from information_schema.tables where table_schema = 'support_api'"
        ).fetchall():
            db.execute(f"create table {TABLE} as select * from records limit 0")
            db.execute(f"alter table {TABLE} add primary key (id)")
        db.execute(f"insert or replace into {TABLE} select * from records")
        batch.clear()

    with requests.Session() as session:
        offset, total = 0, None
        while total is None or offset < total:
            response = session.get(
                f"{url}/v1/resource", params={"api_key": key, "limit": 100, "offset": offset}
            )
            response.raise_for_status()
            page = response.json()
            total = page["total"]
            batch.extend(page["data"])
            if len(batch) >= BATCH:
                flush()
            offset += 100
        if batch:
            flush()
    rows = db.execute(f"select count(*) from {TABLE}").fetchone()[0]
    db.close()
    return rows


class Warehouse:
    """WarehouseResource's DuckDB pipeline and run settings, without importing Dagster:
    the `dlt` scenarios must not pay for it (support_assets/defs/resources.py)."""

    loader_file_format = "parquet"

    def __init__(self, workdir: Path, factory: Any = None) -> None:
        self.workdir = workdir
        self.factory = factory  # the destination factory; None: support_assets.warehouse.destinations.duckdb

    def pipeline(self, connection: Any = None) -> Any:
        import dlt

        from support_assets.warehouse import destinations

        factory = self.factory or destinations.duckdb
        return dlt.pipeline(
            pipeline_name="support_api",
            destination=factory(connection or str(self.workdir / "support.duckdb")),
            dataset_name="support_api",
            pipelines_dir=str(self.workdir / "dlt"),
        )

    def run(self, source: Any) -> None:
        """One sync as the asset runs it: on one DuckDB connection (WarehouseResource.sync_pipeline)
        and with fewer garbage-collector passes (gc_pauses.py)."""
        from support_assets.warehouse.duckdb_connection import sync_connection
        from support_assets.sources.gc_pauses import fewer_gc_pauses

        with sync_connection(str(self.workdir / "support.duckdb")) as connection, fewer_gc_pauses():
            self.pipeline(connection).run(source, loader_file_format=self.loader_file_format)


def dlt_defaults(url: str, key: str, workdir: Path) -> int:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": url,
                "auth": {"type": "api_key", "name": "api_key", "api_key": key, "location": "query"},
            },
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                {
                    "name": "customer_support_data",
                    "endpoint": {
                        "path": "/v1/resource",
                        "data_selector": "data",
                        "paginator": {"type": "offset", "limit": 100},
                    },
                }
            ],
        },
        name="support_api",
    )
    pipeline = dlt.pipeline(
        pipeline_name="support_api",
        destination=dlt.destinations.duckdb(str(workdir / "support.duckdb")),
        dataset_name="support_api",
        pipelines_dir=str(workdir / "dlt"),
    )
    pipeline.run(source)
    return _rows(workdir / "support.duckdb")


def dlt_project(url: str, key: str, workdir: Path, **options: Any) -> int:
    """What the asset does (assets.py), minus Dagster; `options` for support_api_source."""
    from support_assets.sources import support_api_source

    warehouse = Warehouse(workdir)
    warehouse.run(support_api_source(url, key, resources=TICKETS_ONLY, **options))
    return _rows(workdir / "support.duckdb")


# Scenario -> SUPPORT_DESTINATION name.
DESTINATIONS = {"dlt_postgres": "postgres", "dlt_mariadb": "sqlalchemy", "dlt_delta": "filesystem"}


def dlt_destination(scenario: str, url: str, key: str, workdir: Path) -> int:
    """`dlt` into another destination; BENCH_DATASET names the dataset (on MariaDB a database)."""
    import dlt

    from support_assets.sources.gc_pauses import fewer_gc_pauses
    from support_assets.warehouse.queries import Warehouse as Tables
    from support_assets.sources import support_api_source
    from support_assets.warehouse.warehouse_destination import destination_from_name, load_settings

    name = DESTINATIONS[scenario]
    destination = destination_from_name(name)
    settings = load_settings(destination, name)
    pipeline = dlt.pipeline(
        pipeline_name="support_api",
        destination=destination,
        dataset_name=os.environ.get("BENCH_DATASET", "support_api"),
        pipelines_dir=str(workdir / "dlt"),
    )
    with fewer_gc_pauses():
        pipeline.run(
            support_api_source(url, key, resources=TICKETS_ONLY),
            loader_file_format=settings.loader_file_format,
            table_format=settings.table_format,
        )
    return Tables(pipeline).row_count("customer_support_data") or 0


def dagster(url: str, key: str, workdir: Path) -> int:
    import dagster as dg

    from support_assets.definitions import build_definitions
    from support_assets.defs.resources import WarehouseResource
    from support_assets.sources.config_file import ENDPOINTS

    os.environ["SUPPORT_API_BASE_URL"] = url
    warehouse = WarehouseResource(
        duckdb_path=str(workdir / "support.duckdb"), pipelines_dir=str(workdir / "dlt")
    )
    defs = build_definitions(ENDPOINTS[:1], warehouse=warehouse)  # the tickets, as the other paths
    result = dg.materialize(list(defs.assets), resources=defs.resources, raise_on_error=True)
    assert result.success
    return _rows(workdir / "support.duckdb")


def incremental(url: str, key: str, workdir: Path, records: int) -> dict[str, Any]:
    """Full sync, 1% of the records changed upstream, incremental sync: time and requests.
    Both through Dagster as a scheduled sync runs them: dg.materialize of the real assets
    with their default config (incremental, lookback 600 s: sync_plan.py, sync_config.py)."""
    import dagster as dg

    from support_assets.definitions import build_definitions
    from support_assets.defs.resources import WarehouseResource
    from support_assets.sources.config_file import ENDPOINTS

    os.environ["SUPPORT_API_BASE_URL"] = url
    warehouse = WarehouseResource(
        duckdb_path=str(workdir / "support.duckdb"), pipelines_dir=str(workdir / "dlt")
    )
    defs = build_definitions(ENDPOINTS[:1], warehouse=warehouse)  # the tickets

    def sync() -> tuple[float, int]:
        requests.post(f"{url}/_sandbox/reset-log", timeout=30)
        started = time.perf_counter()
        result = dg.materialize(list(defs.assets), resources=defs.resources, raise_on_error=True)
        seconds = time.perf_counter() - started
        assert result.success
        served = requests.get(f"{url}/_sandbox/requests", timeout=60).json()
        return seconds, sum(1 for r in served if r["path"] == "/v1/resource")

    full_seconds, full_requests = sync()
    changed = max(1, records // 100)
    with requests.Session() as control:
        for id in range(1, records + 1, records // changed):
            control.post(
                f"{url}/_sandbox/records/customer_support_data",
                json={"update": {"id": id, "fields": {"status": "changed"}}},
                timeout=30,
            ).raise_for_status()
    incremental_seconds, incremental_requests = sync()
    changed_rows = duckdb.connect(str(workdir / "support.duckdb"), read_only=True).execute(
        f"select count(*) from {TABLE} where status = 'changed'"
    ).fetchone()[0]
    assert changed_rows == changed, (changed_rows, changed)
    return {
        "seconds": incremental_seconds,
        "rows": _rows(workdir / "support.duckdb"),
        "full_seconds": full_seconds,
        "full_requests": full_requests,
        "incremental_requests": incremental_requests,
        "changed": changed,
    }


def drift(url: str, key: str, workdir: Path, records: int) -> dict[str, Any]:
    """Requests and time of a full refresh and an incremental sync, each without and with the
    API's data changing mid-sync (docs/consistency.md): right after page 2 (incremental: 1) is
    served, the sandbox inserts a record at offset 5 and deletes the one at offset records - 50, so the
    count stays as it was for the other scenarios."""
    from support_assets.sources.sync_plan import SyncPlan, SyncType
    from support_assets.sources.progress import SyncProgress
    from support_assets.sources import support_api_source

    warehouse = Warehouse(workdir)
    control = requests.Session()

    def sync(plan: SyncPlan, after_page: int = 0) -> tuple[float, int, int]:
        """(seconds, requests, extra passes), with the change after `after_page` (0: none)."""
        if after_page:
            change = {"after_page": after_page, "insert": [5], "delete": [records - 50]}
            control.post(f"{url}/_sandbox/drift", json=change, timeout=30).raise_for_status()
        progress = SyncProgress()
        source = support_api_source(url, key, plan=plan, progress=progress, resources=TICKETS_ONLY)
        control.post(f"{url}/_sandbox/reset-log", timeout=30)
        started = time.perf_counter()
        warehouse.run(source)
        seconds = time.perf_counter() - started
        served = control.get(f"{url}/_sandbox/requests", timeout=60).json()
        passes = progress.endpoints["customer_support_data"].drift.drift_passes
        return seconds, sum(1 for r in served if r["path"] == "/v1/resource"), passes

    def change_one_percent() -> int:
        changed = min(records, max(records // 100, 200))  # at least two pages, for a change after page 1
        for id in range(1, records + 1, max(1, records // changed))[:changed]:
            control.post(f"{url}/_sandbox/records/customer_support_data", timeout=30,
                         json={"update": {"id": id, "fields": {"status": "changed"}}})  # may be deleted: 404
        return changed

    full = SyncPlan(sync_type=SyncType.full_refresh)
    calm_seconds, calm_requests, calm_passes = sync(full)
    drift_seconds, drift_requests, drift_passes = sync(full, after_page=2)
    rows = _rows(workdir / "support.duckdb")
    change_one_percent()
    incremental_calm = sync(SyncPlan())
    changed = change_one_percent()
    incremental_drift = sync(SyncPlan(), after_page=1)
    passes = (calm_passes, drift_passes, incremental_calm[2], incremental_drift[2])
    assert passes == (0, 1, 0, 1), passes
    return {
        "seconds": drift_seconds,
        "rows": rows,
        "calm_seconds": calm_seconds,
        "calm_requests": calm_requests,
        "drift_requests": drift_requests,
        "changed": changed,
        "incremental_calm_requests": incremental_calm[1],
        "incremental_drift_requests": incremental_drift[1],
        "incremental_calm_seconds": incremental_calm[0],
        "incremental_drift_seconds": incremental_drift[0],
    }


def _hand_pages(url: str, key: str, name: str, session: requests.Session, db: Any) -> Any:
    """The pages of one resource as a hand-written loop reads them, for its paginator."""
    if name == "customer_support_data":  # offset and total
        offset, total = 0, None
        while total is None or offset < total:
            page = session.get(f"{url}/v1/resource", params={"api_key": key, "limit": 100, "offset": offset}).json()
            total = page["total"]
            yield page["data"]
            offset += 100
    elif name == "customers":  # page numbers and total_pages
        number, pages = 1, 1
        while number <= pages:
            page = session.get(f"{url}/v1/customers", params={"api_key": key, "per_page": 100, "page": number}).json()
            pages = page["total_pages"]
            yield page["data"]
            number += 1
    elif name == "agents":  # a next link in the body
        next_url: Any = f"{url}/v1/agents?limit=100"
        while next_url:
            page = session.get(next_url, params={"api_key": key}).json()
            yield page["data"]
            next_url = page["next"]
    else:  # comments: one Link-header pagination per ticket the hand loop loaded
        for (ticket,) in db.execute("select id from support_api.customer_support_data order by id").fetchall():
            link: Any = f"{url}/v1/resource/{ticket}/comments?per_page=100"
            while link:
                response = session.get(link, params={"api_key": key})
                yield response.json()["data"]
                link = response.links.get("next", {}).get("url")


def hand_collection(url: str, key: str, workdir: Path, name: str) -> int:
    """A hand-written loop for one resource into `hand.duckdb`, like `hand` for the tickets."""
    import pyarrow as pa

    db = duckdb.connect(str(workdir / "hand.duckdb"))
    db.execute("create schema if not exists support_api")
    table = f"support_api.{name}"
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        records = pa.Table.from_pylist(batch)  # noqa: F841 - read by DuckDB by name
        if not db.execute(
            f"select 1 from information_schema.tables where table_schema = 'support_api' and table_name = '{name}'"
        ).fetchall():
            db.execute(f"create table {table} as select * from records limit 0")
            db.execute(f"alter table {table} add primary key (id)")
        db.execute(f"insert or replace into {table} select * from records")
        batch.clear()

    with requests.Session() as session:
        for page in _hand_pages(url, key, name, session, db):
            batch.extend(page)
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    rows = db.execute(f"select count(*) from {table}").fetchone()[0]
    db.close()
    return rows


def collections(url: str, key: str, workdir: Path, records: int) -> dict[str, Any]:
    """Every resource of the config file: see the module's docstring."""
    from support_assets.sources import support_api_source
    from support_assets.sources.config_file import ENDPOINTS
    from support_assets.sources.sync_plan import SyncPlan

    control = requests.Session()
    per_endpoint: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        name = endpoint.name
        started = time.perf_counter()
        hand_rows = hand_collection(url, key, workdir, name)
        hand_seconds = time.perf_counter() - started
        alone = workdir / f"alone-{name}"
        alone.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        Warehouse(alone).run(support_api_source(url, key, resources=[name]))
        seconds = time.perf_counter() - started
        rows = _rows(alone / "support.duckdb", f"support_api.{name}")
        assert rows == hand_rows, (name, rows, hand_rows)
        per_endpoint[name] = {"records": rows, "seconds": seconds, "hand_seconds": hand_seconds}

    everything = workdir / "all"
    everything.mkdir(parents=True, exist_ok=True)
    warehouse = Warehouse(everything)

    def sync() -> tuple[float, int]:
        """(seconds, comment requests) of an incremental sync of all four in one source."""
        control.post(f"{url}/_sandbox/reset-log", timeout=30)
        started = time.perf_counter()
        warehouse.run(support_api_source(url, key, plan=SyncPlan()))
        seconds = time.perf_counter() - started
        served = control.get(f"{url}/_sandbox/requests", timeout=60).json()
        return seconds, sum(1 for r in served if r["path"].endswith("/comments"))

    full_seconds, full_comment_requests = sync()  # nothing stored yet: reads everything
    calm_seconds, calm_comment_requests = sync()  # nothing new
    changed = max(1, records // 100)
    for ticket in range(1, records + 1, records // changed):
        control.post(f"{url}/_sandbox/records/ticket_comments", timeout=30,
                     json={"add": {"ticket_id": ticket, "body": "bench"}}).raise_for_status()
    changed_seconds, changed_comment_requests = sync()
    return {
        "seconds": full_seconds,
        "rows": _rows(everything / "support.duckdb"),
        "per_endpoint": per_endpoint,
        "full_comment_requests": full_comment_requests,
        "changed": changed,
        "calm_seconds": calm_seconds,
        "calm_comment_requests": calm_comment_requests,
        "changed_seconds": changed_seconds,
        "changed_comment_requests": changed_comment_requests,
        # What each changed ticket's comments add to an incremental sync.
        "seconds_per_changed_parent": (changed_seconds - calm_seconds) / changed,
    }


def _rows(path: Path, table: str = TABLE) -> int:
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(f"select count(*) from {table}").fetchone()[0]


SCENARIOS: dict[str, Callable[..., int]] = {
    "hand": hand,
    "dlt_defaults": dlt_defaults,
    "dlt": dlt_project,
    "dlt_records": lambda url, key, workdir: dlt_project(url, key, workdir, arrow=False),
    "dlt_sequential": lambda url, key, workdir: dlt_project(url, key, workdir, concurrency=1),
    "dagster": dagster,
    **{name: functools.partial(dlt_destination, name) for name in DESTINATIONS},
}


# Scenarios that make several syncs and report their own figures.
SERIES: dict[str, Callable[..., dict[str, Any]]] = {
    "incremental": incremental, "drift": drift, "collections": collections,
}


def warm_up(scenario: str, workdir: Path) -> None:
    """Imports and a tiny sync, untimed: what is measured is the sync, not Python loading
    its modules on first use (a `dagster asset materialize` process pays that once more)."""
    if scenario != "hand":
        # Before pyarrow: the package picks Arrow's allocator as pyarrow loads
        # (support_assets/__init__.py); the hand loop keeps pyarrow's default.
        import support_assets  # noqa: F401
    import pyarrow  # noqa: F401

    if scenario == "hand":
        duckdb.connect(":memory:").execute("select 1")
        return
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="warm_up",
        destination=dlt.destinations.duckdb(str(workdir / "warm_up_db.duckdb")),
        dataset_name="warm_up",
        pipelines_dir=str(workdir / "warm_up"),
    )
    pipeline.run([{"id": 1, "at": "2024-01-01T00:00:00Z"}], table_name="warm_up",
                 loader_file_format=None if scenario == "dlt_defaults" else "parquet")
    import support_assets.sources  # noqa: F401
    from dlt.sources.rest_api import rest_api_source  # noqa: F401

    if scenario in DESTINATIONS:  # the destination's client and driver modules
        from support_assets.warehouse.warehouse_destination import destination_from_name

        destination_from_name(DESTINATIONS[scenario]).client_class  # noqa: B018 - imports it
        if scenario == "dlt_delta":
            import deltalake  # noqa: F401

    if scenario in ("dagster", "incremental"):
        import dagster as dg

        @dg.asset
        def warm_up_asset() -> None:
            return None

        dg.materialize([warm_up_asset])
        import support_assets.definitions  # noqa: F401


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=[*SCENARIOS, *SERIES])
    parser.add_argument("--url", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    key = os.environ["SUPPORT_API_KEY"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    warm_up(args.scenario, args.workdir)

    if args.scenario in SERIES:
        result = SERIES[args.scenario](args.url, key, args.workdir, args.records)
    else:
        started = time.perf_counter()
        rows = SCENARIOS[args.scenario](args.url, key, args.workdir)
        result = {"seconds": time.perf_counter() - started, "rows": rows}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
