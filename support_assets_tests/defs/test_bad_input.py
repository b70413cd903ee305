"""Bad input from the API gets a clear error and changes nothing in the warehouse.

End to end: the sandbox over HTTP, Dagster in process, dlt, DuckDB. Each case first
loads the sandbox's records, then changes them upstream (so a sync that loaded
anything would show), then serves the bad input and checks the failed sync's
message and that every row, and the number of loads, stayed as it was. The bodies
carry a marker that must appear in no message and no event.
"""

import dataclasses
import json
from urllib.parse import parse_qs, urlparse

import dlt
import duckdb
import pytest
import responses

from support_assets.sandbox import Fault
from support_assets.sources import support_api_source

from support_assets_tests.helpers import TICKETS_ONLY, failure_text
from support_assets_tests.helpers.sync import every_event_text, sync, warehouse_state

SECRET = "SECRET-customer-text"
GOOD = {"id": 1, "customer_id": 5, "subject": SECRET, "updated_at": "2025-01-01T00:00:00Z"}
WHERE = "customer_support_data (GET /v1/resource, offset 0)"


def body(obj) -> bytes:
    return json.dumps(obj).encode()


PAGE_FAULTS = {
    "malformed JSON": (
        Fault(body=b'{"data": [{"id": 1, "subject": "' + SECRET.encode() + b'"'),
        f"{WHERE}: the body is not valid JSON (Expecting ',' delimiter or '}}' at line 1 column",
    ),
    "a 200 carrying an HTML error page": (
        Fault(body=f"<html><body>{SECRET} Bad gateway</body></html>".encode(), content_type="text/html"),
        f"{WHERE}: the response is an HTML page (text/html), not JSON",
    ),
    "an empty body": (Fault(body=b""), f"{WHERE}: the response body is empty (HTTP 200)"),
    "no `data`": (
        Fault(body=body({"items": [GOOD], "total": 1})),
        f"{WHERE}: the body has no `data` list",
    ),
    "`data` not a list": (
        Fault(body=body({"data": GOOD, "total": 1})),
        f"{WHERE}: `data` is an object, not a list",
    ),
    "a body that is not an object": (
        Fault(body=body([GOOD])),
        f"{WHERE}: the body is a list, not an object with `data`",
    ),
    "no `total`": (
        Fault(body=body({"data": [GOOD]})),
        f"{WHERE}: the body has no `total`",
    ),
    "a `total` that is not a number": (
        Fault(body=body({"data": [GOOD], "total": SECRET})),
        f"{WHERE}: `total` is not a non-negative integer (it is text)",
    ),
    "a `total` smaller than the records sent": (
        Fault(body=body({"data": [GOOD, {**GOOD, "id": 2}], "total": 1})),
        f"{WHERE}: `total` is 1, but this page holds 2 records starting at offset 0",
    ),
    "a `total` larger than the records sent": (
        Fault(body=body({"data": [GOOD], "total": 500})),
        f"{WHERE}: `total` is 500, but this page ends early with 1 of the 100 records requested",
    ),
    "a record without `id`": (
        Fault(body=body({"data": [GOOD, {k: v for k, v in GOOD.items() if k != "id"}], "total": 2})),
        f"{WHERE}: record 2 of the page has no `id` (it is missing)",
    ),
    "a record whose `id` is null": (
        Fault(body=body({"data": [{**GOOD, "id": None}], "total": 1})),
        f"{WHERE}: record 1 of the page has no `id` (it is null)",
    ),
    "a record whose `id` is not an integer": (
        Fault(body=body({"data": [{**GOOD, "id": SECRET}], "total": 1})),
        f"{WHERE}: record 1 of the page: `id` is text, not bigint",
    ),
    "a record without `customer_id`": (
        Fault(body=body({"data": [{k: v for k, v in GOOD.items() if k != "customer_id"}], "total": 1})),
        f"{WHERE}: record id=1: `customer_id` is missing; the schema declares it not null",
    ),
    "a record that is not an object": (
        Fault(body=body({"data": [SECRET], "total": 1})),
        f"{WHERE}: record 1 of the page is text, not an object",
    ),
}


