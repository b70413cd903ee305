"""The declared schema of each endpoint's table and the schema contract: what the
warehouse promises about names, types and nullability, and what a sync does when
the API drifts from it.

Derived from each resource's `columns` in the config file (support_api.yaml), no Dagster
import. __init__.py hands it to dlt's rest_api (`columns`, `schema_contract`) and to the Arrow path (arrow_pages.py);
validation.py checks each record against it so that a violation names the field and
the record's id.

Nested data:
- an object such as `requester` is flattened into columns `requester__<field>`;
- a list such as `tags` is one `json` column holding the list, e.g. ["billing", "vip"],
  kept with its record: a merge replaces a ticket's tags with its row, and a sync never
  joins a child table. (Until issue 8 lists went to a dlt child table `<table>__tags`;
  dlt cannot write child tables from Arrow, and normalizing them one row at a time cost
  more than half of a full sync: docs/performance.md.)
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from .settings import Endpoint

# New tables (a new list field) and new columns (a new field) are added and reported;
# a value that does not fit its column's type fails the sync (dlt's "freeze" on data
# types), instead of dlt's default of quietly adding a `<column>__v_<type>` variant.
SCHEMA_CONTRACT: dict[str, str] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}

# The record's position among those its sync fetched. When one sync fetches an id
# twice (records moving between offset pages while the API changes), the merge keeps
# the copy with the highest position: the last one wins (dlt's `dedup_sort`).
POSITION_COLUMN = "_position_in_sync"
# A dlt column hint of the project's (dlt keeps `x-` hints as they are): the data type of a
# `json` column's items, e.g. `tags: {data_type: json, x-items: text}`.
ITEMS_HINT = "x-items"


def column(data_type: str, nullable: bool = True, description: str = "", **hints: Any) -> dict:
    """A dlt column hint."""
    return {"data_type": data_type, "nullable": nullable, "description": description, **hints}


@dataclass(frozen=True)
class TableSchema:
    """An endpoint's table: its columns (flattened objects included), its nested
    objects and lists, and the column the freshness check reads."""

    columns: dict[str, dict]
    objects: tuple[str, ...] = ()  # fields holding an object, flattened into <field>__<key>
    lists: dict[str, dict] = field(default_factory=dict)  # field -> its items' column hint
    freshness_column: Optional[str] = "updated_at"

    @property
    def required(self) -> tuple[str, ...]:
        """Columns declared not null (the primary key among them)."""
        return tuple(n for n, c in self.columns.items() if c.get("nullable") is False)

    def dlt_columns(self) -> dict[str, dict]:
        """The `columns` hint: declared columns, each list as a json column, and the
        position used to deduplicate."""
        position = column(
            "bigint",
            nullable=False,
            dedup_sort="desc",
            description="Position among the records of its sync; the last copy of an id wins.",
        )
        lists = {
            name: column(
                "json",
                description=f"{hint.get('description') or name} (a JSON list of {hint.get('data_type') or 'any JSON'})",
            )
            for name, hint in self.lists.items()
        }
        return {**self.columns, **lists, POSITION_COLUMN: position}


def _primary_key_only(primary_key: str) -> TableSchema:
    # No data type: dlt infers it from the first sync, and the contract keeps it.
    key = {"nullable": False, "primary_key": True}
    return TableSchema(columns={primary_key: key}, freshness_column=None)


def table_schema(endpoint: Endpoint) -> TableSchema:
    """The declared schema of `endpoint`'s table, from the `columns` of its resource in the
    config file: a `json` column is a list (`x-items` names its items' data type, if one),
    a column `<object>__<key>` a field of a flattened object, every other column a scalar;
    the freshness column is the incremental's cursor field. An endpoint that declares no
    columns declares only its primary key (not null) and dlt infers the rest."""
    key = endpoint.primary_key
    if not endpoint.columns:
        return _primary_key_only(key)
    columns: dict[str, dict] = {}
    lists: dict[str, dict] = {}
    for name, hint in endpoint.columns.items():
        # Nullability stated, as dlt states it for Arrow columns: both paths land the same hints.
        hint = {"nullable": True, **hint}
        if hint.get("data_type") == "json":
            lists[name] = {"data_type": hint.get(ITEMS_HINT), "description": hint.get("description") or name}
        else:
            columns[name] = hint
    if key not in columns:
        columns = {key: {"nullable": False, "primary_key": True}, **columns}
    objects = tuple(dict.fromkeys(name.split("__")[0] for name in columns if "__" in name.strip("_")))
    cursor = endpoint.cursor_field
    freshness = cursor.replace(".", "__") if cursor else None
    return TableSchema(columns=columns, objects=objects, lists=lists, freshness_column=freshness)
