"""A PostgreSQL database of the test's own on 127.0.0.1:5432 (user postgres, trust auth).

Each test creates a database with a unique name and drops it afterwards. Where the
server is unreachable the tests skip, except under CI=true, where they fail: CI has
the server, so its absence is a broken machine, not a reason to pass.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import psycopg2

from support_assets_tests.servers import unreachable

HOST = os.environ.get("SUPPORT_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("SUPPORT_TEST_PG_PORT", "5432"))
USER = "postgres"
# For dagster.yaml's DAGSTER_PG_PASSWORD (deployment.py); trust auth ignores it.
PASSWORD = "trust-auth-ignores-this"


def _admin():
    conn = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname="postgres", connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return conn


def require_server() -> None:
    try:
        _admin().close()
    except psycopg2.OperationalError as exc:
        unreachable(f"PostgreSQL is not reachable on {HOST}:{PORT}: {exc}".strip())


class Database:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def url(self) -> str:
        """The connection string dlt and dagster-postgres take; no password (trust auth)."""
        return f"postgresql://{USER}@{HOST}:{PORT}/{self.name}"

    def connect(self):
        return psycopg2.connect(host=HOST, port=PORT, user=USER, dbname=self.name)

    def rows(self, sql: str, params=()) -> list[tuple]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            result = cur.fetchall()
        conn.close()
        return result

    def tables(self, schema: str) -> set[str]:
        return {
            name
            for (name,) in self.rows(
                "select table_name from information_schema.tables where table_schema = %s", (schema,)
            )
        }


@contextmanager
def database(prefix: str = "support_test") -> Iterator[Database]:
    require_server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        yield Database(name)
    finally:
        # FORCE: a daemon or worker the test started may still hold a connection.
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
