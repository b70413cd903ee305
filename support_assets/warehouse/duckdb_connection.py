"""One DuckDB connection for a whole sync. No Dagster import: the bench's dlt-only
scenarios open theirs the same way (bench/scenario.py)."""

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import dlt
import duckdb


@contextmanager
def sync_connection(path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the DuckDB file at `path`, closed when the block ends, also on error.

    dlt alone opens and closes the file for every step of a load: half of an incremental
    sync's load time (docs/performance.md). The connection gets the settings dlt would give
    its own ([destination.duckdb.credentials] global_config in .dlt/config.toml)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = dict(dlt.config.get("destination.duckdb.credentials.global_config") or {})
    connection = duckdb.connect(path, config=settings)
    try:
        yield connection
    finally:
        connection.close()
