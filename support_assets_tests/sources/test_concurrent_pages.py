"""Concurrent pagination: every record exactly once, in order, with the retry rules and one
shared rate-limit budget, over real HTTP (the sandbox) and with `responses`."""

import json
from collections import Counter
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from dlt.sources.rest_api import rest_api_source

from support_assets.sources.settings import PAGE_CONCURRENCY, RetryRules
from support_assets.sources.concurrent_pages import RateLimitBudget, _with_param
from support_assets.sources.http_session import retry_after_seconds
from support_assets.sources.progress import SyncProgress
from support_assets.sandbox import Fault, SandboxServer
from support_assets.sources import SOURCE_NAME, http_session, rest_api_config, support_api_source

# Short waits through configuration; the defaults (2, 4, 8 s) stay as they are.
FAST = RetryRules(backoff_factor=0.01, max_wait=1)


def extract(url, key, **kwargs):
    """Ids in the order dlt received them, and the prefetcher (for its budget)."""
    kwargs.setdefault("session", http_session(FAST))
    kwargs.setdefault("retry", FAST)
    config = rest_api_config(url, key, **kwargs)
    prefetch = config["resources"][0]["endpoint"]["paginator"].prefetch
    source = rest_api_source(config, name=SOURCE_NAME)
    try:
        ids = [row["id"] for row in source.resources["customer_support_data"]]
    except Exception:
        # A failed sync leaves its prefetches running: let them end here, not in the next
        # test's mocked API.
        prefetch.adapter._workers.shutdown(wait=True)
        raise
    return ids, prefetch


def offsets(sandbox):
    return Counter(int(r.params["offset"]) for r in sandbox.requests if r.path == "/v1/resource")


@pytest.fixture
def tickets(api_key):
    with SandboxServer(api_key=api_key, records=2_550) as server:
        yield server


def test_every_record_once_and_in_order_with_one_request_per_page(tickets, api_key):
    progress = SyncProgress()

    ids, _ = extract(tickets.url, api_key, progress=progress)

    assert ids == list(range(1, 2_551))
    assert offsets(tickets) == Counter(range(0, 2_550, 100))  # 26 pages, none asked twice
    # SyncProgress still counts every page as it arrives.
    assert progress.endpoints["customer_support_data"].pages == 26
    assert progress.records == 2_550


