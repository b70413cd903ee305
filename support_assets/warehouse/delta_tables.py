"""DuckDB reading the Delta tables of dlt's filesystem destination, for the checks and the
materialization metadata (queries.py).

dlt's own dataset API reads Delta tables with DuckDB's `delta` extension, which DuckDB
downloads on first use: not possible on a machine without internet access, such as this
project's CI. Here the `deltalake` package (a dependency of dlt's deltalake extra) reads
each table as an Arrow dataset and DuckDB queries it in place, with the same SQL as the
SQL destinations.
"""

from typing import Any, Optional

import dlt
import duckdb
from dlt.destinations.exceptions import DatabaseUndefinedRelation


def on_filesystem(pipeline: dlt.Pipeline) -> bool:
    destination = pipeline.destination
    return destination is not None and destination.destination_type == "dlt.destinations.filesystem"


class DeltaTablesClient:
    """The part of dlt's sql_client that queries.py uses, over an in-memory DuckDB that sees
    each table of the pipeline's default schema as a view of its Delta table."""

    def __init__(self, pipeline: dlt.Pipeline) -> None:
        self.pipeline = pipeline
        self.connection: Optional[duckdb.DuckDBPyConnection] = None

    def __enter__(self) -> "DeltaTablesClient":
        if not self.pipeline.default_schema_name:  # a fresh process: the schema is at the destination
            self.pipeline.sync_destination()
        self.connection = duckdb.connect(":memory:")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.connection is not None:
            self.connection.close()

    def escape_column_name(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def make_qualified_table_name(self, table: str) -> str:
        """The view of `table`, registered on first use; DatabaseUndefinedRelation when no
        sync has written it."""
        assert self.connection is not None, "use the client in a with block"
        view = self.escape_column_name(table)
        schema = self.pipeline.default_schema if self.pipeline.default_schema_name else None
        table_format = schema.tables.get(table, {}).get("table_format") if schema else None
        if table_format not in (None, "delta"):
            raise NotImplementedError(
                f"The checks read Delta tables only; {table} is a {table_format} table: not checked."
            )
        try:
            # Imported here: deltalake and pyarrow were 0.08 s of loading the code location,
            # which needs them only on the filesystem destination.
            from dlt.common.libs.deltalake import get_delta_tables

            delta_table = get_delta_tables(self.pipeline, table)[table]
        except Exception as exc:  # not in the schema, or no table on disk yet
            raise DatabaseUndefinedRelation(exc) from None
        self.connection.register(table, delta_table.to_pyarrow_dataset())
        return view

    def execute_sql(self, sql: str) -> list[tuple[Any, ...]]:
        assert self.connection is not None, "use the client in a with block"
        return self.connection.execute(sql).fetchall()
