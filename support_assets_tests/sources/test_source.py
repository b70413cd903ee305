"""The dlt source at the HTTP level (responses): auth, pagination, data selector, merge."""

import json
from urllib.parse import parse_qs, urlparse

import dlt
import duckdb
import pytest
import responses

from support_assets.sources.settings import Endpoint
from support_assets.sources.progress import SyncProgress
from support_assets.sources.schema import POSITION_COLUMN
from support_assets.sources import support_api_source
from support_assets_tests.helpers import offset_endpoint

BASE_URL = "http://api.test"
KEY = "unit-test-key"


def serve(records):
    """Registers /v1/resource serving `records` with offset/limit, like the real API."""

    def callback(request):
        query = parse_qs(urlparse(request.url).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        body = {"data": records[offset : offset + limit], "total": len(records), "meta": {"ignored": True}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, f"{BASE_URL}/v1/resource", callback=callback)


def tickets(count, start=1):
    return [{"id": i, "customer_id": 1000 + i, "subject": f"ticket {i}"} for i in range(start, start + count)]


def extract(**kwargs):
    source = support_api_source(BASE_URL, KEY, **kwargs)
    return list(source.resources["customer_support_data"])


def without_position(rows):
    """The records as the API sent them, without the position the source numbers them by."""
    return [{k: v for k, v in row.items() if k != POSITION_COLUMN} for row in rows]


def queries():
    return [parse_qs(urlparse(call.request.url).query) for call in responses.calls]


@responses.activate
@pytest.mark.parametrize(
    "total, expected_offsets",
    [(0, [0]), (99, [0]), (100, [0]), (200, [0, 100]), (250, [0, 100, 200]), (1000, list(range(0, 1000, 100)))],
)
def test_pagination_stops_on_the_last_page(total, expected_offsets):
    serve(tickets(total))

    rows = extract()

    assert [row["id"] for row in rows] == list(range(1, total + 1))
    # Pages after the first are requested concurrently: compare the set, each once.
    assert sorted(int(q["offset"][0]) for q in queries()) == expected_offsets


@responses.activate
def test_every_request_carries_the_key_and_a_limit_of_100():
    serve(tickets(250))

    extract()

    assert len(queries()) == 3
    for query in queries():
        assert query["api_key"] == [KEY]
        assert query["limit"] == ["100"]


@responses.activate
def test_records_are_taken_from_data_only():
    serve(tickets(3))

    rows = extract()

    assert without_position(rows) == tickets(3)
    assert [row[POSITION_COLUMN] for row in rows] == [0, 1, 2]


@responses.activate
def test_a_total_that_is_not_a_number_fails_without_quoting_the_body():
    responses.get(f"{BASE_URL}/v1/resource", json={"data": tickets(2), "total": "many"})

    with pytest.raises(Exception) as failure:
        extract()

    assert "`total` is not a non-negative integer" in str(failure.value)
    assert "ticket 1" not in str(failure.value)


@responses.activate
def test_each_endpoint_is_a_resource_of_its_own():
    serve(tickets(2))
    responses.get(f"{BASE_URL}/v1/customers", json={"data": [{"id": 7, "name": "Ada"}], "total": 1})
    endpoints = [offset_endpoint("customer_support_data", "/v1/resource"), offset_endpoint("customers", "/v1/customers")]

    source = support_api_source(BASE_URL, KEY, endpoints=endpoints)

    assert set(source.resources) == {"customer_support_data", "customers"}
    assert without_position(source.resources["customers"]) == [{"id": 7, "name": "Ada"}]


def load(tmp_path, records):
    """Runs the source into a DuckDB file with dlt alone and returns the table's rows."""
    with responses.RequestsMock() as mock:
        mock.add_callback(
            responses.GET,
            f"{BASE_URL}/v1/resource",
            callback=lambda request: (200, {}, json.dumps({"data": records, "total": len(records)})),
        )
        pipeline = dlt.pipeline(
            pipeline_name="unit",
            destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
            dataset_name="support_api",
            pipelines_dir=str(tmp_path / "dlt"),
        )
        source = support_api_source(BASE_URL, KEY, resources=["customer_support_data"])
        pipeline.run(source, loader_file_format="parquet")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        return db.sql(
            "select id, customer_id, subject from support_api.customer_support_data order by id"
        ).fetchall()


def test_merge_by_id_keeps_one_row_per_id_and_updates_in_place(tmp_path):
    first = tickets(50)
    assert len(load(tmp_path, first)) == 50

    changed = [dict(row) for row in first]
    changed[9]["subject"] = "changed upstream"
    rows = load(tmp_path, changed)

    assert len(rows) == 50
    assert len({row[0] for row in rows}) == 50
    assert rows[9] == (10, 1010, "changed upstream")


@responses.activate
def test_progress_counts_pages_and_records_per_endpoint_as_they_arrive():
    serve(tickets(250))
    lines = []
    progress = SyncProgress(log=lines.append, log_every=0)

    list(support_api_source(BASE_URL, KEY, progress=progress).resources["customer_support_data"])

    assert progress.endpoints["customer_support_data"].pages == 3
    assert progress.records == 250
    assert lines == [
        "customer_support_data: 1 page, 100 of 250 records fetched so far",
        "customer_support_data: 2 pages, 200 of 250 records fetched so far",
        "customer_support_data: 3 pages, 250 of 250 records fetched so far",
        "customer_support_data: all pages fetched (3 pages, 250 of 250 records)",
    ]
