"""The same syncs and checks on the four destinations tested here, each configured the way a
user does it: SUPPORT_DESTINATION and dlt's own DESTINATION__<NAME>__... variables.

- duckdb: a DuckDB file (the default);
- postgres: the machine's trust-auth server with a passwordless connection string, and
  again with the password in PGPASSWORD;
- sqlalchemy: MariaDB through dlt's sqlalchemy destination and PyMySQL;
- filesystem: a Delta Lake table in a local folder.

What the warehouse holds is read with each store's own driver (duckdb, psycopg2, pymysql,
deltalake), not through the code under test.
"""

import datetime
import json
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable

import dagster as dg
import deltalake
import duckdb
import pyarrow
import pytest

from support_assets.definitions import build_definitions, warehouse_from_env
from support_assets.defs.resources import WarehouseResource

from support_assets_tests.helpers import mariadb, postgres
from support_assets_tests.helpers import failure_text
from support_assets_tests.helpers.sync import KEY, checks, every_event_text, sync

TABLE = "customer_support_data"
OWN_CHECKS = {"primary_key_unique", "required_not_null", "complete_after_full_refresh", "fresh"}
COLUMNS = ("id", "subject", "priority", "requester__email", "tags", "updated_at")
PG_PASSWORD = "pgpassword-sentinel-7d1e"


@dataclass
class Target:
    """A destination as a user configures it, and how the test reads it back."""

    name: str
    warehouse: WarehouseResource
    select: Callable[[str], list[tuple]]  # SQL over the table `t`, or all rows for Delta
    column_types: Callable[[], dict[str, str]]
    delete_row: Callable[[int], None]  # removes a row behind the sync's back

    def records(self) -> dict[int, tuple]:
        """id -> (subject, priority, requester email, tags, updated_at) of every row."""
        rows = self.select(f"select {', '.join(COLUMNS)} from t")
        return {row[0]: (row[1], row[2], row[3], _list(row[4]), _utc(row[5])) for row in rows}

    def count(self) -> tuple[int, int]:
        return self.select("select count(*), count(distinct id) from t")[0]


