"""Every resource of the config file through the dlt source alone, over HTTP against the sandbox,
into a DuckDB file with a plain `dlt.pipeline`: each paginator (offset, page_number, json_link,
header_link) reads every record once; a child's requests follow its parent's sync; flagged
deletions; validation, retries and key masking on paths that are not offset-paginated; the probe
per paginator; and the verified-source `support_api()`."""

import logging
import math
import re

import dlt
import duckdb
import pytest

from support_assets.sandbox import Fault, SandboxServer
from support_assets.sources import support_api, support_api_source
from support_assets.sources.config_file import ENDPOINTS
from support_assets.sources.http_session import http_session
from support_assets.sources.probe import count_changed
from support_assets.sources.progress import SyncProgress
from support_assets.sources.settings import RETRY, Endpoint
from support_assets.sources.sync_plan import SyncPlan, SyncType, parse_time
from support_assets_tests.helpers.secret_scan import leaks_in_files, leaks_in_text

TICKETS, CUSTOMERS, AGENTS, COMMENTS = (e.name for e in ENDPOINTS)
BY_NAME = {e.name: e for e in ENDPOINTS}
COMMENTS_PATH = "/v1/resource/*/comments"
INCREMENTAL = SyncPlan(SyncType.incremental)
FULL_REFRESH = SyncPlan(SyncType.full_refresh)


def variant(name: str, **endpoint_changes) -> Endpoint:
    """A resource of the shipped file with some of its `endpoint` keys changed."""
    resource = dict(BY_NAME[name].resource)
    resource["endpoint"] = {**resource["endpoint"], **endpoint_changes}
    return Endpoint(resource)


@pytest.fixture
def api(api_key):
    with SandboxServer(api_key=api_key, records=120, customers=230, agents=210) as server:
        yield server


def pipeline(tmp_path, name="collections") -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
        dataset_name="support_api",
        pipelines_dir=str(tmp_path / "dlt"),
    )


def sync(tmp_path, api, key, endpoints=ENDPOINTS, **kwargs):
    source = support_api_source(api.url, key, endpoints, **kwargs)
    return pipeline(tmp_path).run(source, loader_file_format="parquet")


def table(tmp_path, name, columns="id", order="order by id"):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        return db.sql(f"select {columns} from support_api.{name} {order}").fetchall()


def ids(tmp_path, name) -> list[int]:
    return [row[0] for row in table(tmp_path, name)]


def commented_tickets(api) -> set[int]:
    """The tickets whose comments were requested, from the sandbox's request log."""
    return {int(re.search(r"/(\d+)/", r.path).group(1)) for r in api.requests.matching(COMMENTS_PATH)}


def served(api, path) -> list:
    return [r for r in api.requests.matching(path) if r.status == 200]


def test_every_paginator_reads_every_record_exactly_once(api, api_key, tmp_path):
    # Two comments a page, so that tickets with 3 to 5 comments follow Link headers.
    endpoints = [*ENDPOINTS[:3], variant(COMMENTS, params={"per_page": 2})]

    sync(tmp_path, api, api_key, endpoints)

    tickets = api.stores[TICKETS].all_records()
    comments = [c for t in tickets for c in api.stores[COMMENTS].comments(t["id"])]
    assert ids(tmp_path, TICKETS) == sorted(r["id"] for r in tickets)
    assert ids(tmp_path, CUSTOMERS) == list(range(1, 231))
    assert ids(tmp_path, AGENTS) == list(range(1, 211))
    assert ids(tmp_path, COMMENTS) == sorted(c["id"] for c in comments)
    assert len(comments) > len(tickets)  # tickets with several pages of comments among them
    # Each record was served once: as many served as landed, page by page.
    for path, count, pages in [
        ("/v1/customers", 230, 3), ("/v1/agents", 210, 3), (COMMENTS_PATH, len(comments), None),
    ]:
        responses = served(api, path)
        assert sum(r.records for r in responses) == count, path
        if pages:
            assert len(responses) == pages, path
    assert [r.params["page"] for r in served(api, "/v1/customers")] == ["1", "2", "3"]
    # One request per page of a ticket's comments: ceil(comments / 2), at least one.
    per_ticket = {t["id"]: len(api.stores[COMMENTS].comments(t["id"])) for t in tickets}
    assert len(served(api, COMMENTS_PATH)) == sum(max(1, math.ceil(n / 2)) for n in per_ticket.values())


