"""The sandbox's customers, agents and ticket comments, over real HTTP: each paginator walked
to the end, filters, auth, soft deletes, comments that bump their ticket, per-path faults."""

from __future__ import annotations

import pytest
import requests

from support_assets.sandbox import Fault, SandboxServer
from support_assets.sandbox import data
from support_assets.sandbox.data import CUSTOMER_IDS, DEFAULT_AGENTS, format_ts
from support_assets_tests.helpers.secret_scan import leaks_in_text

API_KEY = "sentinel-key-3c9e7d21"
BASE_END = format_ts(data.BASE_END)
COMMENTS = "/v1/resource/*/comments"


@pytest.fixture
def server():
    with SandboxServer(API_KEY, records=120, customers=230, agents=DEFAULT_AGENTS) as srv:
        yield srv


def get(srv: SandboxServer, path: str, **params) -> requests.Response:
    params.setdefault("api_key", API_KEY)
    return requests.get(srv.url + path, params=params, timeout=10)


def follow(url: str) -> requests.Response:
    """A next link as a client follows it: the link plus the client's own key."""
    assert not leaks_in_text(API_KEY, url)
    return requests.get(url, params={"api_key": API_KEY}, timeout=10)


def customer_pages(srv: SandboxServer, per_page: int, **params) -> list[dict]:
    """Every page by number until total_pages, checking each page's numbers."""
    bodies, page = [], 1
    while True:
        body = get(srv, "/v1/customers", page=page, per_page=per_page, **params).json()
        assert (body["page"], body["per_page"]) == (page, per_page)
        assert body["total_pages"] == -(-body["total"] // per_page)
        bodies.append(body)
        if page >= body["total_pages"]:
            return bodies
        page += 1


def agent_pages(srv: SandboxServer, limit: int) -> list[dict]:
    bodies = [get(srv, "/v1/agents", limit=limit).json()]
    while bodies[-1]["next"]:
        bodies.append(follow(bodies[-1]["next"]).json())
    return bodies


def comment_pages(srv: SandboxServer, ticket_id: int, per_page: int) -> list[requests.Response]:
    responses = [get(srv, f"/v1/resource/{ticket_id}/comments", per_page=per_page)]
    while "next" in responses[-1].links:
        responses.append(follow(responses[-1].links["next"]["url"]))
    assert all(r.status_code == 200 for r in responses)
    return responses


def comments_of(srv: SandboxServer, ticket_id: int, per_page: int = 100) -> list[dict]:
    return [c for r in comment_pages(srv, ticket_id, per_page) for c in r.json()["data"]]


def ids(records: list[dict]) -> list[int]:
    return [r["id"] for r in records]


# --- auth and routing ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/resource", "/v1/customers", "/v1/agents", "/v1/resource/1/comments"])
@pytest.mark.parametrize("params", [{}, {"api_key": "wrong"}, {"page": "1"}])
def test_every_route_requires_the_key(server, path, params):
    response = requests.get(server.url + path, params=params, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid or missing api_key"}


@pytest.mark.parametrize("path", ["/v1/resource/121/comments", "/v1/resource/0/comments",
                                  "/v1/resource/abc/comments", "/v1/resource/1/comments/2"])
def test_comments_of_an_unknown_ticket_are_404(server, path):
    response = get(server, path)
    assert response.status_code == 404 and "error" in response.json()


def test_comments_of_a_deleted_ticket_are_404(server):
    assert get(server, "/v1/resource/5/comments").status_code == 200
    server.store.delete(5)
    assert get(server, "/v1/resource/5/comments").status_code == 404


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/customers", {"page": "0"}), ("/v1/customers", {"page": "x"}), ("/v1/customers", {"page": "1", "per_page": "0"}),
    ("/v1/customers", {"page": "1", "updated_since": "yesterday"}),
    ("/v1/agents", {"cursor": "not a cursor"}), ("/v1/agents", {"limit": "0"}),
    ("/v1/resource/1/comments", {"page": "0"}), ("/v1/resource/1/comments", {"per_page": "many"}),
])
def test_bad_parameters_are_400(server, path, params):
    response = get(server, path, **params)
    assert response.status_code == 400 and "error" in response.json()


