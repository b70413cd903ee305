"""The HTTP layer's retries (responses, a recorded sleep): which failures are retried,
how often, how long each wait is, and what the error says when they run out."""

import time
from email.utils import formatdate

import pytest
import requests
import responses

from support_assets.sources.settings import RETRY, RetryRules
from support_assets.defs.assets import retry_policy
from support_assets.sources.http_session import ApiError, http_session, retry_after_seconds
from support_assets.sources.progress import SyncProgress
from support_assets.sources.schema import POSITION_COLUMN
from support_assets.sources import support_api_source

BASE_URL = "http://api.test"
URL = f"{BASE_URL}/v1/resource"
KEY = "unit-test-key-0123456789"
PAGE = {"data": [{"id": 1, "customer_id": 7, "subject": "only ticket"}], "total": 1}


def add(*answers, **kwargs):
    """Registers answers for /v1/resource, served in order: a status code or an exception."""
    for answer in answers:
        if isinstance(answer, BaseException):
            responses.get(URL, body=answer)
        elif answer == 200:
            responses.get(URL, json=PAGE)
        else:
            responses.get(URL, json={"error": "customer Ada Lovelace's ticket"}, status=answer, **kwargs)


def records(source) -> list[dict]:
    """The endpoint's records as the API sent them (without the sync's position column)."""
    rows = source.resources["customer_support_data"]
    return [{k: v for k, v in row.items() if k != POSITION_COLUMN} for row in rows]


def sync(rules: RetryRules = RETRY):
    """Extracts the endpoint through the project's session; returns (rows or the error, waits, progress)."""
    waits: list[float] = []
    progress = SyncProgress()
    session = http_session(rules, progress, sleep=waits.append)
    source = support_api_source(BASE_URL, KEY, session=session, progress=progress)
    try:
        outcome = records(source)
    except Exception as exc:  # dlt wraps the session's error
        outcome = exc
    return outcome, waits, progress


def api_error(outcome) -> ApiError:
    error = outcome
    while error is not None and not isinstance(error, ApiError):
        error = error.__cause__
    assert isinstance(error, ApiError), f"expected an ApiError below {outcome!r}"
    return error


@responses.activate
def test_three_503s_then_a_page_succeed_after_4_calls_waiting_2_4_8_seconds():
    add(503, 503, 503, 200)

    rows, waits, progress = sync()

    assert rows == PAGE["data"]
    assert len(responses.calls) == 4
    assert waits == [2, 4, 8]
    assert (progress.retries, progress.retry_wait_seconds) == (3, 14)


@responses.activate
def test_four_503s_make_exactly_4_calls_then_a_transient_error_naming_the_request():
    add(503, 503, 503, 503, 200)

    outcome, waits, _ = sync()

    assert len(responses.calls) == 4
    assert waits == [2, 4, 8]
    error = api_error(outcome)
    assert error.transient and error.status == 503
    assert str(error) == "the API answered 503 Service Unavailable for GET /v1/resource (tried 4 times)"


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_each_transient_status_is_retried(status):
    add(status, 200)

    rows, waits, _ = sync()

    assert rows == PAGE["data"]
    assert len(responses.calls) == 2
    assert waits == [2]


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505])
def test_other_statuses_are_not_retried(status):
    add(status, 200)

    outcome, waits, progress = sync()

    assert len(responses.calls) == 1
    assert waits == [] and progress.retries == 0
    error = api_error(outcome)
    assert not error.transient and error.status == status


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_says_so_with_method_and_path(status):
    add(status)

    outcome, _, _ = sync()

    assert str(api_error(outcome)) == f"the API rejected the key ({status}) for GET /v1/resource"


@responses.activate
def test_retry_after_in_seconds_sets_the_wait():
    add(429, 200, headers={"Retry-After": "7"})

    rows, waits, progress = sync()

    assert rows == PAGE["data"]
    assert waits == [7]
    assert progress.retry_wait_seconds == 7


@responses.activate
def test_retry_after_as_an_http_date_sets_the_wait():
    add(503, 200, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)})

    _, waits, _ = sync()

    # The date has whole-second precision and a little time passes before the wait.
    assert len(waits) == 1 and 27 <= waits[0] <= 30


@responses.activate
def test_a_long_retry_after_is_capped():
    add(429, 200, headers={"Retry-After": "3600"})

    _, waits, _ = sync()

    assert waits == [RETRY.max_wait] == [60]


@responses.activate
def test_exponential_waits_are_capped_by_max_wait():
    add(503, 503, 503, 200)

    _, waits, _ = sync(RetryRules(backoff_factor=2, max_wait=5))

    assert waits == [2, 4, 5]


@responses.activate
@pytest.mark.parametrize(
    "failure, problem",
    [
        (requests.ConnectionError("Max retries exceeded with url: /v1/resource?api_key=" + KEY), "the connection dropped"),
        (requests.ReadTimeout("Read timed out."), "no answer within 30 s"),
        (requests.exceptions.ChunkedEncodingError("IncompleteRead"), "the connection dropped mid-answer"),
    ],
)
def test_connection_errors_and_timeouts_are_retried(failure, problem):
    add(failure, 200)
    rows, waits, _ = sync()
    assert rows == PAGE["data"] and waits == [2]

    responses.reset()
    add(failure, failure, failure, failure)
    outcome, waits, _ = sync()

    assert len(responses.calls) == 4 and waits == [2, 4, 8]
    error = api_error(outcome)
    assert error.transient
    assert str(error) == (
        f"could not get an answer from the API at http://api.test for GET /v1/resource: {problem} (tried 4 times)"
    )


@responses.activate
def test_errors_hold_no_key_no_query_and_no_body():
    add(503, 503, 503, 503)

    outcome, _, _ = sync()

    error = api_error(outcome)
    for text in (str(outcome), str(error), repr(error.args)):
        assert KEY not in text and "api_key" not in text
        assert "Lovelace" not in text and "offset=" not in text
    # Nothing chains the original exception, whose text holds the full URL.
    assert error.__cause__ is None and error.__context__ is None


@responses.activate
def test_the_default_wait_really_sleeps_2_4_8_seconds(monkeypatch):
    """Without an injected sleep, tenacity's own sleep is used with the same waits."""
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    add(503, 503, 503, 200)

    session = http_session()
    rows = records(support_api_source(BASE_URL, KEY, session=session))

    assert rows == PAGE["data"]
    assert slept == [2, 4, 8]


def test_the_rules_are_the_specified_numbers_and_both_layers_read_them():
    assert RETRY.status_codes == (429, 500, 502, 503, 504)
    assert RETRY.max_retries == 3 and RETRY.max_attempts == 4
    assert [RETRY.wait(n) for n in (1, 2, 3)] == [2, 4, 8]
    policy = retry_policy()
    assert policy.max_retries == RETRY.max_retries
    assert policy.delay == RETRY.backoff_factor
    fast = RetryRules(max_retries=1, backoff_factor=0.5)
    assert (retry_policy(fast).max_retries, retry_policy(fast).delay) == (1, 0.5)


@pytest.mark.parametrize(
    "header, seconds",
    [("7", 7.0), (" 12 ", 12.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_header_parsing(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_retry_after_http_date_is_seconds_from_now():
    assert retry_after_seconds(formatdate(time.time() + 90, usegmt=True)) == pytest.approx(90, abs=2)