def assert_failed_cleanly(result, before, warehouse, expected, api_key):
    assert not result.success
    message = failure_text(result)
    assert expected in message
    events = every_event_text(result)
    assert SECRET not in events and api_key not in events
    assert warehouse_state(warehouse.duckdb_path) == before
    # Bad data is not something a retry can fix: one attempt, no retry (errors.py).
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


@pytest.fixture
def loaded(api_env, sandbox, warehouse):
    """The sandbox's records loaded, then changed upstream: a sync that loaded anything
    would change the table."""
    assert sync(warehouse, checks=False).success
    before = warehouse_state(warehouse.duckdb_path)
    sandbox.store.update(7, subject="changed upstream")
    sandbox.store.add(3)
    return before


@pytest.mark.parametrize("case", list(PAGE_FAULTS))
def test_a_bad_page_fails_the_sync_with_a_clear_message_and_changes_nothing(
    case, loaded, sandbox, warehouse, api_key
):
    fault, expected = PAGE_FAULTS[case]
    # Enough uses for any attempt: a retry, if there were one, would meet the fault too.
    sandbox.faults.add(dataclasses.replace(fault, path="/v1/resource", times=10))

    result = sync(warehouse, checks=False)

    assert_failed_cleanly(result, loaded, warehouse, expected, api_key)


RECORD_FAULTS = {
    # field changes on record 150 or 250, and the message. The incremental sync reads only
    # what changed (ids 7, 150 or 250, and three new ones): one page, at offset 0.
    "a null customer_id": (
        150,
        {"customer_id": None},
        "customer_support_data (GET /v1/resource, offset 0): record id=150: `customer_id` is null;"
        " the schema declares it not null",
    ),
    "a customer_id that is not a number": (
        150,
        {"customer_id": SECRET},
        "record id=150: `customer_id` is text; the schema declares bigint",
    ),
    "a created_at that is not a timestamp": (
        150,
        {"created_at": SECRET},
        "record id=150: `created_at` is text; the schema declares timestamp",
    ),
    "a subject that became an object": (
        250,
        {"subject": {"text": SECRET}},
        "record id=250: `subject` is an object; the schema declares text",
    ),
    "a requester that became text": (
        150,
        {"requester": SECRET},
        "record id=150: `requester` is text; the schema declares an object (columns requester__*)",
    ),
    "a requester email that became an object": (
        150,
        {"requester": {"name": "Ada", "email": {"address": SECRET}}},
        "record id=150: `requester.email` is an object; the schema declares text",
    ),
    "tags that became text": (
        150,
        {"tags": SECRET},
        "record id=150: `tags` is text; the schema declares a list of text (a json column)",
    ),
    "a tag that is an object": (
        150,
        {"tags": ["billing", {"name": SECRET}]},
        "record id=150: an item of `tags` is an object; the schema declares a list of text",
    ),
}


@pytest.mark.parametrize("case", list(RECORD_FAULTS))
def test_a_record_that_breaks_the_declared_schema_fails_naming_the_field_and_the_id(
    case, loaded, sandbox, warehouse, api_key
):
    record_id, fields, expected = RECORD_FAULTS[case]
    sandbox.store.update(record_id, **fields)

    result = sync(warehouse, checks=False)

    assert_failed_cleanly(result, loaded, warehouse, expected, api_key)