def test_an_incremental_sync_requests_only_the_changed_tickets_comments(api, api_key, tmp_path):
    sync(tmp_path, api, api_key, plan=INCREMENTAL)
    assert commented_tickets(api) == {t["id"] for t in api.stores[TICKETS].all_records()}
    newest = max(t["updated_at"] for t in api.stores[TICKETS].all_records())
    at_the_cursor = {t["id"] for t in api.stores[TICKETS].all_records() if t["updated_at"] == newest}
    api.stores[COMMENTS].add({"ticket_id": 7, "body": "Danke schön, erledigt"})
    api.stores[TICKETS].update(12, subject="changed")
    api.requests.clear()

    sync(tmp_path, api, api_key, plan=INCREMENTAL)

    # The changed tickets, and those at the stored cursor (dlt re-reads its boundary).
    assert commented_tickets(api) == {7, 12} | at_the_cursor
    bodies = [b for (b,) in table(tmp_path, COMMENTS, "body") if b]
    assert "Danke schön, erledigt" in bodies


def test_a_full_refresh_requests_every_tickets_comments_and_replaces_them(api, api_key, tmp_path):
    sync(tmp_path, api, api_key, plan=INCREMENTAL)
    before = ids(tmp_path, COMMENTS)
    api.stores[TICKETS].delete(5)  # its comments go with it
    gone = {c["id"] for c in api.stores[COMMENTS].comments(6)}
    api.stores[TICKETS].delete(6)
    api.requests.clear()

    sync(tmp_path, api, api_key, plan=FULL_REFRESH)

    tickets = {t["id"] for t in api.stores[TICKETS].all_records()}
    assert commented_tickets(api) == tickets
    expected = sorted(c["id"] for t in sorted(tickets) for c in api.stores[COMMENTS].comments(t))
    assert ids(tmp_path, COMMENTS) == expected
    assert gone and gone <= set(before) and not gone & set(expected)


def test_a_flagged_customer_is_deleted_by_the_merge_and_left_out_by_a_full_refresh(api, api_key, tmp_path):
    customers = [BY_NAME[CUSTOMERS]]
    sync(tmp_path, api, api_key, customers, plan=INCREMENTAL)
    assert 3 in ids(tmp_path, CUSTOMERS)
    api.stores[CUSTOMERS].soft_delete(3)

    sync(tmp_path, api, api_key, customers, plan=INCREMENTAL)

    assert ids(tmp_path, CUSTOMERS) == [i for i in range(1, 231) if i != 3]
    api.stores[CUSTOMERS].soft_delete(5)

    sync(tmp_path, api, api_key, customers, plan=FULL_REFRESH)

    assert ids(tmp_path, CUSTOMERS) == [i for i in range(1, 231) if i not in (3, 5)]
    assert table(tmp_path, CUSTOMERS, "count(deleted_at)", order="") == [(0,)]


def test_bad_records_on_a_next_link_path_fail_naming_the_resource_field_and_record(api, api_key, tmp_path):
    api.faults.add(Fault(path="/v1/agents", body=b'{"data": [{"id": 1, "active": "sometimes"}], "next": null}'))

    with pytest.raises(Exception) as failure:
        sync(tmp_path, api, api_key, [BY_NAME[AGENTS]])

    message = str(failure.value)
    assert "agents (GET /v1/agents): record id=1: `active` is text; the schema declares bool" in message
    assert "sometimes" not in message
    assert not (tmp_path / "warehouse.duckdb").exists() or not table_exists(tmp_path, AGENTS)


def test_a_page_number_response_without_its_page_count_fails_clearly(api, api_key, tmp_path):
    api.faults.add(Fault(path="/v1/customers", body=b'{"data": [{"id": 1, "name": "Zo\\u00eb"}], "page": 1}'))

    with pytest.raises(Exception) as failure:
        sync(tmp_path, api, api_key, [BY_NAME[CUSTOMERS]])

    assert "customers (GET /v1/customers, page 1): the body has no `total_pages`" in str(failure.value)
    assert "Zo" not in str(failure.value)


def table_exists(tmp_path, name) -> bool:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        return bool(db.sql(
            f"select 1 from information_schema.tables where table_schema = 'support_api' and table_name = '{name}'"
        ).fetchall())


def test_progress_lines_for_pages_of_every_paginator(api, api_key, tmp_path):
    lines = []
    progress = SyncProgress(log=lines.append, log_every=0)

    sync(tmp_path, api, api_key, progress=progress)

    assert progress.endpoints[CUSTOMERS].pages == 3 and progress.endpoints[CUSTOMERS].records == 230
    assert progress.endpoints[AGENTS].pages == 3 and progress.endpoints[AGENTS].records == 210
    assert progress.endpoints[COMMENTS].pages == 120  # one page per ticket
    assert "agents: all pages fetched (3 pages, 210 records)" in lines
    assert "customers: all pages fetched (3 pages, 230 records)" in lines
    assert "customer_support_data: all pages fetched (2 pages, 120 of 120 records)" in lines