# --- customers: page numbers ------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 7, 100, 230, 1000])
def test_customer_pages_by_number_give_every_customer_once(server, per_page):
    bodies = customer_pages(server, per_page)
    assert ids([c for b in bodies for c in b["data"]]) == list(range(1, 231))
    assert {b["total"] for b in bodies} == {230}
    beyond = get(server, "/v1/customers", page=len(bodies) + 1, per_page=per_page).json()
    assert beyond["data"] == [] and beyond["total_pages"] == len(bodies)


def test_customers_keep_the_offset_shape_without_page(server):
    body = get(server, "/v1/customers", offset=200, limit=50).json()
    assert set(body) == {"data", "total", "offset", "limit"}
    assert ids(body["data"]) == list(range(201, 231)) and body["total"] == 230


def test_customer_pages_filter_by_updated_at(server):
    everyone = server.stores["customers"].all_records()
    since, before = format_ts(data.BASE_END - 300 * 86400), format_ts(data.BASE_END - 100 * 86400)
    expected = [c for c in everyone if since <= c["updated_at"] < before]
    assert 0 < len(expected) < len(everyone)
    bodies = customer_pages(server, 10, updated_since=since, updated_before=before)
    assert [c for b in bodies for c in b["data"]] == expected
    assert bodies[0]["total"] == len(expected) and len(bodies) == -(-len(expected) // 10)
    empty = get(server, "/v1/customers", page=1, updated_since="2100-01-01T00:00:00Z").json()
    assert empty == {"data": [], "page": 1, "per_page": 100, "total": 0, "total_pages": 0}


def test_customers_have_unicode_names_null_emails_and_no_deletions_at_first(server):
    customers = server.stores["customers"].all_records()
    assert set(customers[0]) == {"id", "name", "email", "plan", "created_at", "updated_at", "deleted_at"}
    assert any(not c["name"].isascii() for c in customers)
    assert any(c["email"] is None for c in customers)
    assert all(c["deleted_at"] is None for c in customers)
    # UTF-8 on the wire, and decoded by any JSON client to the same text.
    response = get(server, "/v1/customers", page=1, per_page=230)
    assert response.json()["data"] == customers
    assert any(c["name"].encode() in response.content for c in customers if not c["name"].isascii())


def test_soft_deleted_customer_is_flagged_still_served_and_seen_incrementally(server):
    records = "/_sandbox/records/customers"
    flagged = requests.post(server.url + records, json={"soft_delete": {"id": 42}}, timeout=10).json()["record"]
    assert flagged["deleted_at"] == flagged["updated_at"] > BASE_END
    data.parse_ts(flagged["deleted_at"])  # an ISO timestamp
    served = [c for b in customer_pages(server, 50) for c in b["data"]]
    assert len(served) == 230 and served[41] == flagged
    changed = customer_pages(server, 50, updated_since=format_ts(data.BASE_END + 1))
    assert changed[0]["data"] == [flagged] and changed[0]["total"] == 1


def test_by_default_every_tickets_customer_exists():
    with SandboxServer(API_KEY, records=300) as srv:
        customers = srv.stores["customers"]
        assert customers.total == CUSTOMER_IDS
        assert all(customers.exists(t["customer_id"]) for t in srv.store.all_records())
        assert srv.stores["agents"].total == DEFAULT_AGENTS


# --- agents: a next link in the body -----------------------------------------------------


@pytest.mark.parametrize("limit", [1, 4, 25, 100])
def test_agent_next_links_give_every_agent_once(server, limit):
    bodies = agent_pages(server, limit)
    assert ids([a for b in bodies for a in b["data"]]) == list(range(1, DEFAULT_AGENTS + 1))
    assert len(bodies) == -(-DEFAULT_AGENTS // limit) and bodies[-1]["next"] is None
    assert all(b["next"].startswith(server.url + "/v1/agents?") for b in bodies[:-1])


def test_agents_shape_and_unicode(server):
    agents = [a for b in agent_pages(server, 100) for a in b["data"]]
    assert set(agents[0]) == {"id", "name", "email", "role", "active", "created_at", "updated_at"}
    assert {a["role"] for a in agents} == {"agent", "admin"}
    assert {a["active"] for a in agents} == {True, False}
    assert any(not a["name"].isascii() for a in agents)
    assert all(a["email"] and a["created_at"] <= a["updated_at"] <= BASE_END for a in agents)


def test_agent_next_link_uses_the_host_the_client_used(server):
    port = server.url.rsplit(":", 1)[1]
    body = requests.get(f"http://localhost:{port}/v1/agents", params={"api_key": API_KEY, "limit": 5}, timeout=10).json()
    assert body["next"].startswith(f"http://localhost:{port}/v1/agents?")


def test_agent_cursor_holds_its_place_when_agents_change_between_pages(server):
    first = get(server, "/v1/agents", limit=10).json()
    server.stores["agents"].delete(10)  # the last one served
    server.stores["agents"].delete(11)
    server.stores["agents"].add(1)
    rest = follow(first["next"]).json()
    assert ids(rest["data"]) == list(range(12, 22))
    last = follow(rest["next"]).json()
    assert ids(last["data"]) == [22, 23, 24, 25, 26] and last["next"] is None


# --- ticket comments: Link header ---------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 2, 100])
def test_comment_link_headers_give_every_comment_once(server, per_page):
    everything = []
    for ticket_id in range(1, 121):
        responses = comment_pages(server, ticket_id, per_page)
        comments = [c for r in responses for c in r.json()["data"]]
        assert comments == server.stores["ticket_comments"].comments(ticket_id)
        assert len(responses) == max(1, -(-len(comments) // per_page))
        assert "Link" not in responses[-1].headers
        everything += comments
    assert len(set(ids(everything))) == len(everything)


def test_comments_follow_their_ticket(server):
    tickets = {t["id"]: t for t in server.store.all_records()}
    counts = []
    for ticket_id, ticket in tickets.items():
        comments = comments_of(server, ticket_id)
        counts.append(len(comments))
        assert all(c["ticket_id"] == ticket_id for c in comments)
        if not comments:
            continue
        assert comments[0]["created_at"] == ticket["created_at"]
        alternating = ["customer", "agent", "customer", "agent", "customer"]
        assert [c["author_type"] for c in comments] == alternating[:len(comments)]
        times = [c["created_at"] for c in comments]
        assert times == sorted(set(times)) and times[-1] <= ticket["updated_at"]
        for c in comments:
            if c["author_type"] == "customer":
                assert c["author_id"] == ticket["customer_id"] and c["public"] is True
            else:
                assert 1 <= c["author_id"] <= DEFAULT_AGENTS
    assert set(counts) == {0, 1, 2, 3, 4, 5}


def test_comments_have_unicode_and_null_bodies_and_are_deterministic(server):
    comments = [c for t in range(1, 121) for c in comments_of(server, t)]
    assert set(comments[0]) == {"id", "ticket_id", "author_id", "author_type", "body", "public", "created_at"}
    assert any(c["body"] is None for c in comments)
    assert any(c["body"] and not c["body"].isascii() for c in comments)
    assert {c["public"] for c in comments} == {True, False}
    with SandboxServer("other-key", records=120) as other:
        again = requests.get(other.url + "/v1/resource/7/comments", params={"api_key": "other-key"}, timeout=10)
    assert again.json()["data"] == comments_of(server, 7)


def test_comments_of_100k_tickets_are_made_per_ticket_when_read():
    with SandboxServer(API_KEY, records=100_000) as srv:
        last = comments_of(srv, 100_000)
        assert last == srv.stores["ticket_comments"].comments(100_000)
        assert all(c["id"] > 99_999 * 5 for c in last)


def test_adding_a_comment_bumps_its_ticket(server):
    before = comments_of(server, 9)
    response = requests.post(server.url + "/_sandbox/records/ticket_comments",
                             json={"add": {"ticket_id": 9, "body": "Still broken — ¿alguna novedad?"}}, timeout=10)
    assert response.status_code == 200
    added = response.json()["record"]
    ticket = server.store.get(9)
    assert added["created_at"] == ticket["updated_at"] > BASE_END
    assert added["author_type"] == "customer" and added["author_id"] == ticket["customer_id"]
    assert added["id"] > 120 * 5 and comments_of(server, 9) == before + [added]
    # An incremental read of the tickets sees exactly that ticket again.
    changed = get(server, "/v1/resource", updated_since=format_ts(data.BASE_END + 1)).json()
    assert changed["data"] == [ticket]
    by_agent = requests.post(server.url + "/_sandbox/records/ticket_comments", json={"add": {
        "ticket_id": 9, "author_type": "agent", "author_id": 3, "public": False}}, timeout=10).json()["record"]
    assert by_agent["id"] == added["id"] + 1 and by_agent["created_at"] > added["created_at"]


def test_a_new_ticket_has_no_comments_until_one_is_added(server):
    ticket = server.store.add(1)[0]
    assert comments_of(server, ticket["id"]) == []
    added = server.stores["ticket_comments"].add({"ticket_id": ticket["id"]})
    assert comments_of(server, ticket["id"]) == [added]


@pytest.mark.parametrize(("payload", "status"), [
    ({"add": {"ticket_id": 999}}, 404), ({"add": {}}, 400), ({"add": 3}, 400),
    ({"add": {"ticket_id": 1, "id": 5}}, 400), ({"add": {"ticket_id": 1, "created_at": "soon"}}, 400),
])
def test_bad_comment_additions_are_refused_and_change_nothing(server, payload, status):
    response = requests.post(server.url + "/_sandbox/records/ticket_comments", json=payload, timeout=10)
    assert response.status_code == status
    assert get(server, "/v1/resource", updated_since=format_ts(data.BASE_END + 1)).json()["total"] == 0


# --- faults and the request log per path -------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 404, 401])
def test_a_persistent_fault_on_a_path_pattern_fails_only_that_path(server, status):
    server.faults.add(Fault(status=status, path=COMMENTS, times=None))
    for ticket_id in (1, 2, 3, 1):
        assert get(server, f"/v1/resource/{ticket_id}/comments").status_code == status
    assert get(server, "/v1/resource").status_code == 200
    assert get(server, "/v1/customers", page=1).status_code == 200
    assert get(server, "/v1/agents").status_code == 200
    assert len(server.faults) == 1  # still pending
    server.faults.clear()
    assert get(server, "/v1/resource/1/comments").status_code == 200


def test_bad_data_on_one_path_over_the_control_api(server):
    fault = {"body": '{"data": [{"id": "not a number"', "path": "/v1/agents", "times": None}
    assert requests.post(server.url + "/_sandbox/faults", json=fault, timeout=10).status_code == 200
    for _ in range(2):
        response = get(server, "/v1/agents")
        assert response.status_code == 200 and response.content == fault["body"].encode()
    assert get(server, "/v1/customers", page=1).json()["total"] == 230
    assert get(server, "/v1/resource/1/comments").status_code == 200


def test_request_log_counts_requests_per_path(server):
    for ticket_id in (3, 4, 5):
        comments_of(server, ticket_id, per_page=1)
    get(server, "/v1/agents")
    logged = server.requests.matching(COMMENTS)
    expected = sum(max(1, len(server.stores["ticket_comments"].comments(t))) for t in (3, 4, 5))
    assert len(logged) == expected and {r.path for r in logged} == {f"/v1/resource/{t}/comments" for t in (3, 4, 5)}
    assert [r.path for r in server.requests.matching("/v1/agents")] == ["/v1/agents"]
    log = requests.get(server.url + "/_sandbox/requests", timeout=10)
    assert [e["path"] for e in log.json()] == [r.path for r in server.requests]
    assert not leaks_in_text(API_KEY, log.text)


# --- the shapes dlt's rest_api paginators expect -------------------------------------------


def test_dlt_rest_api_paginators_read_every_collection_exactly_once(server):
    from dlt.sources.rest_api import rest_api_source

    def resource(name, path, paginator, **params):
        return {"name": name, "endpoint": {"path": path, "data_selector": "data", "params": params,
                                           "paginator": paginator}}

    source = rest_api_source({
        "client": {"base_url": server.url,
                   "auth": {"type": "api_key", "name": "api_key", "api_key": API_KEY, "location": "query"}},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            resource("customer_support_data", "/v1/resource", {"type": "offset", "limit": 50}),
            resource("customers", "/v1/customers", {"type": "page_number", "base_page": 1, "total_path": "total_pages"},
                     per_page=50),
            resource("agents", "/v1/agents", {"type": "json_link", "next_url_path": "next"}, limit=10),
            resource("ticket_comments", "/v1/resource/{resources.customer_support_data.id}/comments", "header_link",
                     per_page=2),
        ],
    })
    comments = [c for t in range(1, 121) for c in server.stores["ticket_comments"].comments(t)]
    expected = {"customers": list(range(1, 231)), "agents": list(range(1, 26)), "ticket_comments": ids(comments)}
    for name, want in expected.items():
        got = ids(list(source.with_resources(name)))
        assert sorted(got) == want, name
    # Every request carried the key exactly once: next links leave it to the client.
    assert all(list(r.params).count("api_key") == 1 and r.status == 200 for r in server.requests)
    assert len(server.requests.matching("/v1/agents")) == 3
