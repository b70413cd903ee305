"""Synced tables with rows whose metrics the tests know, written straight into the warehouse
the way a sync lands them (dataset support_api, the columns of the issue 15 contract), and
a copy of the dbt project of the test's own (its manifest built when the definitions load).

The story, in UTC:
- ticket 1 (customer 10, solved): opened 2026-01-05 08:00, the customer's comment at once,
  an agent's reply at 10:00 (first reply after 2 h), two more comments; last change (solved)
  2026-01-06 08:00: resolved after 24 h; 4 comments.
- ticket 2 (customer 10, open): opened 2026-01-05 09:00, only the customer's comment.
- ticket 3 (customer 11, closed): opened 2026-01-06 10:00, agent at 10:30 (0.5 h), closed
  16:00 (6 h).
- ticket 4 (customer 11, pending): opened 2026-01-07 00:00; an agent comment stamped an hour
  BEFORE it was opened (not a reply), then an agent at 04:00 (4 h).
- ticket 5 (customer 12, whom the customers table lacks, solved): opened 2026-01-07 12:00,
  no comment, solved 2026-01-08 12:00 (24 h).
- customer 13 has no ticket.
"""

import shutil
from datetime import date
from pathlib import Path

from support_assets.defs.metrics import DBT_PROJECT_DIR

TICKETS = [
    # id, customer_id, status, created_at, updated_at
    (1, 10, "solved", "2026-01-05 08:00:00+00", "2026-01-06 08:00:00+00"),
    (2, 10, "open", "2026-01-05 09:00:00+00", "2026-01-05 09:00:00+00"),
    (3, 11, "closed", "2026-01-06 10:00:00+00", "2026-01-06 16:00:00+00"),
    (4, 11, "pending", "2026-01-07 00:00:00+00", "2026-01-07 04:00:00+00"),
    (5, 12, "solved", "2026-01-07 12:00:00+00", "2026-01-08 12:00:00+00"),
]
CUSTOMERS = [(10, "Zoë Ñúñez", "team"), (11, "李雷", "free"), (13, "Ada Lovelace", "enterprise")]
COMMENTS = [
    # id, ticket_id, author_type, created_at
    (101, 1, "customer", "2026-01-05 08:00:00+00"),
    (102, 1, "agent", "2026-01-05 10:00:00+00"),
    (103, 1, "customer", "2026-01-05 11:00:00+00"),
    (104, 1, "agent", "2026-01-05 12:00:00+00"),
    (201, 2, "customer", "2026-01-05 09:00:00+00"),
    (301, 3, "customer", "2026-01-06 10:00:00+00"),
    (302, 3, "agent", "2026-01-06 10:30:00+00"),
    (401, 4, "agent", "2026-01-06 23:00:00+00"),
    (402, 4, "agent", "2026-01-07 04:00:00+00"),
]
AGENTS = [(7, "Grace Hopper", "agent")]

# ticket_id -> (first_reply_hours, resolution_hours, comments)
TICKET_METRICS = {
    1: (2.0, 24.0, 4),
    2: (None, None, 1),
    3: (0.5, 6.0, 2),
    4: (4.0, None, 2),
    5: (None, 24.0, 0),
}
# day -> (opened, solved, backlog)
DAILY = {
    date(2026, 1, 5): (2, 0, 2),
    date(2026, 1, 6): (1, 2, 1),
    date(2026, 1, 7): (2, 0, 3),
    date(2026, 1, 8): (0, 1, 2),
    date(2026, 1, 9): (0, 0, 2),
}
TODAYS_BACKLOG = 2  # tickets 2 and 4
# customer_id -> (tickets, unsolved_tickets, replied_tickets, median_first_reply_hours)
CUSTOMER_METRICS = {10: (2, 1, 1, 2.0), 11: (2, 1, 2, 2.25), 13: (0, 0, 0, None)}

TABLES = {
    "customer_support_data": (
        "id bigint, customer_id bigint, subject text, status text, priority text, channel text,"
        " created_at timestamp with time zone, updated_at timestamp with time zone",
        [(i, c, f"ticket {i}", s, None, "email", cr, up) for i, c, s, cr, up in TICKETS],
    ),
    "customers": (
        "id bigint, name text, email text, plan text, created_at timestamp with time zone,"
        " updated_at timestamp with time zone, deleted_at timestamp with time zone",
        [(i, n, None, p, "2025-01-01 00:00:00+00", "2025-01-01 00:00:00+00", None) for i, n, p in CUSTOMERS],
    ),
    "agents": (
        "id bigint, name text, email text, role text, active boolean,"
        " created_at timestamp with time zone, updated_at timestamp with time zone",
        [(i, n, None, r, True, "2025-01-01 00:00:00+00", "2025-01-01 00:00:00+00") for i, n, r in AGENTS],
    ),
    "ticket_comments": (
        "id bigint, ticket_id bigint, author_id bigint, author_type text, body text, public boolean,"
        " created_at timestamp with time zone",
        [(i, t, 7 if a == "agent" else 10, a, "ok", True, cr) for i, t, a, cr in COMMENTS],
    ),
}


def statements(extra_tickets: list[tuple] = ()) -> list[tuple[str, list[tuple]]]:
    """(sql, rows) pairs creating dataset support_api and its four tables; the same SQL
    runs on DuckDB and PostgreSQL. extra_tickets: more (id, customer_id, status, created,
    updated) rows, e.g. a duplicated id."""
    result: list[tuple[str, list[tuple]]] = [("create schema if not exists support_api", [])]
    for table, (columns, rows) in TABLES.items():
        if table == "customer_support_data":
            rows = rows + [(i, c, f"ticket {i}", s, None, "email", cr, up) for i, c, s, cr, up in extra_tickets]
        result.append((f"create table support_api.{table} ({columns})", []))
        marks = ", ".join(["%s"] * len(rows[0]))
        result.append((f"insert into support_api.{table} values ({marks})", rows))
    return result


def write_duckdb(path: str, extra_tickets: list[tuple] = ()) -> None:
    import duckdb

    with duckdb.connect(path) as db:
        for sql, rows in statements(extra_tickets):
            if rows:
                db.executemany(sql.replace("%s", "?"), rows)
            else:
                db.execute(sql)


def write_postgres(connection, extra_tickets: list[tuple] = ()) -> None:
    with connection, connection.cursor() as cursor:
        for sql, rows in statements(extra_tickets):
            if rows:
                cursor.executemany(sql, rows)
            else:
                cursor.execute(sql)


def dbt_project_copy(tmp_path: Path) -> Path:
    """The repository's dbt project without its target/ (so no manifest: the definitions build
    it), in tmp_path: tests running at once do not share dbt's target folder."""
    copy = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy
