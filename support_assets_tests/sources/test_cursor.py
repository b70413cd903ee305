"""Sync plans at the dlt level (responses): configurable cursor parameter, field and format,
backfill bounds, de-duplication in a full refresh, and the probe request."""

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from support_assets.sources.settings import Endpoint
from support_assets.sources.sync_plan import SyncPlan, SyncType, format_time, param_converter, parse_time
from support_assets.sources.probe import ProbeError, count_changed
from support_assets.defs.resources import WarehouseResource
from support_assets.sandbox import Fault
from support_assets.sources import support_api_source

from support_assets_tests.helpers import rows
from support_assets_tests.helpers import offset_endpoint

BASE_URL = "http://api.test"
KEY = "unit-test-key"
# An API that differs from the sandbox: `since`/`until` filters on `modified`, epoch seconds.
EPOCH_INCREMENTAL = {"cursor_path": "modified", "start_param": "since", "end_param": "until"}
EPOCH_API = Endpoint.of(
    "tickets", "/v2/tickets", cursor_format="unix",
    endpoint={"paginator": {"type": "offset", "limit": 100}, "incremental": EPOCH_INCREMENTAL},
)


def serve_epoch_api(records):
    def callback(request):
        query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        matching = [
            r for r in records
            if int(query.get("since", -1)) <= r["modified"] < int(query.get("until", 2**40))
        ]
        offset, limit = int(query["offset"]), int(query["limit"])
        body = {"data": matching[offset : offset + limit], "total": len(matching)}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, f"{BASE_URL}/v2/tickets", callback=callback)


def queries():
    return [{k: v[0] for k, v in parse_qs(urlparse(c.request.url).query).items()} for c in responses.calls]


def load(tmp_path, plan, endpoint=EPOCH_API):
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb"), pipelines_dir=str(tmp_path / "dlt"))
    pipeline = warehouse.pipeline()
    pipeline.drop()  # as dagster-dlt does: the state comes back from the destination
    pipeline.run(support_api_source(BASE_URL, KEY, [endpoint], plan=plan), loader_file_format="parquet")
    return warehouse


@responses.activate
def test_cursor_parameter_field_and_format_are_configuration(tmp_path):
    records = [{"id": i, "modified": 1_700_000_000 + i * 100} for i in range(1, 151)]
    serve_epoch_api(records)
    warehouse = load(tmp_path, SyncPlan(lookback_seconds=30))
    assert "since" not in queries()[0]  # no cursor yet: everything
    records.append({"id": 151, "modified": 1_700_020_000})
    responses.calls.reset()

    load(tmp_path, SyncPlan(lookback_seconds=30))

    assert [q["since"] for q in queries()] == [str(1_700_015_000 - 30)]
    assert rows(warehouse.duckdb_path, "select count(*) from support_api.tickets") == [(151,)]


@responses.activate
def test_a_backfill_without_an_end_parameter_drops_records_past_the_end(tmp_path):
    records = [{"id": i, "modified": 1_700_000_000 + i * 100} for i in range(1, 101)]
    serve_epoch_api(records)
    no_end_param = Endpoint.of(
        "tickets", "/v2/tickets", cursor_format="unix",
        endpoint={"paginator": {"type": "offset", "limit": 100}, "incremental": {**EPOCH_INCREMENTAL, "end_param": None}},
    )
    start, end = (datetime.fromtimestamp(1_700_000_000 + t, timezone.utc) for t in (1000, 2000))

    warehouse = load(tmp_path, SyncPlan(SyncType.backfill, start=start, end=end), no_end_param)

    assert [(q["since"], q.get("until")) for q in queries()] == [("1700001000", None)]
    loaded = rows(warehouse.duckdb_path, "select min(id), max(id) from support_api.tickets")
    assert loaded == [(10, 19)]  # [start, end): 1000 <= i*100 < 2000