def _list(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _utc(value: datetime.datetime) -> str:
    """As the API writes it; a value without time zone holds UTC (dlt's convention)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected(sandbox) -> dict[int, tuple]:
    return {
        r["id"]: (r["subject"], r["priority"], r["requester"]["email"], r["tags"], r["updated_at"])
        for r in sandbox.store.all_records()
    }


def _duckdb(monkeypatch, tmp_path, stack) -> Target:
    monkeypatch.setenv("SUPPORT_DESTINATION", "duckdb")
    path = tmp_path / "support.duckdb"
    monkeypatch.setenv("SUPPORT_DUCKDB_PATH", str(path))

    def select(sql: str) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as db:
            db.execute(f"create temp view t as select * from support_api.{TABLE}")
            return db.execute(sql).fetchall()

    def types() -> dict[str, str]:
        with duckdb.connect(str(path), read_only=True) as db:
            return dict(db.execute(
                "select column_name, data_type || case when is_nullable = 'NO' then ' not null' else '' end"
                f" from information_schema.columns where table_schema = 'support_api' and table_name = '{TABLE}'"
            ).fetchall())

    def delete(id: int) -> None:
        with duckdb.connect(str(path)) as db:
            db.execute(f"delete from support_api.{TABLE} where id = {id}")

    return Target("duckdb", warehouse_from_env(), select, types, delete)


def _postgres(monkeypatch, tmp_path, stack, pgpassword: bool = False) -> Target:
    db = stack.enter_context(postgres.database())
    monkeypatch.setenv("SUPPORT_DESTINATION", "postgres")
    # No password in the string: the trust-auth server needs none; with PGPASSWORD libpq sends it.
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://postgres@127.0.0.1:5432/{db.name}")
    if pgpassword:
        monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    else:
        monkeypatch.delenv("PGPASSWORD", raising=False)

    def select(sql: str) -> list[tuple]:
        return db.rows(sql.replace(" from t", f" from support_api.{TABLE}"))

    def types() -> dict[str, str]:
        return dict(db.rows(
            "select column_name, data_type || case when is_nullable = 'NO' then ' not null' else '' end"
            " from information_schema.columns where table_schema = 'support_api' and table_name = %s",
            (TABLE,),
        ))

    def delete(id: int) -> None:
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(f"delete from support_api.{TABLE} where id = %s", (id,))
        conn.close()

    return Target("postgres", warehouse_from_env(), select, types, delete)


def _mariadb(monkeypatch, tmp_path, stack) -> Target:
    db = stack.enter_context(mariadb.database())
    monkeypatch.setenv("SUPPORT_DESTINATION", "sqlalchemy")
    monkeypatch.setenv("DESTINATION__SQLALCHEMY__CREDENTIALS", db.url)
    # On MariaDB the dataset is a database: one of the test's own (mariadb.py).
    warehouse = WarehouseResource(
        destination="sqlalchemy", pipelines_dir=str(tmp_path / "dlt"), dataset_name=db.name
    )

    def select(sql: str) -> list[tuple]:
        return db.rows(sql.replace(" from t", f" from `{db.name}`.{TABLE}"))

    def types() -> dict[str, str]:
        return dict(db.rows(
            "select column_name, concat(column_type, if(is_nullable = 'NO', ' not null', ''))"
            " from information_schema.columns where table_schema = %s and table_name = %s",
            (db.name, TABLE),
        ))

    def delete(id: int) -> None:
        db.rows(f"delete from `{db.name}`.{TABLE} where id = %s", (id,))

    return Target("sqlalchemy", warehouse, select, types, delete)


def _delta(monkeypatch, tmp_path, stack) -> Target:
    bucket = tmp_path / "lake"
    monkeypatch.setenv("SUPPORT_DESTINATION", "filesystem")
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(bucket))
    location = bucket / "support_api" / TABLE

    def select(sql: str) -> list[tuple]:
        t = deltalake.DeltaTable(str(location)).to_pyarrow_table()  # noqa: F841 - read by DuckDB
        with duckdb.connect(":memory:") as db:
            return db.execute(sql).fetchall()

    def types() -> dict[str, str]:
        schema = pyarrow.schema(deltalake.DeltaTable(str(location)).schema().to_arrow())
        return {f.name: str(f.type) + ("" if f.nullable else " not null") for f in schema}

    def delete(id: int) -> None:
        deltalake.DeltaTable(str(location)).delete(f"id = {id}")

    return Target("filesystem", warehouse_from_env(), select, types, delete)


TARGETS = {
    "duckdb": _duckdb,
    "postgres": _postgres,
    "postgres_pgpassword": lambda *a: _postgres(*a, pgpassword=True),
    "mariadb": _mariadb,
    "delta": _delta,
}


@pytest.fixture(params=list(TARGETS))
def target(request, monkeypatch, tmp_path, api_env):
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path))
    with ExitStack() as stack:
        yield TARGETS[request.param](monkeypatch, tmp_path, stack)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_a_full_sync_then_a_merge_resync(target, sandbox, instance):
    first = sync(target.warehouse, instance=instance)
    assert first.success, failure_text(first)
    assert target.count() == (250, 250)
    assert target.records() == expected(sandbox)

    sandbox.store.update(7, subject="changed upstream", tags=["vip"])
    sandbox.store.update(42, priority=None)
    sandbox.store.add(5)
    second = sync(target.warehouse, instance=instance)

    assert second.success, failure_text(second)
    assert target.count() == (255, 255)
    assert target.records() == expected(sandbox)
    assert target.records()[7][0] == "changed upstream"
    assert PG_PASSWORD not in every_event_text(first) + every_event_text(second)


def test_a_full_refresh_removes_records_deleted_upstream(target, sandbox, instance):
    assert sync(target.warehouse, instance=instance).success
    sandbox.store.delete(3)
    sandbox.store.delete(200)
    sandbox.store.update(9, subject="kept and changed")

    result = sync(target.warehouse, instance=instance, sync_type="full_refresh")

    assert result.success, failure_text(result)
    assert target.count() == (248, 248)
    loaded = target.records()
    assert 3 not in loaded and 200 not in loaded
    assert loaded == expected(sandbox)


def test_the_checks_pass_on_good_data_and_fail_on_a_missing_row(target, sandbox, instance):
    sandbox.store.update(1, subject="updated just now")  # a current updated_at for `fresh`
    result = sync(target.warehouse, instance=instance, sync_type="full_refresh")

    assert result.success, failure_text(result)
    evaluations = checks(result)
    assert OWN_CHECKS <= set(evaluations)
    assert all(evaluations[n].passed for n in OWN_CHECKS), {n: evaluations[n].description for n in OWN_CHECKS}
    assert evaluations["complete_after_full_refresh"].metadata["row_count"].value == 250

    target.delete_row(17)  # a row lost behind the sync's back
    again = sync(target.warehouse, instance=instance, selection=dg.AssetSelection.checks_for_assets(KEY))

    evaluations = checks(again)
    assert evaluations["complete_after_full_refresh"].passed is False
    assert "249 rows" in evaluations["complete_after_full_refresh"].description
    assert evaluations["primary_key_unique"].passed and evaluations["required_not_null"].passed


# The declared schema (schema.py) as each store reports it.
DECLARED_TYPES = {
    "duckdb": {
        "id": "BIGINT not null", "customer_id": "BIGINT not null", "subject": "VARCHAR",
        "status": "VARCHAR", "priority": "VARCHAR", "channel": "VARCHAR",
        "created_at": "TIMESTAMP WITH TIME ZONE", "updated_at": "TIMESTAMP WITH TIME ZONE",
        "requester__name": "VARCHAR", "requester__email": "VARCHAR", "tags": "JSON",
        "_position_in_sync": "BIGINT not null", "_dlt_load_id": "VARCHAR not null",
        "_dlt_id": "VARCHAR not null",
    },
    "postgres": {
        "id": "bigint not null", "customer_id": "bigint not null", "subject": "character varying",
        "status": "character varying", "priority": "character varying", "channel": "character varying",
        "created_at": "timestamp with time zone", "updated_at": "timestamp with time zone",
        "requester__name": "character varying", "requester__email": "character varying",
        "tags": "jsonb", "_position_in_sync": "bigint not null",
        "_dlt_load_id": "character varying not null", "_dlt_id": "character varying not null",
    },
    # MariaDB has no time zone type (dlt writes UTC) and reports json as longtext.
    "sqlalchemy": {
        "id": "bigint(20) not null", "customer_id": "bigint(20) not null", "subject": "text",
        "status": "text", "priority": "text", "channel": "text",
        "created_at": "datetime(6)", "updated_at": "datetime(6)",
        "requester__name": "text", "requester__email": "text", "tags": "longtext",
        "_position_in_sync": "bigint(20) not null", "_dlt_load_id": "text not null",
        "_dlt_id": "varchar(128) not null",
    },
    # Delta keeps the list as a list (dlt writes nested types natively there).
    "filesystem": {
        "id": "int64 not null", "customer_id": "int64 not null", "subject": "string",
        "status": "string", "priority": "string", "channel": "string",
        "created_at": "timestamp[us, tz=UTC]", "updated_at": "timestamp[us, tz=UTC]",
        "requester__name": "string", "requester__email": "string", "tags": "list<element: string>",
        "_position_in_sync": "int64 not null", "_dlt_load_id": "string not null",
        "_dlt_id": "string not null",
    },
}


def test_the_tables_have_the_declared_types(target, instance):
    assert sync(target.warehouse, instance=instance, checks=False).success

    assert target.column_types() == DECLARED_TYPES[target.name]


def test_the_assets_kinds_name_the_destination(target):
    specs = [
        spec for assets in build_definitions(warehouse=target.warehouse).assets for spec in assets.specs
        if spec.key.path[0] == "support_api"  # not the metrics' models (docs/metrics.md)
    ]
    assert len(specs) == 4 and all(spec.kinds == {"dlt", target.name} for spec in specs)
