"""The declared schema as the warehouse holds it, nested data, and schema drift that is
allowed: a new field is added and reported. (Drift that fails a sync, and leaves the
table as it was, is in test_bad_input.py.)"""

import json
import logging

import dagster as dg

from support_assets_tests.helpers import rows
from support_assets_tests.helpers.sync import TICKETS, metadata, sync

COLUMNS_SQL = """
    select column_name, data_type, is_nullable from information_schema.columns
    where table_schema = 'support_api' and table_name = '{table}' order by ordinal_position
"""


def test_declared_types_and_nullability_as_duckdb_reports_them(api_env, sandbox, warehouse):
    assert sync(warehouse, checks=False).success

    assert rows(warehouse.duckdb_path, COLUMNS_SQL.format(table="customer_support_data")) == [
        ("id", "BIGINT", "NO"),
        ("customer_id", "BIGINT", "NO"),
        ("subject", "VARCHAR", "YES"),
        ("status", "VARCHAR", "YES"),
        ("priority", "VARCHAR", "YES"),
        ("channel", "VARCHAR", "YES"),
        ("created_at", "TIMESTAMP WITH TIME ZONE", "YES"),
        ("updated_at", "TIMESTAMP WITH TIME ZONE", "YES"),
        ("requester__name", "VARCHAR", "YES"),
        ("requester__email", "VARCHAR", "YES"),
        ("tags", "JSON", "YES"),
        ("_position_in_sync", "BIGINT", "NO"),
        ("_dlt_load_id", "VARCHAR", "NO"),
        ("_dlt_id", "VARCHAR", "NO"),
    ]
    # Lists are JSON columns of their record: no child table.
    tables = rows(
        warehouse.duckdb_path,
        "select table_name from information_schema.tables where table_schema = 'support_api'"
        " and table_name not like '\\_dlt%' escape '\\' order by 1",
    )
    assert tables == [("customer_support_data",)]


def test_the_primary_key_and_types_are_in_the_assets_column_schema(api_env, sandbox, warehouse):
    result = sync(warehouse, checks=False)

    schema = metadata(result)["dagster/column_schema"]
    columns = {column.name: column for column in schema.columns}
    assert columns["id"].type == "bigint"
    assert columns["id"].constraints.nullable is False
    assert "primary_key" in columns["id"].constraints.other
    assert columns["customer_id"].constraints.nullable is False
    assert columns["updated_at"].type == "timestamp"
    assert columns["priority"].constraints.nullable is True
    assert columns["tags"].type == "json"


def tags_by_id(warehouse) -> dict:
    return {id: json.loads(tags) for id, tags in rows(warehouse.duckdb_path, f"select id, tags from {TICKETS}")}


def test_nested_data_requester_flattened_and_tags_as_json_lists(api_env, sandbox, warehouse):
    assert sync(warehouse, checks=False).success
    records = {r["id"]: r for r in sandbox.store.all_records()}

    flattened = rows(
        warehouse.duckdb_path,
        f"select id, requester__name, requester__email, priority from {TICKETS}",
    )
    assert {r[0]: r[1:] for r in flattened} == {
        id: (r["requester"]["name"], r["requester"]["email"], r["priority"]) for id, r in records.items()
    }
    # Nullable priority: the sandbox leaves it null on about one ticket in five.
    assert 0 < sum(1 for r in flattened if r[3] is None) < len(flattened)

    tags = tags_by_id(warehouse)
    assert tags == {id: r["tags"] for id, r in records.items()}
    assert any(t == [] for t in tags.values()) and any(len(t) > 1 for t in tags.values())
    # Queryable as JSON in SQL, e.g. the tickets tagged "vip".
    vip = rows(warehouse.duckdb_path, f"select id from {TICKETS} where list_contains(tags::varchar[], 'vip')")
    assert sorted(id for (id,) in vip) == sorted(id for id, r in records.items() if "vip" in r["tags"])


def test_a_merge_replaces_a_tickets_tags_and_keeps_the_others(api_env, sandbox, warehouse):
    assert sync(warehouse, checks=False).success
    sandbox.store.update(9, tags=["refund"])
    sandbox.store.update(10, tags=[])

    assert sync(warehouse, checks=False).success

    tags = tags_by_id(warehouse)
    records = {r["id"]: r for r in sandbox.store.all_records()}
    assert tags[9] == ["refund"] and tags[10] == []
    assert tags == {id: r["tags"] for id, r in records.items()}


def test_a_new_field_is_added_and_reported(api_env, sandbox, warehouse):
    with dg.instance_for_test() as instance:
        assert sync(warehouse, instance=instance, checks=False).success
        sandbox.store.update(8, escalation_level=2, watchers=["ada", "grace"])

        result = sync(warehouse, instance=instance, checks=False)
        warnings = [
            entry.user_message
            for entry in instance.all_logs(result.run_id)
            if entry.level == logging.WARNING
        ]

    assert result.success
    meta = metadata(result)
    assert meta["new_columns"] == ["customer_support_data.escalation_level"]
    assert meta["new_tables"] == ["customer_support_data__watchers"]
    assert meta["schema_change"] == (
        "added customer_support_data.escalation_level, table customer_support_data__watchers"
    )
    assert warnings == [
        "customer_support_data: the API sent new fields; added customer_support_data.escalation_level,"
        " table customer_support_data__watchers"
    ]
    assert rows(warehouse.duckdb_path, f"select escalation_level from {TICKETS} where id = 8") == [(2,)]
    assert rows(
        warehouse.duckdb_path, COLUMNS_SQL.format(table="customer_support_data")
    )[-1] == ("escalation_level", "BIGINT", "YES")


def test_a_sync_without_schema_change_says_so(api_env, sandbox, warehouse):
    assert sync(warehouse, checks=False).success

    meta = metadata(sync(warehouse, checks=False))

    assert meta["schema_change"] == "none"
    assert meta["new_columns"] == [] and meta["new_tables"] == []
