"""A MariaDB database of the test's own on 127.0.0.1:3306 (user root, no password).

On MySQL and MariaDB a dlt dataset is a database: dlt's sqlalchemy destination writes the
dataset `<name>` and its staging dataset `<name>_staging` as databases of their own. Each
test takes a unique name for both and drops them afterwards (other engineers share the
server). Where the server is unreachable the tests skip, except under CI=true, where they
fail: CI has the server (.ci/run starts it), so its absence is a broken machine.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pymysql

from support_assets_tests.servers import unreachable

HOST = os.environ.get("SUPPORT_TEST_MARIADB_HOST", "127.0.0.1")
PORT = int(os.environ.get("SUPPORT_TEST_MARIADB_PORT", "3306"))
USER = "root"


def _connect(database: str | None = None):
    return pymysql.connect(
        host=HOST, port=PORT, user=USER, database=database, connect_timeout=5, autocommit=True
    )


def require_server() -> None:
    try:
        _connect().close()
    except pymysql.err.OperationalError as exc:
        unreachable(f"MariaDB is not reachable on {HOST}:{PORT}: {exc}".strip())


class Database:
    """A database that is also the dlt dataset's name."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def url(self) -> str:
        """What DESTINATION__SQLALCHEMY__CREDENTIALS takes: no password."""
        return f"mysql+pymysql://{USER}@{HOST}:{PORT}/{self.name}"

    def rows(self, sql: str, params=()) -> list[tuple]:
        connection = _connect(self.name)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()


@contextmanager
def database(prefix: str = "support_test") -> Iterator[Database]:
    require_server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _connect()
    try:
        admin.cursor().execute(f"CREATE DATABASE `{name}`")
        yield Database(name)
    finally:
        for database_name in (name, f"{name}_staging"):
            admin.cursor().execute(f"DROP DATABASE IF EXISTS `{database_name}`")
        admin.close()