def test_later_pages_are_fetched_while_an_earlier_one_is_still_pending(tickets, api_key):
    # Page 0 answers at once; the next request to arrive (a prefetch, which one depends on
    # the threads' timing) is held for a while.
    tickets.faults.add(Fault(delay=0))
    tickets.faults.add(Fault(delay=1.0))

    ids, _ = extract(tickets.url, api_key)

    assert ids == list(range(1, 2_551))
    served = [int(r.params["offset"]) for r in tickets.requests]
    # The log is written when a page is answered: the held page is the one answered
    # furthest behind its place, and the other requests in flight were answered before it.
    held = max(served, key=lambda offset: served.index(offset) - offset // 100)
    assert held != 0
    assert served.index(held) >= PAGE_CONCURRENCY - 1


def test_one_page_at_a_time_when_concurrency_is_1(tickets, api_key):
    tickets.faults.add(Fault(delay=0))
    tickets.faults.add(Fault(delay=0.3))

    ids, _ = extract(tickets.url, api_key, concurrency=1)

    assert ids == list(range(1, 2_551))
    assert [int(r.params["offset"]) for r in tickets.requests] == list(range(0, 2_550, 100))


def test_a_storm_of_429s_slows_every_request_and_loses_nothing(tickets, api_key):
    tickets.faults.add(Fault(delay=0))  # page 0, which tells the total
    tickets.faults.add(Fault(status=429, retry_after="1", times=6))  # then six first attempts

    ids, prefetch = extract(tickets.url, api_key)

    assert ids == list(range(1, 2_551))
    statuses = Counter(r.status for r in tickets.requests)
    assert statuses == {200: 26, 429: 6}
    budget = prefetch.budget
    assert budget.throttled == 6
    assert budget.paused_seconds > 0  # other requests waited for the Retry-After
    assert sum(offsets(tickets).values()) == 32  # each 429 cost one more request, no more


def test_faults_on_prefetched_pages_are_retried_and_every_record_arrives_once(tickets, api_key):
    tickets.faults.add(Fault(delay=0))
    tickets.faults.add(Fault(status=503, times=2))
    tickets.faults.add(Fault(drop=True))
    tickets.faults.add(Fault(status=502))

    ids, _ = extract(tickets.url, api_key)

    assert ids == list(range(1, 2_551))
    assert Counter(r.status for r in tickets.requests) == {200: 26, 503: 2, 502: 1, None: 1}


BASE = "http://api.test"


def serve(records, fail_offset=None, total=None):
    calls = Counter()

    def callback(request):
        query = parse_qs(urlparse(request.url).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        calls[offset] += 1
        if offset == fail_offset:
            return 503, {}, json.dumps({"error": "unavailable"})
        body = {"data": records[offset : offset + limit], "total": total or len(records)}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, f"{BASE}/v1/resource", callback=callback)
    return calls


@responses.activate
def test_a_page_that_keeps_failing_gets_four_attempts_then_the_sync_fails():
    calls = serve([{"id": i, "customer_id": 1000 + i} for i in range(1, 1001)], fail_offset=300)

    with pytest.raises(Exception, match="503"):
        extract(BASE, "key")

    assert calls[300] == RetryRules().max_attempts == 4
    assert all(count == 1 for offset, count in calls.items() if offset != 300)


@responses.activate
def test_a_total_that_shrinks_mid_sync_fails_on_the_short_page_without_repeats():
    # The API says 1000 but has 550: page validation (validation.py) still sees every page
    # in order, so the short page fails the sync as it does without concurrency.
    calls = serve([{"id": i, "customer_id": 1000 + i} for i in range(1, 551)], total=1000)

    with pytest.raises(Exception, match="ends early with 50 of the 100 records"):
        extract(BASE, "key")

    assert all(count == 1 for count in calls.values())


@responses.activate
def test_the_project_source_fetches_concurrently_by_default():
    calls = serve([{"id": i, "customer_id": 1000 + i} for i in range(1, 1001)])

    rows = list(support_api_source(BASE, "key").resources["customer_support_data"])

    assert [row["id"] for row in rows] == list(range(1, 1001))
    assert calls == Counter(range(0, 1000, 100))


def response(status, retry_after=None):
    r = requests.Response()
    r.status_code = status
    if retry_after is not None:
        r.headers["Retry-After"] = retry_after
    return r


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_a_429_pauses_every_caller_for_its_retry_after_capped():
    clock = FakeClock()
    budget = RateLimitBudget(8, RetryRules(max_wait=60), clock=clock, sleep=clock.sleep)

    budget.observe(response(429, "5"))
    budget.wait_turn()  # one worker
    budget.wait_turn()  # another: the pause is over for everyone at once
    assert clock.slept == [5.0]

    budget.observe(response(429, "3600"))
    budget.wait_turn()
    assert clock.slept[-1] == 60  # capped at RetryRules.max_wait


def test_a_429_without_retry_after_pauses_for_the_first_backoff_wait():
    clock = FakeClock()
    budget = RateLimitBudget(8, clock=clock, sleep=clock.sleep)

    budget.observe(response(429))
    budget.wait_turn()

    assert clock.slept == [RetryRules().wait(1)] == [2]


def test_429s_halve_the_requests_in_flight_and_successes_win_them_back():
    budget = RateLimitBudget(8, clock=FakeClock(), sleep=lambda s: None)

    budget.observe(response(429, "1"))
    budget.observe(response(429, "1"))
    assert budget.window == 2
    for _ in range(2 + 3):
        budget.observe(response(200))
    assert budget.window == 4
    for _ in range(100):
        budget.observe(response(200))
    assert budget.window == 8  # never above the configured concurrency


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds(response(429, "7").headers.get("Retry-After")) == 7
    assert retry_after_seconds(response(429, "Wed, 21 Oct 2015 07:28:00 GMT").headers.get("Retry-After")) == 0
    assert retry_after_seconds(response(429, "soon").headers.get("Retry-After")) is None
    assert retry_after_seconds(response(429).headers.get("Retry-After")) is None


def test_the_offset_is_replaced_in_place_in_the_prepared_url():
    url = "http://h/v1/resource?offset=100&limit=100&updated_since=2024-01-01T00%3A00%3A00Z&api_key=k"

    assert _with_param(url, "offset", 700) == url.replace("offset=100", "offset=700")
    assert _with_param("http://h/x?limit=100", "offset", 5) is None  # nothing to vary


def test_concurrency_must_be_at_least_one():
    with pytest.raises(ValueError, match="concurrency"):
        RateLimitBudget(0)


def test_a_parsed_page_is_freed_with_its_response_without_the_garbage_collector(tickets, api_key):
    """The body is parsed once and shared, and a response is freed as soon as nothing holds
    it: were it in a reference cycle, every page of a sync would wait for the collector."""
    import gc
    import weakref

    from support_assets.sources.concurrent_pages import parse_json_once

    response = requests.get(f"{tickets.url}/v1/resource", params={"api_key": api_key, "limit": 5})
    parse_json_once(response)
    body = response.json()
    assert response.json() is body and [r["id"] for r in body["data"]] == [1, 2, 3, 4, 5]
    assert response.json(parse_int=str)["total"] == "2550"  # arguments: requests' own parser
    freed = weakref.ref(response)
    gc.disable()
    try:
        del response
        assert freed() is None
    finally:
        gc.enable()


def test_a_body_orjson_refuses_raises_requests_own_error():
    import io

    from support_assets.sources.concurrent_pages import parse_json_once

    response = requests.Response()
    response.status_code, response.raw = 200, io.BytesIO(b"not json")
    parse_json_once(response)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
