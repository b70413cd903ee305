"""Freezes a sync at a chosen point of dlt's load step, so a test can SIGKILL the real
`dagster asset materialize` there. Python imports this module at start-up when its
folder is on PYTHONPATH; it does nothing unless SUPPORT_TEST_PAUSE_AT is set:

  merge     inside the merge transaction, after the DELETE of the rows being replaced
            and before the INSERT of their new versions;
  complete  after the merge committed, before dlt records the load as complete.

On reaching the point it creates the file SUPPORT_TEST_PAUSE_MARKER and sleeps.
"""

import os
import time

PAUSE_AT = os.environ.get("SUPPORT_TEST_PAUSE_AT")
MARKER = os.environ.get("SUPPORT_TEST_PAUSE_MARKER", "")


def _freeze() -> None:
    with open(MARKER, "w") as marker:
        marker.write(str(os.getpid()))
    time.sleep(3600)


def _install() -> None:
    if PAUSE_AT == "merge":
        from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

        execute_sql = DuckDbSqlClient.execute_sql

        def paused_execute_sql(self, sql, *args, **kwargs):
            # The merge is one script: [temp table of replaced rows;] DELETEs from the
            # dataset's tables; INSERTs from the staging dataset. Run it up to the first
            # INSERT into the dataset (not `support_api_staging`), then freeze.
            statements = sql.split(";\n") if isinstance(sql, str) else []
            first_insert = next(
                (i for i, s in enumerate(statements) if s.lstrip().startswith('INSERT INTO "support_api".')),
                0,
            )
            if any(s.lstrip().startswith("DELETE FROM") for s in statements[:first_insert]):
                execute_sql(self, ";\n".join(statements[:first_insert]) + ";", *args, **kwargs)
                _freeze()
            return execute_sql(self, sql, *args, **kwargs)

        DuckDbSqlClient.execute_sql = paused_execute_sql
    elif PAUSE_AT == "complete":
        from dlt.load.load import Load

        complete_package = Load.complete_package

        def paused_complete_package(self, *args, **kwargs):
            _freeze()
            return complete_package(self, *args, **kwargs)

        Load.complete_package = paused_complete_package


if PAUSE_AT:
    _install()
