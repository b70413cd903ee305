"""SUPPORT_DESTINATION=postgres: the same assets merge into a real PostgreSQL database."""

import dagster as dg
import pytest

from support_assets.definitions import build_definitions, warehouse_from_env
from support_assets.defs.resources import WarehouseResource

from support_assets_tests.helpers import TICKETS_ONLY, failure_text
from support_assets_tests.helpers.postgres import database

TICKETS = "support_api.customer_support_data"


@pytest.fixture
def pg():
    with database() as db:
        yield db


@pytest.fixture
def pg_warehouse(monkeypatch, pg, tmp_path) -> WarehouseResource:
    """What a user sets: SUPPORT_DESTINATION and dlt's own credentials variable."""
    monkeypatch.setenv("SUPPORT_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg.url)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path))
    return warehouse_from_env()


def materialize(warehouse):
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse)
    return dg.materialize(list(definitions.assets), resources=definitions.resources, raise_on_error=False)


def expected_tags(sandbox) -> dict[int, list[str]]:
    return {r["id"]: r["tags"] for r in sandbox.store.all_records()}


def loaded_tags(pg) -> dict[int, list[str]]:
    return dict(pg.rows(f"select id, tags from {TICKETS}"))  # jsonb arrives as a Python list


def test_a_full_sync_loads_every_record_once_with_its_nested_tags(api_env, sandbox, pg, pg_warehouse):
    result = materialize(pg_warehouse)

    assert result.success, failure_text(result)
    assert pg_warehouse.loader_file_format == "insert_values"
    assert pg.rows(f"select count(*), count(distinct id) from {TICKETS}") == [(250, 250)]
    records = {r["id"]: r for r in sandbox.store.all_records()}
    loaded = pg.rows(f"select id, subject, priority, requester__email from {TICKETS}")
    assert {row[0]: row[1:] for row in loaded} == {
        id: (r["subject"], r["priority"], r["requester"]["email"]) for id, r in records.items()
    }
    # The list is a jsonb column of its ticket.
    assert loaded_tags(pg) == expected_tags(sandbox)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey(["support_api", "customer_support_data"])}


def test_a_second_sync_merges_updates_and_new_records_in_place(api_env, sandbox, pg, pg_warehouse):
    assert materialize(pg_warehouse).success
    sandbox.store.update(7, subject="changed upstream", tags=["vip"])
    sandbox.store.update(42, priority=None)
    sandbox.store.add(5)

    result = materialize(pg_warehouse)

    assert result.success, failure_text(result)
    assert pg.rows(f"select count(*), count(distinct id) from {TICKETS}") == [(255, 255)]
    assert pg.rows(f"select subject from {TICKETS} where id = 7") == [("changed upstream",)]
    assert pg.rows(f"select priority from {TICKETS} where id = 42") == [(None,)]
    # Merge replaced the tags of the updated ticket with its row.
    assert loaded_tags(pg)[7] == ["vip"]
    assert loaded_tags(pg) == expected_tags(sandbox)
    # Two loads recorded by dlt, both complete.
    assert pg.rows("select count(*) from support_api._dlt_loads where status = 0") == [(2,)]


def test_the_tables_have_the_declared_column_types(api_env, pg, pg_warehouse):
    assert materialize(pg_warehouse).success

    columns = {
        name: (data_type, nullable)
        for name, data_type, nullable in pg.rows(
            "select column_name, data_type, is_nullable from information_schema.columns"
            " where table_schema = 'support_api' and table_name = 'customer_support_data'"
        )
    }
    # The schema declared in schema.py, as PostgreSQL reports it.
    assert columns == {
        "id": ("bigint", "NO"),
        "customer_id": ("bigint", "NO"),
        "subject": ("character varying", "YES"),
        "status": ("character varying", "YES"),
        "priority": ("character varying", "YES"),
        "channel": ("character varying", "YES"),
        "created_at": ("timestamp with time zone", "YES"),
        "updated_at": ("timestamp with time zone", "YES"),
        "requester__name": ("character varying", "YES"),
        "requester__email": ("character varying", "YES"),
        "tags": ("jsonb", "YES"),
        "_position_in_sync": ("bigint", "NO"),
        "_dlt_load_id": ("character varying", "NO"),
        "_dlt_id": ("character varying", "NO"),
    }


def test_strings_arrive_exactly_empty_strings_included(api_env, sandbox, pg, pg_warehouse):
    """Why insert_values and not csv: dlt's csv COPY loads '' as NULL."""
    tricky = {1: "", 2: 'comma, "quote"\nnewline\\backslash\ttab', 3: "ünïcödé 🎫", 4: "\\N", 5: "NULL"}
    for id, subject in tricky.items():
        sandbox.store.update(id, subject=subject)

    assert materialize(pg_warehouse).success

    assert dict(pg.rows(f"select id, subject from {TICKETS} where id <= 5")) == tricky


def test_missing_postgres_credentials_fail_at_once_naming_the_variable(
    monkeypatch, api_env, sandbox, tmp_path
):
    monkeypatch.setenv("SUPPORT_DESTINATION", "postgres")
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml here
    warehouse = WarehouseResource(destination="postgres", pipelines_dir=str(tmp_path / "dlt"))

    result = materialize(warehouse)

    assert not result.success
    text = failure_text(result)
    assert "SUPPORT_DESTINATION=postgres is missing settings" in text
    assert "DESTINATION__POSTGRES__CREDENTIALS" in text
    assert "[destination.postgres] in .dlt/secrets.toml" in text
    # No retry: one attempt, and the API was never asked for data.
    assert [r for r in sandbox.requests if r.path == "/v1/resource"] == []
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 0


def test_a_password_in_the_credentials_never_reaches_the_event_log(
    monkeypatch, api_env, pg, tmp_path
):
    secret = "pg-password-sentinel-2f1c"
    # Unreachable port: the connection error is where a careless message would quote the URL.
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://postgres:{secret}@127.0.0.1:1/{pg.name}"
    )
    warehouse = WarehouseResource(destination="postgres", pipelines_dir=str(tmp_path / "dlt"))
    # One attempt is enough to see the message; the default policy would wait 2 + 6 + 14 s.
    monkeypatch.setattr("support_assets.defs.assets.retry_policy", lambda *rules: dg.RetryPolicy(max_retries=0))

    result = materialize(warehouse)

    assert not result.success
    text = failure_text(result) + "".join(str(e) for e in result.all_events)
    assert "127.0.0.1" in text  # the error says where it tried to connect
    assert secret not in text