@responses.activate
def test_a_full_refresh_keeps_one_row_per_id_when_a_page_repeats_a_record(tmp_path):
    # Offset pages over a list that shifted between requests: id 100 is served on both pages.
    # The repeat shows the data moved, so the sync reads the range again (drift.py): the
    # second pass sees id 150 as well, and every id read twice lands once.
    pages = [
        [{"id": i, "customer_id": 1, "updated_at": "2025-01-01T00:00:00Z"} for i in range(1, 101)],
        [{"id": i, "customer_id": 1, "updated_at": "2025-01-02T00:00:00Z"} for i in range(100, 150)],
        [{"id": i, "customer_id": 1, "updated_at": "2025-01-01T00:00:00Z"} for i in range(1, 101)],
        [{"id": i, "customer_id": 1, "updated_at": "2025-01-02T00:00:00Z"} for i in range(101, 151)],
    ]
    for page in pages:
        responses.add(responses.GET, f"{BASE_URL}/v1/resource", json={"data": page, "total": 150})
    endpoint = offset_endpoint("customer_support_data", "/v1/resource")

    warehouse = load(tmp_path, SyncPlan(SyncType.full_refresh), endpoint)

    assert len(responses.calls) == 4
    assert rows(warehouse.duckdb_path, "select count(*), count(distinct id) from support_api.customer_support_data") == [(150, 150)]


@pytest.mark.parametrize(
    "fmt, value, moment",
    [
        ("%Y-%m-%dT%H:%M:%SZ", "2025-03-04T05:06:07Z", datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
        ("%Y-%m-%dT%H:%M:%S.%fZ", "2025-03-04T05:06:07.250000Z", datetime(2025, 3, 4, 5, 6, 7, 250000, tzinfo=timezone.utc)),
        ("unix", 1_741_064_767, datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)),
    ],
)
def test_cursor_values_round_trip_through_their_format(fmt, value, moment):
    assert parse_time(value, fmt) == moment
    assert format_time(moment, fmt) == value
    assert param_converter(fmt)(value) == value
    assert param_converter(fmt)(None) is None


def test_backfill_bounds_accept_iso_dates_with_or_without_an_offset():
    assert parse_time("2025-01-01") == datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert parse_time("2025-01-01T02:00:00+02:00") == datetime(2025, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_time("20250101x")


def test_a_backfill_plan_sets_both_bounds_and_no_lookback():
    plan = SyncPlan(
        SyncType.backfill, lookback_seconds=600,
        start=datetime(2025, 1, 1, tzinfo=timezone.utc), end=datetime(2025, 2, 1, tzinfo=timezone.utc),
    )
    config = plan.incremental(offset_endpoint("t", "/t"))

    assert (config["initial_value"], config["end_value"]) == ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")
    assert (config["start_param"], config["end_param"]) == ("updated_since", "updated_before")
    assert "lag" not in config
    assert plan.write_disposition == "merge"
    assert SyncPlan(SyncType.full_refresh).write_disposition == "replace"


def test_count_changed_asks_for_one_record_and_reads_the_total(sandbox, api_key):
    endpoint = offset_endpoint("customer_support_data", "/v1/resource")

    assert count_changed(sandbox.url, api_key, endpoint, "2000-01-01T00:00:00Z") == 250
    assert count_changed(sandbox.url, api_key, endpoint, "2030-01-01T00:00:00Z") == 0
    assert [(r.params["limit"], r.records) for r in sandbox.requests] == [("1", 1), ("1", 0)]


@responses.activate
def test_count_changed_without_a_total_reads_the_page():
    responses.add(responses.GET, f"{BASE_URL}/v1/resource", json={"data": [{"id": 1}]})
    assert count_changed(BASE_URL, KEY, offset_endpoint("t", "/v1/resource"), "2025-01-01T00:00:00Z") == 1


def test_a_failed_probe_names_the_endpoint_and_status_but_never_the_key(sandbox, api_key):
    endpoint = offset_endpoint("customer_support_data", "/v1/resource")
    sandbox.faults.add(Fault(status=403, body=b'{"error": "customer ada@example.com"}'))

    with pytest.raises(ProbeError) as denied:
        count_changed(sandbox.url, api_key, endpoint, "2025-01-01T00:00:00Z")
    with pytest.raises(ProbeError) as unreachable:
        count_changed("http://127.0.0.1:9", api_key, endpoint, "2025-01-01T00:00:00Z")

    assert str(denied.value) == "GET /v1/resource (customer_support_data) answered HTTP 403"
    assert "could not get an answer from the API" in str(unreachable.value)
    for error in (denied.value, unreachable.value):
        assert api_key not in str(error) and "ada@" not in str(error)
        # No chained exception either: requests quotes the URL, and the URL holds the key.
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
