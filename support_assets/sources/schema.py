"""The declared schema of each endpoint's table and the schema contract: what the
warehouse promises about names, types and nullability, and what a sync does when
the API drifts from it.

Pure data keyed by endpoint name, no Dagster import. __init__.py hands it to dlt's
rest_api (`columns`, `schema_contract`) and to the Arrow path (arrow_pages.py);
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

# New tables (a new list field) and new columns (a new field) are added and reported;
# a value that does not fit its column's type fails the sync (dlt's "freeze" on data
# types), instead of dlt's default of quietly adding a `<column>__v_<type>` variant.
SCHEMA_CONTRACT: dict[str, str] = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}

# The record's position among those its sync fetched. When one sync fetches an id
# twice (records moving between offset pages while the API changes), the merge keeps
# the copy with the highest position: the last one wins (dlt's `dedup_sort`).
POSITION_COLUMN = "_position_in_sync"


def column(data_type: str, nullable: bool = True, description: str = "", **hints: Any) -> dict:
    """A dlt column hint."""
    return {"data_type": data_type, "nullable": nullable, "description": description, **hints}


def timestamp(description: str = "") -> dict:
    return column("timestamp", timezone=True, description=description)


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
                "json", description=f"{hint.get('description', name)} (a JSON list of {hint['data_type']})"
            )
            for name, hint in self.lists.items()
        }
        return {**self.columns, **lists, POSITION_COLUMN: position}


def _primary_key_only(primary_key: str) -> TableSchema:
    # No data type: dlt infers it from the first sync, and the contract keeps it.
    key = {"nullable": False, "primary_key": True}
    return TableSchema(columns={primary_key: key}, freshness_column=None)


TABLES: dict[str, TableSchema] = {
    "customer_support_data": TableSchema(
        columns={
            "id": column("bigint", nullable=False, primary_key=True, description="Ticket id"),
            "customer_id": column("bigint", nullable=False, description="The customer's id"),
            "subject": column("text"),
            "status": column("text", description="open, pending, solved or closed"),
            "priority": column("text", description="low, normal, high or urgent; often null"),
            "channel": column("text", description="email, chat or phone"),
            "created_at": timestamp(),
            "updated_at": timestamp("Last change; the incremental cursor and freshness column"),
            "requester__name": column("text", description="requester.name"),
            "requester__email": column("text", description="requester.email"),
        },
        objects=("requester",),
        lists={"tags": column("text", description="The ticket's tags")},
    ),
    "customers": TableSchema(
        columns={
            "id": column("bigint", nullable=False, primary_key=True),
            "name": column("text"),
            "email": column("text"),
            "plan": column("text"),
            "created_at": timestamp(),
            "updated_at": timestamp(),
        },
    ),
}


def table_schema(endpoint: str, primary_key: str = "id") -> TableSchema:
    """The declared schema of `endpoint`; for an endpoint nobody declared, only its
    primary key is declared (not null) and dlt infers the rest."""
    return TABLES.get(endpoint) or _primary_key_only(primary_key)