def test_retries_and_key_masking_on_page_number_next_link_and_child_paths(api, api_key, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    waits = []
    progress = SyncProgress()
    session = http_session(RETRY, progress, sleep=waits.append)
    api.faults.add(Fault(path="/v1/customers", status=503, retry_after="1", times=2))
    api.faults.add(Fault(path="/v1/resource/9/comments", status=502, times=1))

    sync(tmp_path, api, api_key, session=session, progress=progress)

    assert progress.retries == 3 and waits == [1, 1, 2]  # Retry-After twice, then the backoff's 2 s
    assert [r.status for r in api.requests.matching("/v1/customers")][:3] == [503, 503, 200]
    assert [r.status for r in api.requests.matching("/v1/resource/9/comments")] == [502, 200]
    assert len(ids(tmp_path, CUSTOMERS)) == 230
    api.faults.add(Fault(path="/v1/agents", status=500, times=None))  # persistent
    api.requests.clear()

    with pytest.raises(Exception) as failure:
        sync(tmp_path, api, api_key, [BY_NAME[AGENTS]], session=session)

    assert "the API answered 500 Internal Server Error for GET /v1/agents (tried 4 times)" in str(failure.value)
    assert [r.status for r in api.requests.matching("/v1/agents")] == [500] * 4
    # 429/5xx only: a 404 on a child path is not retried.
    api.faults.add(Fault(path=COMMENTS_PATH, status=404, times=None))
    with pytest.raises(Exception) as not_found:
        sync(tmp_path, api, api_key, [BY_NAME[TICKETS], BY_NAME[COMMENTS]], session=session)
    assert "404 Not Found for GET /v1/resource/1/comments" in str(not_found.value)
    assert [r.status for r in api.requests.matching(COMMENTS_PATH)] == [404]
    # The sentinel key is nowhere: errors, logs, output, files of the runs.
    output = capsys.readouterr()
    texts = [str(failure.value), repr(failure.value), str(not_found.value), caplog.text, output.out, output.err]
    assert not [t for t in texts if leaks_in_text(api_key, t)]
    assert leaks_in_files(api_key, tmp_path) == []
    # The key did go out, as the api_key parameter of every request.
    assert {r.params.get("api_key") for r in api.requests} == {api_key}


def test_the_probe_asks_for_one_record_whatever_the_paginator(api, api_key):
    since = "2000-01-01T00:00:00Z"
    assert count_changed(api.url, api_key, BY_NAME[TICKETS], since) == 120
    assert count_changed(api.url, api_key, BY_NAME[CUSTOMERS], since) == 230
    api.stores[CUSTOMERS].update(17, plan="team")
    changed = api.stores[CUSTOMERS].get(17)["updated_at"]
    assert count_changed(api.url, api_key, BY_NAME[CUSTOMERS], changed) == 1
    # A next-link API with a cursor parameter: the page of (at most) one record tells.
    agents = variant(AGENTS, incremental={"cursor_path": "updated_at", "start_param": "updated_since"})
    assert count_changed(api.url, api_key, agents, since) == 1
    probes = [r for r in api.requests if r.path != "/v1/resource" or "offset" in r.params]
    assert [(r.path, r.params.get("limit") or r.params.get("per_page")) for r in probes] == [
        ("/v1/resource", "1"), ("/v1/customers", "1"), ("/v1/customers", "1"), ("/v1/agents", "1"),
    ]
    assert api.requests.matching("/v1/customers")[0].params["page"] == "1"
    with pytest.raises(ValueError, match="agents: the probe needs"):
        count_changed(api.url, api_key, BY_NAME[AGENTS], since)


def test_the_verified_source_loads_all_four_resources(api, api_key, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCES__SUPPORT_API__BASE_URL", api.url)
    monkeypatch.setenv("SOURCES__SUPPORT_API__API_KEY", api_key)
    api.stores[CUSTOMERS].soft_delete(4)

    info = pipeline(tmp_path).run(support_api(), loader_file_format="parquet")

    assert not info.has_failed_jobs
    assert len(ids(tmp_path, TICKETS)) == 120
    assert ids(tmp_path, CUSTOMERS) == [i for i in range(1, 231) if i != 4]
    assert len(ids(tmp_path, AGENTS)) == 210
    assert {t for (t,) in table(tmp_path, COMMENTS, "ticket_id")} <= set(ids(tmp_path, TICKETS))
    assert table(tmp_path, AGENTS, "name, role, active")[0][1] in ("agent", "admin")
    assert leaks_in_files(api_key, tmp_path) == []


def test_a_child_alone_reads_its_parent_without_loading_it(api, api_key, tmp_path):
    sync(tmp_path, api, api_key, resources=[COMMENTS], plan=INCREMENTAL)

    assert table_exists(tmp_path, COMMENTS) and not table_exists(tmp_path, TICKETS)
    assert commented_tickets(api) == {t["id"] for t in api.stores[TICKETS].all_records()}


def test_a_child_alone_keeps_its_parents_cursor_in_its_own_pipelines_state(api, api_key, tmp_path):
    # dlt runs the parent's incremental step to feed the child, and stores the parent's cursor
    # in the state of the pipeline that loads only the child: its next sync asks for the
    # comments of the changed tickets only.
    sync(tmp_path, api, api_key, resources=[COMMENTS], plan=INCREMENTAL)
    newest = max(t["updated_at"] for t in api.stores[TICKETS].all_records())
    at_the_cursor = {t["id"] for t in api.stores[TICKETS].all_records() if t["updated_at"] == newest}
    api.stores[COMMENTS].add({"ticket_id": 30})
    api.requests.clear()
    pipeline(tmp_path).drop()  # as dagster-dlt does: the state comes back from the destination

    sync(tmp_path, api, api_key, resources=[COMMENTS], plan=INCREMENTAL)

    assert commented_tickets(api) == {30} | at_the_cursor
    state = pipeline(tmp_path).state["sources"]["support_api"]["resources"]
    assert set(state) == {TICKETS}
    assert state[TICKETS]["incremental"]["updated_at"]["last_value"] > newest


def test_a_backfill_windows_the_resources_with_a_cursor_and_reads_the_others_whole(api, api_key, tmp_path):
    tickets = sorted(api.stores[TICKETS].all_records(), key=lambda t: t["updated_at"])
    start, end = tickets[20]["updated_at"], tickets[60]["updated_at"]
    plan = SyncPlan(SyncType.backfill, start=parse_time(start), end=parse_time(end))

    sync(tmp_path, api, api_key, [BY_NAME[TICKETS], BY_NAME[AGENTS]], plan=plan)

    assert ids(tmp_path, TICKETS) == sorted(t["id"] for t in tickets if start <= t["updated_at"] < end)
    assert {(r.params.get("updated_since"), r.params.get("updated_before")) for r in served(api, "/v1/resource")} == {
        (start, end)
    }
    assert ids(tmp_path, AGENTS) == list(range(1, 211))  # no cursor: read whole, merged
    assert all("updated_since" not in r.params for r in served(api, "/v1/agents"))


def test_the_arrow_path_skips_a_parent_that_feeds_its_child_in_the_same_source(api, api_key, tmp_path, monkeypatch):
    from support_assets.sources.arrow_pages import ArrowRecords

    tables = []
    to_arrow = ArrowRecords.to_arrow
    monkeypatch.setattr(ArrowRecords, "to_arrow", lambda self, records, load_id: tables.append(
        self.arrow_schema.names[0:2]) or to_arrow(self, records, load_id))

    sync(tmp_path / "together", api, api_key, [BY_NAME[TICKETS], BY_NAME[COMMENTS]])
    assert tables == []  # the tickets feed the comments: records, through dlt's normalizer
    sync(tmp_path / "alone", api, api_key, [BY_NAME[TICKETS], BY_NAME[COMMENTS]], resources=[TICKETS])
    assert tables and all(names == ["id", "customer_id"] for names in tables)  # the tickets' columns
    assert ids(tmp_path / "together", TICKETS) == ids(tmp_path / "alone", TICKETS)


def test_a_ticket_deleted_before_its_comments_are_read_is_skipped_and_counted(api, api_key, tmp_path):
    # The sandbox answers 404 for the comments of a ticket that no longer exists.
    api.faults.add(Fault(path="/v1/resource/9/comments", status=404))
    lines = []
    progress = SyncProgress(log=lines.append)

    sync(tmp_path, api, api_key, [BY_NAME[TICKETS], BY_NAME[COMMENTS]], progress=progress)

    expected = {c["id"] for t in range(1, 121) if t != 9 for c in api.stores[COMMENTS].comments(t)}
    assert set(ids(tmp_path, COMMENTS)) == expected
    assert progress.endpoints[COMMENTS].parents_gone == 1
    assert ("ticket_comments: GET /v1/resource/9/comments answered 404 Not Found: its parent record is gone"
            " upstream; skipped") in lines