def test_a_type_change_of_a_field_learned_from_the_api_fails_naming_it_and_the_id(
    api_env, sandbox, warehouse, api_key
):
    """A field nobody declared is added as the API first sends it (a number here); when it
    later arrives as text, dlt's frozen data types stop the sync in normalize, before load."""
    sandbox.store.update(3, escalation_level=2)
    assert sync(warehouse, checks=False).success
    before = warehouse_state(warehouse.duckdb_path)
    sandbox.store.update(4, escalation_level=SECRET)

    result = sync(warehouse, checks=False)

    assert not result.success
    message = failure_text(result)
    assert "Column: `escalation_level__v_text`" in message
    assert "Contract on `data_type` with `contract_mode=freeze` is violated" in message
    assert "Offending data item: id: 4" in message
    assert SECRET not in every_event_text(result) and api_key not in every_event_text(result)
    assert warehouse_state(warehouse.duckdb_path) == before


# --- the same page faults on the second page, with dlt alone (responses) ------------------

BASE_URL = "http://api.test"


def tickets(count):
    return [
        {"id": i, "customer_id": 1000 + i, "subject": f"ticket {i}", "tags": ["a"]}
        for i in range(1, count + 1)
    ]


def run_dlt(tmp_path, records, bad_page_at=None, bad=None):
    """Loads `records` (pages of 100) with dlt alone; the page at offset `bad_page_at`
    answers `bad` = (body bytes, content type) instead."""

    def callback(request):
        query = parse_qs(urlparse(request.url).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        if offset == bad_page_at:
            return 200, {"Content-Type": bad[1]}, bad[0]
        page = {"data": records[offset : offset + limit], "total": len(records)}
        return 200, {"Content-Type": "application/json"}, json.dumps(page)

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, f"{BASE_URL}/v1/resource", callback=callback)
        pipeline = dlt.pipeline(
            pipeline_name="bad_input",
            destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
            dataset_name="support_api",
            pipelines_dir=str(tmp_path / "dlt"),
        )
        pipeline.run(support_api_source(BASE_URL, "unit-test-key", TICKETS_ONLY), loader_file_format="parquet")


def dlt_rows(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        return db.sql(
            "select t.*, (select count(*) from support_api._dlt_loads) from"
            " support_api.customer_support_data t order by id"
        ).fetchall()


@pytest.mark.parametrize(
    "case", ["malformed JSON", "a 200 carrying an HTML error page", "an empty body", "no `total`"]
)
def test_a_bad_page_after_good_ones_loads_none_of_them(tmp_path, case):
    fault, expected = PAGE_FAULTS[case]
    run_dlt(tmp_path, tickets(250))
    before = dlt_rows(tmp_path)
    changed = [{**r, "subject": "changed"} for r in tickets(250)]

    with pytest.raises(Exception) as failure:
        run_dlt(tmp_path, changed, bad_page_at=200, bad=(fault.body, fault.content_type))

    assert expected.replace("offset 0", "offset 200") in str(failure.value)
    assert SECRET not in str(failure.value)
    assert dlt_rows(tmp_path) == before


def test_duplicate_ids_in_one_sync_are_not_an_error_and_the_last_copy_wins(tmp_path):
    records = tickets(250)
    records[4] = {**records[4], "id": 7, "subject": "first copy of 7", "tags": ["old"]}
    records[6] = {**records[6], "subject": "second copy of 7", "tags": ["new", "newer"]}
    records[180] = {**records[180], "id": 7, "subject": "last copy of 7", "tags": ["last"]}

    run_dlt(tmp_path, records)

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        assert db.sql(
            "select count(*), count(distinct id) from support_api.customer_support_data"
        ).fetchall() == [(248, 248)]
        # An id on two pages reads like records moving (docs/consistency.md): the sync reads the
        # 250 records again, sees the same repeat, and keeps the second pass's last copy.
        assert db.sql(
            "select subject, _position_in_sync from support_api.customer_support_data where id = 7"
        ).fetchall() == [("last copy of 7", 250 + 180)]
        # The tags are the winner's too.
        assert db.sql(
            "select tags from support_api.customer_support_data where id = 7"
        ).fetchall() == [('["last"]',)]
