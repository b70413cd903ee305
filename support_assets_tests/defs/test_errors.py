"""The Dagster layer: which failures the sync retries (and after how long), which fail at
once, and what the failure says. In process, with `responses` standing in for the API."""

import json

import dagster as dg
import pytest
import requests
import responses
from dlt.extract.exceptions import ResourceExtractionError

from support_assets.sources.settings import RETRY, RetryRules
from support_assets.definitions import build_definitions
from support_assets.defs.errors import classify, for_dagster, root_cause
from support_assets.sources.http_session import ApiError
from support_assets.defs.resources import SupportApiResource

from support_assets_tests.helpers import TICKETS_ONLY, failure_text

BASE_URL = "http://api.test"
URL = f"{BASE_URL}/v1/resource"
FAST = RetryRules(backoff_factor=0.01, max_wait=0.05)


class TicketWithoutId(ValueError):
    """Stands in for the clear bad-data errors the source raises."""


def wrapped(exc: BaseException) -> Exception:
    """`exc` wrapped the way dlt wraps an error raised while extracting a resource."""
    try:
        try:
            raise exc
        except BaseException as inner:
            raise ResourceExtractionError("customer_support_data", iter(()), str(inner), "generator") from inner
    except ResourceExtractionError as outer:
        return outer


# --- classification ------------------------------------------------------------------


def test_the_root_cause_is_found_below_dlts_wrappers():
    cause = ApiError("the API rejected the key (401) for GET /v1/resource", transient=False, status=401)

    root, endpoint = root_cause(wrapped(cause))

    assert root is cause and endpoint == "customer_support_data"


def test_bad_data_fails_at_once_with_its_own_message():
    problem = classify(wrapped(TicketWithoutId("record 12 of GET /v1/resource has no id")))

    assert not problem.transient
    assert problem.message == "TicketWithoutId for customer_support_data: record 12 of GET /v1/resource has no id"


def test_a_body_that_is_not_json_fails_at_once_without_quoting_it():
    try:
        json.loads('{"data": [{"id": 1, "subject": "Ada Lovelace"')
    except json.JSONDecodeError as exc:
        problem = classify(wrapped(exc))

    assert not problem.transient
    assert problem.message.startswith("the API sent a response that is not valid JSON for customer_support_data")
    assert "Lovelace" not in problem.message


def test_a_raw_connection_error_is_transient_and_scrubbed():
    problem = classify(wrapped(requests.ConnectionError("Max retries exceeded with url: /v1/resource?api_key=s3cr3t-value")))

    assert problem.transient
    assert "s3cr3t-value" not in problem.message and "api_key=***" in problem.message


@pytest.mark.parametrize("retry_number, wait", [(0, 2), (1, 4), (2, 8)])
def test_transient_problems_ask_dagster_for_the_same_waits_as_the_http_layer(retry_number, wait):
    problem = classify(ApiError("the API answered 503", transient=True, status=503))

    retry = for_dagster(problem, retry_number)

    assert isinstance(retry, dg.RetryRequested)
    assert (retry.max_retries, retry.seconds_to_wait) == (3, wait)
    assert str(retry.__cause__) == "the API answered 503"


def test_a_longer_retry_after_is_honoured_capped():
    assert for_dagster(classify(ApiError("429", transient=True, retry_after=30)), 0).seconds_to_wait == 30
    assert for_dagster(classify(ApiError("429", transient=True, retry_after=900)), 0).seconds_to_wait == RETRY.max_wait


def test_the_last_attempt_fails_saying_the_sync_gave_up():
    failure = for_dagster(classify(ApiError("the API answered 503", transient=True)), RETRY.max_retries)

    assert isinstance(failure, dg.Failure) and not failure.allow_retries
    assert failure.description == "the API answered 503; the sync failed 4 times in a row"


@pytest.mark.parametrize("status, hint", [(401, "SUPPORT_API_KEY"), (404, "SUPPORT_API_BASE_URL")])
def test_permanent_api_errors_fail_without_retry_and_say_what_to_check(status, hint):
    failure = for_dagster(classify(ApiError(f"the API said {status}", transient=False, status=status)), 0)

    assert isinstance(failure, dg.Failure) and not failure.allow_retries
    assert hint in failure.description


