"""The SQL that the asset checks and the materialization metadata run against the
warehouse, through dlt's sql_client so it works on every SQL destination alike (names
quoted by the destination's own rules, only portable SQL), and through DuckDB over the
Delta tables of the filesystem destination (delta_tables.py)."""

import datetime
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator, Optional, Sequence

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from .delta_tables import DeltaTablesClient, on_filesystem


class Warehouse:
    """Questions about the tables of a dlt pipeline's dataset; `delete_keys` is the one write."""

    def __init__(self, pipeline: dlt.Pipeline) -> None:
        self.pipeline = pipeline
        self._block: Optional[ExitStack] = None  # a `connected()` block's open connection
        self._client: Any = None

    def _new_client(self) -> Any:
        return DeltaTablesClient(self.pipeline) if on_filesystem(self.pipeline) else self.pipeline.sql_client()

    @contextmanager
    def connected(self) -> Iterator["Warehouse"]:
        """One connection for every question asked in the block, instead of one each: opening a
        DuckDB file took ~35 ms, the checks' queries ~10 ms together (docs/performance.md). It
        opens at the block's first question (a sync's block opens it after the load) and closes
        at its end; a block inside another shares it."""
        if self._block is not None:
            yield self
            return
        with ExitStack() as block:
            self._block = block
            try:
                yield self
            finally:
                self._block, self._client = None, None

    def _query(self, sql_for: Any) -> Optional[list[tuple]]:
        """Runs `sql_for(client)`; None when the table does not exist (no sync yet)."""
        if self._block is None:
            with self._new_client() as client:
                return self._run(client, sql_for)
        if self._client is None:
            self._client = self._block.enter_context(self._new_client())
        return self._run(self._client, sql_for)

    @staticmethod
    def _run(client: Any, sql_for: Any) -> Optional[list[tuple]]:
        try:
            return list(client.execute_sql(sql_for(client)) or [])
        except DatabaseUndefinedRelation:
            return None

    def row_count(self, table: str) -> Optional[int]:
        rows = self._query(lambda c: f"SELECT COUNT(*) FROM {c.make_qualified_table_name(table)}")
        return None if rows is None else int(rows[0][0])

    def duplicate_keys(self, table: str, key: str, sample: int = 5) -> Optional[tuple[int, list]]:
        """(number of key values held by more than one row, up to `sample` of them)."""

        def sql(c: Any) -> str:
            k = c.escape_column_name(key)
            return (
                f"SELECT {k}, COUNT(*) OVER () FROM {c.make_qualified_table_name(table)}"
                f" GROUP BY {k} HAVING COUNT(*) > 1 ORDER BY {k} LIMIT {int(sample)}"
            )

        rows = self._query(sql)
        if rows is None:
            return None
        return (int(rows[0][1]) if rows else 0), [r[0] for r in rows]

    def null_counts(self, table: str, columns: Sequence[str]) -> Optional[dict[str, int]]:
        """Rows whose value is null, per column."""

        def sql(c: Any) -> str:
            counts = ", ".join(f"COUNT(*) - COUNT({c.escape_column_name(n)})" for n in columns)
            return f"SELECT {counts} FROM {c.make_qualified_table_name(table)}"

        rows = self._query(sql)
        return None if rows is None else dict(zip(columns, (int(v) for v in rows[0])))

    def newest(self, table: str, column: str) -> Optional[datetime.datetime]:
        """The largest value of a timestamp column, in UTC; None for an empty or missing table."""
        rows = self._query(
            lambda c: f"SELECT MAX({c.escape_column_name(column)}) FROM {c.make_qualified_table_name(table)}"
        )
        value = rows[0][0] if rows else None
        if value is None:
            return None
        if value.tzinfo is None:  # a timestamp without time zone holds UTC (dlt's convention)
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)

    def keys(self, table: str, key: str) -> list[Any]:
        """Every value of the `key` column (the table's primary key)."""
        rows = self._query(lambda c: f"SELECT {c.escape_column_name(key)} FROM {c.make_qualified_table_name(table)}")
        return [row[0] for row in rows or ()]

    def delete_keys(self, table: str, key: str, values: Sequence[Any], chunk: int = 1000) -> int:
        """Deletes the rows whose `key` is one of `values` (a full refresh's records deleted
        upstream while it paged, drift.py); returns how many values were given."""
        values = list(values)
        with self.pipeline.sql_client() as client:
            name, column = client.make_qualified_table_name(table), client.escape_column_name(key)
            for start in range(0, len(values), chunk):
                part = values[start : start + chunk]
                marks = ", ".join(["%s"] * len(part))
                client.execute_sql(f"DELETE FROM {name} WHERE {column} IN ({marks})", *part)
        return len(values)
