"""Tests for the offline support API sandbox, over real HTTP."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
import requests

from support_assets.sandbox import Fault, SandboxServer
from support_assets.sandbox import data
from support_assets.sandbox.data import format_ts, make_record
from support_assets.sandbox.store import RecordStore

API_KEY = "test-key-5f0c2a9e"
BASE_END = format_ts(data.BASE_END)


@pytest.fixture
def server():
    with SandboxServer(API_KEY, records=250, customers=20) as srv:
        yield srv


def get(srv: SandboxServer, path: str = "/v1/resource", **params) -> requests.Response:
    params.setdefault("api_key", API_KEY)
    return requests.get(srv.url + path, params=params, timeout=10)


def fetch_all(srv: SandboxServer, path: str = "/v1/resource", **params) -> list[dict]:
    records, offset = [], 0
    while True:
        body = get(srv, path, offset=offset, limit=100, **params).json()
        records += body["data"]
        offset += 100
        if offset >= body["total"]:
            return records


def control(srv: SandboxServer, path: str, payload: dict | None = None) -> requests.Response:
    if payload is None:
        return requests.get(srv.url + path, timeout=10)
    return requests.post(srv.url + path, json=payload, timeout=10)


# --- auth and routing ---------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"api_key": "wrong"}, {"api_key": ""}])
def test_rejects_missing_or_wrong_key(server, params):
    response = requests.get(server.url + "/v1/resource", params=params, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid or missing api_key"}
    assert server.requests[-1].status == 401


def test_unknown_path_is_404_json(server):
    response = get(server, "/v2/nope")
    assert response.status_code == 404
    assert "error" in response.json()


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection(*urlsplit(server.url).netloc.split(":"))
    for _ in range(3):
        conn.request("GET", f"/v1/resource?api_key={API_KEY}&limit=5")
        response = conn.getresponse()
        assert response.status == 200
        assert int(response.getheader("Content-Length")) == len(response.read())
    conn.close()


# --- pagination ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 100, 250])
def test_pagination_covers_every_record_once(count):
    with SandboxServer(API_KEY, records=count) as srv:
        pages = []
        for offset in range(0, max(count, 1), 100):
            body = get(srv, offset=offset, limit=100).json()
            assert body["total"] == count
            assert (body["offset"], body["limit"]) == (offset, 100)
            pages.append(body["data"])
        ids = [record["id"] for page in pages for record in page]
        assert ids == list(range(1, count + 1))
        assert [len(page) for page in pages] == [min(100, count - o) for o in range(0, max(count, 1), 100)]
        beyond = get(srv, offset=count + 10).json()
        assert beyond["data"] == [] and beyond["total"] == count


def test_limit_defaults_caps_and_validation(server):
    assert get(server).json()["limit"] == 100
    assert len(get(server).json()["data"]) == 100
    with SandboxServer(API_KEY, records=1500) as big:
        body = get(big, limit=5000).json()
        assert body["limit"] == 1000 and len(body["data"]) == 1000
    for params in ({"limit": "ten"}, {"offset": "1.5"}, {"limit": "-1"}):
        assert get(server, **params).status_code == 400


def test_customers_endpoint(server):
    records = fetch_all(server, "/v1/customers")
    assert [r["id"] for r in records] == list(range(1, 21))
    assert set(records[0]) == {"id", "name", "email", "plan", "created_at", "updated_at", "deleted_at"}


def test_million_records_are_pageable():
    # How fast that is, is bench/sandbox_throughput.py's to measure, not a test's.
    store = RecordStore("customer_support_data", 1_000_000)
    page, total = store.page(999_900, 100)
    assert total == 1_000_000 and len(page) == 100


# --- record shape and determinism -----------------------------------------------------


def test_record_shape(server):
    records = fetch_all(server)
    for record in records:
        assert isinstance(record["id"], int) and isinstance(record["customer_id"], int)
        assert isinstance(record["subject"], str) and record["subject"]
        assert record["status"] in {"open", "pending", "solved", "closed"}
        assert record["priority"] in {"low", "normal", "high", "urgent", None}
        assert record["channel"] in {"email", "chat", "phone"}
        assert record["created_at"].endswith("Z") and record["updated_at"].endswith("Z")
        assert record["created_at"] <= record["updated_at"] <= BASE_END
        assert set(record["requester"]) == {"name", "email"}
        assert 0 <= len(record["tags"]) <= 3 and all(isinstance(t, str) for t in record["tags"])
    nulls = sum(record["priority"] is None for record in records) / len(records)
    assert 0.1 < nulls < 0.3


def test_records_are_deterministic_across_servers(server):
    first = get(server, offset=40, limit=10).json()["data"]
    assert get(server, offset=40, limit=10).json()["data"] == first
    with SandboxServer("other-key", records=250) as other:
        again = requests.get(other.url + "/v1/resource",
                             params={"api_key": "other-key", "offset": 40, "limit": 10}).json()
    assert again["data"] == first
    assert first[0] == make_record(41, "customer_support_data")


# --- filtering ------------------------------------------------------------------------


def test_updated_since_and_before_filter(server):
    everything = server.store.all_records()
    since, before = format_ts(data.BASE_END - 365 * 86400), format_ts(data.BASE_END - 150 * 86400)
    expected = [r for r in everything if since <= r["updated_at"] < before]
    before = before.replace("Z", "+00:00")  # the API takes an offset too
    assert 0 < len(expected) < len(everything)
    assert fetch_all(server, updated_since=since, updated_before=before) == expected
    body = get(server, updated_since=since).json()
    assert body["total"] == sum(r["updated_at"] >= since for r in everything)
    assert get(server, updated_before="2024-01-01T00:00:00Z").json() == {
        "data": [], "total": 0, "offset": 0, "limit": 100}
    assert get(server, updated_since="yesterday").status_code == 400


# --- mutations ------------------------------------------------------------------------


def test_add_update_delete_are_reflected_in_pages(server):
    store = server.store
    added = store.add(3)
    assert [r["id"] for r in added] == [251, 252, 253]
    assert all(r["updated_at"] > BASE_END for r in added)
    assert get(server).json()["total"] == 253

    updated = store.update(7, status="solved")
    assert updated["status"] == "solved" and updated["updated_at"] > added[-1]["updated_at"]
    assert get(server, offset=6, limit=1).json()["data"][0] == updated

    store.delete(8)
    ids = [r["id"] for r in fetch_all(server)]
    assert len(ids) == 252 and 8 not in ids and ids == sorted(ids)
    with pytest.raises(KeyError):
        store.get(8)

    # An incremental sync from the initial load's high-water mark sees exactly the changes.
    changed = fetch_all(server, updated_since=format_ts(data.BASE_END + 1))
    assert [r["id"] for r in changed] == [7, 251, 252, 253]


def test_update_with_explicit_updated_at_and_custom_add(server):
    server.store.update(3, updated_at="2020-01-01T00:00:00Z")
    assert [r["id"] for r in fetch_all(server, updated_before="2021-01-01T00:00:00Z")] == [3]
    record = server.store.add({"subject": "Printer on fire"})[0]
    assert server.store.get(record["id"])["subject"] == "Printer on fire"


# --- faults ---------------------------------------------------------------------------


def test_fault_status_with_retry_after_then_recovers(server):
    server.faults.add(Fault(status=429, retry_after="2", times=2))
    for _ in range(2):
        response = get(server)
        assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert get(server).status_code == 200
    assert [r.status for r in server.requests] == [429, 429, 200]


def test_fault_delay_and_latency(server):
    server.faults.add(Fault(delay=0.3))
    started = time.perf_counter()
    assert get(server).status_code == 200
    assert time.perf_counter() - started >= 0.3
    server.faults.latency = 0.2
    started = time.perf_counter()
    get(server)
    assert time.perf_counter() - started >= 0.2


def test_fault_drop_closes_connection(server):
    server.faults.add(Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        get(server)
    assert server.requests[-1].status is None
    assert get(server).status_code == 200


@pytest.mark.parametrize("body", [b'{"data": [{"id": 1', b"<html><body>Bad gateway</body></html>"])
def test_fault_malformed_body(server, body):
    server.faults.add(Fault(body=body))
    response = get(server)
    assert response.status_code == 200 and response.content == body
    with pytest.raises(ValueError):
        response.json()


def test_fault_matches_only_its_path_in_order(server):
    server.faults.add(Fault(status=503, path="/v1/customers"))
    server.faults.add(Fault(status=500))
    assert get(server, "/v1/resource").status_code == 500
    assert get(server, "/v1/resource").status_code == 200
    assert get(server, "/v1/customers").status_code == 503
    assert len(server.faults) == 0
    server.faults.add(Fault(status=500, times=5))
    assert len(server.faults) == 5
    server.faults.clear()
    assert get(server).status_code == 200


# --- request log and control API -----------------------------------------------------


def test_request_log_keeps_params_and_counts(server):
    get(server, limit=30, offset=10)
    entry = server.requests[-1]
    assert entry.path == "/v1/resource" and entry.status == 200 and entry.records == 30
    assert entry.params == {"api_key": API_KEY, "limit": "30", "offset": "10"}


def test_control_api(server):
    assert control(server, "/_sandbox/records/customer_support_data", {"add": 2}).json() == {
        "added": [251, 252], "total": 252}
    response = control(server, "/_sandbox/records/customer_support_data",
                       {"update": {"id": 5, "fields": {"status": "closed"}}})
    assert response.json()["record"]["status"] == "closed"
    assert get(server, offset=4, limit=1).json()["data"][0]["status"] == "closed"
    assert control(server, "/_sandbox/records/customers", {"delete": 1}).json()["total"] == 19
    assert control(server, "/_sandbox/records/customers", {"delete": 1}).status_code == 404
    assert control(server, "/_sandbox/records/nope", {"add": 1}).status_code == 404
    assert control(server, "/_sandbox/records/customers", {"frobnicate": 1}).status_code == 400

    assert control(server, "/_sandbox/faults", {"status": 503, "retry_after": 1}).status_code == 200
    assert control(server, "/_sandbox/faults", {"colour": "red"}).status_code == 400
    assert get(server).headers["Retry-After"] == "1"
    control(server, "/_sandbox/faults", {"body": "not json"})
    assert get(server).content == b"not json"

    log = control(server, "/_sandbox/requests").json()
    assert [entry["status"] for entry in log] == [200, 503, 200]
    assert all(entry["params"]["api_key"] == "***" for entry in log)
    assert API_KEY not in str(log)
    assert control(server, "/_sandbox/reset-log", {}).json() == {"ok": True}
    assert control(server, "/_sandbox/requests").json() == []


def ids(srv: SandboxServer, **params) -> list[int]:
    return [r["id"] for r in fetch_all(srv, **params)]


def test_drift_changes_the_data_right_after_the_kth_page_over_the_control_api(server):
    drift = {"after_page": 2, "delete": [0, 3], "insert": [1]}
    assert control(server, "/_sandbox/drift", drift).json() == {"pending": 1}
    assert control(server, "/_sandbox/drift", {"after_page": 0}).status_code == 400
    assert control(server, "/_sandbox/drift", {"when": 1}).status_code == 400
    assert control(server, "/_sandbox/drift", {"after_page": 1, "path": "/v1/resource/1/comments"}).status_code == 400

    first = get(server, offset=0, limit=5).json()
    assert [r["id"] for r in first["data"]] == [1, 2, 3, 4, 5] and first["total"] == 250
    assert get(server, offset=5, limit=5).json()["total"] == 250  # the 2nd page: the change follows it
    after = get(server, offset=0, limit=5).json()
    # id 1 and id 4 deleted; the new record 251 sits where offset 1 was, before id 2.
    assert [r["id"] for r in after["data"]] == [251, 2, 3, 5, 6] and after["total"] == 249
    assert ids(server)[:3] == [251, 2, 3] and len(ids(server)) == 249
    assert control(server, "/_sandbox/drift", {"after_page": 1, "insert": [0]}).json() == {"pending": 1}
    get(server, offset=0, limit=1)
    assert get(server, offset=0, limit=1).json()["data"][0]["id"] == 252  # counted from when it was added


def test_insert_at_and_soft_delete_over_the_control_api(server):
    records = "/_sandbox/records/customer_support_data"
    assert control(server, records, {"insert_at": 10, "count": 2}).json() == {"added": [251, 252], "total": 252}
    assert ids(server)[9:13] == [10, 251, 252, 11]
    # An incremental read sees the new records where they were inserted, too.
    assert ids(server, updated_since=BASE_END) == [251, 252]
    flagged = control(server, records, {"soft_delete": {"id": 7, "field": "status", "value": "deleted"}}).json()
    assert flagged["record"]["status"] == "deleted" and flagged["record"]["updated_at"] >= BASE_END
    assert "deleted_at" in control(server, records, {"soft_delete": {"id": 8}}).json()["record"]
    assert len(ids(server)) == 252  # soft-deleted records are still served
    assert control(server, records, {"insert_at": 999}).status_code == 400


def test_stop_closes_idle_keep_alive_connections():
    srv = SandboxServer(API_KEY, records=10).start()
    url = srv.url + "/v1/resource"
    with requests.Session() as session:
        assert session.get(url, params={"api_key": API_KEY}).ok
        srv.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, params={"api_key": API_KEY}, timeout=5)


# --- command line ---------------------------------------------------------------------


def test_module_runs_as_subprocess_without_leaking_key():
    secret = "cli-secret-9d41b7"
    proc = subprocess.Popen(
        [sys.executable, "-m", "support_assets.sandbox", "--port", "0", "--records", "120"],
        env={**os.environ, "SUPPORT_API_KEY": secret},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        assert line.rstrip().endswith("(120 records)")
        url = line.split()[3]
        body = requests.get(url + "/v1/resource", params={"api_key": secret}, timeout=10).json()
        assert body["total"] == 120
        # Every collection is served, next links without the key.
        customers = requests.get(url + "/v1/customers", params={"api_key": secret, "page": 1}, timeout=10).json()
        assert customers["total"] == 5000 and customers["total_pages"] == 50
        agents = requests.get(url + "/v1/agents", params={"api_key": secret, "limit": 10}, timeout=10)
        assert len(agents.json()["data"]) == 10 and secret not in agents.text
        comments = requests.get(url + "/v1/resource/120/comments", params={"api_key": secret}, timeout=10)
        assert comments.status_code == 200
        assert requests.get(url + "/v1/resource", timeout=10).status_code == 401
        log = requests.get(url + "/_sandbox/requests", timeout=10).json()
        assert log[0]["params"] == {"api_key": "***"} and secret not in str(log)
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert secret not in line + stdout + stderr


def test_module_requires_api_key():
    env = {k: v for k, v in os.environ.items() if k != "SUPPORT_API_KEY"}
    result = subprocess.run([sys.executable, "-m", "support_assets.sandbox", "--port", "0"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "SUPPORT_API_KEY" in result.stderr