# --- through Dagster -------------------------------------------------------------------


def materialize(warehouse, monkeypatch, rules=FAST):
    monkeypatch.setenv("SUPPORT_API_KEY", "unit-test-key-0123456789")
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse, retry=rules)
    resources = {**definitions.resources, "support_api": SupportApiResource(base_url=BASE_URL)}
    return dg.materialize(list(definitions.assets), resources=resources, raise_on_error=False)


def events(result, event_type: dg.DagsterEventType):
    return [e for e in result.all_events if e.event_type == event_type]


@responses.activate
def test_5xx_retries_exhausted_the_op_runs_1_plus_3_times_then_the_run_fails(warehouse, monkeypatch):
    responses.get(URL, json={"error": "down"}, status=503)

    result = materialize(warehouse, monkeypatch)

    assert not result.success
    retries = events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(retries) == 3
    assert len(events(result, dg.DagsterEventType.STEP_START)) == 1
    assert len(events(result, dg.DagsterEventType.STEP_RESTARTED)) == 3
    assert len(events(result, dg.DagsterEventType.STEP_FAILURE)) == 1
    # The op waits mirror the HTTP layer's: factor * 1, 2, 4.
    assert [e.event_specific_data.seconds_to_wait for e in retries] == pytest.approx([0.01, 0.02, 0.04])
    # 4 op attempts of 4 HTTP attempts each.
    assert len(responses.calls) == 16
    message = failure_text(result)
    assert "the API answered 503 Service Unavailable for GET /v1/resource (tried 4 times)" in message
    assert "the sync failed 4 times in a row" in message
    assert "down" not in message  # the body stays out


@responses.activate
def test_a_401_fails_once_with_no_retry_naming_the_cause(warehouse, monkeypatch):
    responses.get(URL, json={"error": "bad key"}, status=401)

    result = materialize(warehouse, monkeypatch)

    assert not result.success
    assert events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert len(responses.calls) == 1
    message = failure_text(result)
    assert "the API rejected the key (401) for GET /v1/resource" in message
    assert "SUPPORT_API_KEY" in message


@responses.activate
@pytest.mark.parametrize("status", [400, 404, 501])
def test_other_4xx_and_501_fail_once_with_no_retry(warehouse, monkeypatch, status):
    responses.get(URL, json={"error": "nope"}, status=status)

    result = materialize(warehouse, monkeypatch)

    assert not result.success
    assert events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert len(responses.calls) == 1
    assert f"the API answered {status} " in failure_text(result)


@responses.activate
def test_bad_data_from_the_source_fails_once_with_its_message(warehouse, monkeypatch):
    responses.get(URL, json={"data": [{"id": 1}], "total": "many"})

    result = materialize(warehouse, monkeypatch)

    assert not result.success
    assert events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert "`total` is not a non-negative integer" in failure_text(result)


@responses.activate
def test_a_transient_failure_that_clears_up_is_retried_by_the_op_and_succeeds(warehouse, monkeypatch):
    for _ in range(RETRY.max_attempts):  # one op attempt's worth of 503s
        responses.get(URL, json={"error": "down"}, status=503)
    tickets = [{"id": i, "customer_id": 7, "updated_at": "2026-05-01T00:00:00Z"} for i in (1, 2)]
    responses.get(URL, json={"data": tickets, "total": 2})

    result = materialize(warehouse, monkeypatch)

    assert result.success
    assert len(events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1
    assert len(responses.calls) == 5


def test_the_retry_policy_has_the_http_layers_numbers_and_is_on_the_sync_job():
    """The assets set no retry_policy: the sync job carries it, and the asset's body
    retries through RetryRequested with the same numbers however the sync starts (the
    tests above run the assets without the job)."""
    definitions = build_definitions()
    job = definitions.resolve_job_def("support_api_sync")
    policy = job.op_retry_policy
    assert policy is not None and policy.max_retries == RETRY.max_retries
    assert policy.delay == RETRY.backoff_factor
