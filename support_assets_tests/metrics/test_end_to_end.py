"""Everything: `dagster asset materialize --select '*'` (the real CLI, as a subprocess) against
the sandbox API, the sync of the four collections and then the models, into DuckDB. The
models' answers are recomputed here from the synced rows: the first agent comment at or after
each ticket's creation, the comments per ticket, the tickets per customer, today's backlog.

Needs the sandbox and configuration of issue 15 (customers, agents, ticket comments)."""

import time
from collections import Counter
from datetime import datetime, timezone

from support_assets.defs.metrics import DBT_PROJECT_DIR
from support_assets_tests.helpers import DAGSTER, rows, run_cli
from support_assets_tests.helpers.secret_scan import leaks_in_files, leaks_in_text


def test_materialize_everything_syncs_then_builds_the_metrics(cli_env, tmp_path, api_key):
    started = time.time()
    result = run_cli(
        [DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"], cli_env, timeout=600
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_metrics_match_the_synced_rows(tmp_path / "support.duckdb")

    # dbt-core is not in this process (.venv-dbt): dagster-dbt's warning about it is not shown.
    assert "handle to the dbt adapter" not in result.stdout + result.stderr
    # The key never reaches the CLI's output nor the files dbt wrote for this run.
    assert not leaks_in_text(api_key, result.stdout + result.stderr)
    this_run = [p for p in (DBT_PROJECT_DIR / "target").iterdir() if p.is_dir() and p.stat().st_mtime >= started]
    assert this_run  # dagster-dbt's target folder of this run
    assert not leaks_in_files(api_key, *this_run)


def as_time(value) -> datetime:
    """A timestamp column as an aware datetime, also where it landed as ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def assert_metrics_match_the_synced_rows(db) -> None:
    tickets = {
        ticket_id: (customer_id, created_at, status)
        for ticket_id, customer_id, created_at, status in rows(
            db, "select id, customer_id, created_at, status from support_api.customer_support_data"
        )
    }
    comments = rows(db, "select ticket_id, author_type, created_at from support_api.ticket_comments")
    assert tickets and comments

    first_reply: dict[int, float] = {}
    for ticket_id, author_type, created_at in comments:
        opened = as_time(tickets[ticket_id][1])
        if author_type == "agent" and as_time(created_at) >= opened:
            hours = (as_time(created_at) - opened).total_seconds() / 3600
            first_reply[ticket_id] = min(hours, first_reply.get(ticket_id, hours))
    per_ticket = {
        ticket_id: (first, count)
        for ticket_id, first, count in rows(
            db, "select ticket_id, first_reply_hours, comments from support_metrics.ticket_metrics"
        )
    }
    assert set(per_ticket) == set(tickets)
    comment_counts = Counter(ticket_id for ticket_id, _, _ in comments)
    for ticket_id, (first, count) in per_ticket.items():
        assert count == comment_counts[ticket_id]
        expected = first_reply.get(ticket_id)
        assert (first is None) == (expected is None), ticket_id
        if expected is not None:
            assert abs(first - expected) < 1e-6, ticket_id
    assert first_reply  # the sandbox's agents answer some tickets

    tickets_per_customer = Counter(customer_id for customer_id, _, _ in tickets.values())
    customers = rows(db, "select id from support_api.customers")
    per_customer = dict(rows(db, "select customer_id, tickets from support_metrics.customer_metrics"))
    assert set(per_customer) == {customer_id for (customer_id,) in customers}
    assert all(per_customer[c] == tickets_per_customer.get(c, 0) for c in per_customer)

    [(today, backlog)] = rows(
        db, "select day, backlog from support_metrics.daily_ticket_metrics order by day desc limit 1"
    )
    assert today == datetime.now(timezone.utc).date()
    assert backlog == sum(1 for _, _, status in tickets.values() if status not in ("solved", "closed"))
