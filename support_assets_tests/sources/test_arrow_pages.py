"""The Arrow path (arrow_pages.py) lands exactly what dlt's normalizer lands: the same
columns with the same types, nullability and dlt hints, and the same values, for clean
batches (Arrow) and for batches that need dlt's coercion or add a column (records)."""

import json
from urllib.parse import parse_qs, urlparse

import dlt
import duckdb
import pytest
import responses

from support_assets.sources import arrow_pages
from support_assets.sources.arrow_pages import ArrowRecords, PageBatches
from support_assets.sources.sync_plan import SyncPlan, SyncType
from support_assets.sandbox import SandboxServer
from support_assets.sandbox.store import RecordStore
from support_assets.sources import support_api_source

BASE_URL = "https://api.example.test"
TABLE = "support_api.customer_support_data"
# Values that differ per load or per row id, not per record.
PER_LOAD = ("_dlt_id", "_dlt_load_id")


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    # Several batches from a few thousand records: 1,000 records (10 pages) a batch.
    monkeypatch.setattr(arrow_pages, "BATCH_SIZE", 1_000)


@pytest.fixture
def batches(monkeypatch):
    """How each batch went: "arrow" or "records", in order."""
    seen: list[str] = []
    to_arrow = ArrowRecords.to_arrow

    def spy(self, records, load_id):
        table = to_arrow(self, records, load_id)
        seen.append("records" if table is None else "arrow")
        return table

    monkeypatch.setattr(ArrowRecords, "to_arrow", spy)
    return seen


def load(path, url, key, *, arrow, plan=None):
    pipeline = dlt.pipeline(
        pipeline_name="arrow_or_records",
        destination=dlt.destinations.duckdb(str(path / "warehouse.duckdb")),
        dataset_name="support_api",
        pipelines_dir=str(path / "dlt"),
    )
    # The tickets alone: with their comments (a child) in the source, they would go as records.
    source = support_api_source(url, key, arrow=arrow, plan=plan, resources=["customer_support_data"])
    pipeline.run(source, loader_file_format="parquet")
    return pipeline


def warehouse(path, pipeline) -> dict:
    """What a user sees: columns as DuckDB reports them, dlt's column hints, every row."""
    with duckdb.connect(str(path / "warehouse.duckdb"), read_only=True) as db:
        columns = db.sql(
            "select table_name, column_name, data_type, is_nullable from information_schema.columns"
            " where table_schema = 'support_api' and table_name not like '\\_dlt%' escape '\\'"
            " order by table_name, ordinal_position"
        ).fetchall()
        names = [c[1] for c in columns if c[0] == "customer_support_data" and c[1] not in PER_LOAD]
        table = db.sql(f"select {', '.join(names)} from {TABLE} order by id").fetchall()
        tables = sorted(t for (t,) in db.sql(
            "select table_name from information_schema.tables where table_schema = 'support_api'"
        ).fetchall())
    hints = {
        name: {k: v for k, v in column.items() if k != "description"}
        for name, column in pipeline.default_schema.get_table_columns("customer_support_data").items()
    }
    return {"columns": columns, "hints": hints, "rows": table, "tables": tables}


def both_paths(tmp_path, url, key, plan=None) -> tuple[dict, dict]:
    fast = load(tmp_path / "arrow", url, key, arrow=True, plan=plan)
    slow = load(tmp_path / "records", url, key, arrow=False, plan=plan)
    return warehouse(tmp_path / "arrow", fast), warehouse(tmp_path / "records", slow)


@pytest.fixture
def tickets(api_key):
    with SandboxServer(api_key=api_key, records=2_550) as server:
        yield server


def test_clean_batches_go_as_arrow_and_land_the_same_rows_columns_and_hints(tickets, api_key, tmp_path, batches):
    fast, slow = both_paths(tmp_path, tickets.url, api_key)

    assert batches == ["arrow", "arrow", "arrow"]  # 1,000 + 1,000 + 550 records
    assert fast == slow
    assert len(fast["rows"]) == 2_550
    assert ("customer_support_data", "tags", "JSON", "YES") in fast["columns"]
    assert fast["hints"]["_dlt_id"] == {
        "name": "_dlt_id", "data_type": "text", "nullable": False, "unique": True, "row_key": True,
    }
    # Nulls and empty lists come through as dlt writes them.
    priorities = [row[4] for row in fast["rows"]]
    assert None in priorities
    assert "[]" in {row[10] for row in fast["rows"]}


def test_an_incremental_sync_after_changes_lands_the_same_on_both_paths(tickets, api_key, tmp_path, batches):
    plan = SyncPlan(SyncType.incremental, lookback_seconds=0)
    fast = load(tmp_path / "arrow", tickets.url, api_key, arrow=True, plan=plan)
    slow = load(tmp_path / "records", tickets.url, api_key, arrow=False, plan=plan)
    tickets.store.update(7, subject="changed", tags=["vip"])
    tickets.store.update(2_000, requester=None, tags=[])
    tickets.store.add(3)

    fast = load(tmp_path / "arrow", tickets.url, api_key, arrow=True, plan=plan)
    slow = load(tmp_path / "records", tickets.url, api_key, arrow=False, plan=plan)

    assert batches[-1] == "arrow"
    assert warehouse(tmp_path / "arrow", fast) == warehouse(tmp_path / "records", slow)
    # The cursor is read from the records on both paths, and stored as the API writes it.
    cursor = {
        name: p.state["sources"]["support_api"]["resources"]["customer_support_data"]["incremental"]
        ["updated_at"]["last_value"]
        for name, p in (("arrow", fast), ("records", slow))
    }
    assert cursor["arrow"] == cursor["records"] == max(r["updated_at"] for r in tickets.store.all_records())


# Valid values that dlt coerces or treats specially, and the path their batch takes: the
# records path whenever Arrow would not type the value exactly as dlt does.
ODD_BUT_VALID = {
    "an id sent as a string": ({"customer_id": "1042"}, "records"),
    "a timestamp without a zone": ({"updated_at": "2026-05-01T10:00:00"}, "records"),
    "a text field sent as a number": ({"subject": 404}, "records"),
    "a tag sent as a number": ({"tags": ["vip", 7]}, "records"),
    "a float that is a whole number": ({"customer_id": 1042.0}, "arrow"),
    "a timestamp with an offset": ({"created_at": "2026-05-01T12:00:00+02:00"}, "arrow"),
    "a timestamp with microseconds": ({"created_at": "2026-05-01T12:00:00.123456Z"}, "arrow"),
    "no requester": ({"requester": None}, "arrow"),
    "a field left out": ({"priority": ...}, "arrow"),  # ...: the record has no such key
    "a requester without an email": ({"requester": {"name": "Ada"}}, "arrow"),
}


def serve(records):
    def callback(request):
        query = parse_qs(urlparse(request.url).query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        page = {"data": records[offset : offset + limit], "total": len(records)}
        return 200, {"Content-Type": "application/json"}, json.dumps(page)

    mock = responses.RequestsMock()
    mock.add_callback(responses.GET, f"{BASE_URL}/v1/resource", callback=callback)
    return mock


def tickets_like_the_sandbox(count):
    return RecordStore("customer_support_data", count).all_records()


@pytest.mark.parametrize("fields, path", ODD_BUT_VALID.values(), ids=ODD_BUT_VALID.keys())
def test_odd_but_valid_values_land_the_same_on_both_paths(tmp_path, batches, fields, path):
    records = tickets_like_the_sandbox(2_500)
    record = {**records[1_500], **fields}  # in the second batch
    records[1_500] = {key: value for key, value in record.items() if value is not ...}

    with serve(records):
        fast, slow = both_paths(tmp_path, BASE_URL, "unit-test-key")

    assert batches == ["arrow", path, "arrow"]
    assert fast == slow


def test_a_new_field_goes_as_records_and_becomes_a_column_on_both_paths(tmp_path, batches):
    records = tickets_like_the_sandbox(2_500)
    records[2_200] = {**records[2_200], "escalation_level": 2, "requester": {"name": "A", "email": None, "team": "x"}}

    with serve(records):
        fast, slow = both_paths(tmp_path, BASE_URL, "unit-test-key")

    assert batches == ["arrow", "arrow", "records"]
    assert fast == slow
    names = [c[1] for c in fast["columns"]]
    assert "escalation_level" in names and "requester__team" in names


def test_a_full_refresh_keeps_the_first_copy_of_a_repeated_id_on_both_paths(tmp_path, batches):
    records = tickets_like_the_sandbox(2_500)
    records[1_999] = {**records[1_999], "id": 5, "subject": "second copy"}  # last record of batch 2

    with serve(records):
        fast, slow = both_paths(tmp_path, BASE_URL, "unit-test-key", plan=SyncPlan(SyncType.full_refresh))

    assert batches == ["arrow", "arrow", "arrow"]
    assert fast == slow
    assert len(fast["rows"]) == 2_499


class Pages:
    """Pages as rest_api yields them: lists that carry their paginator."""

    def __init__(self, sizes):
        self.sizes = sizes

    def __iter__(self):
        next_id = 0
        for number, size in enumerate(self.sizes):
            page = type("PageData", (list,), {})(range(next_id, next_id + size))
            page.paginator = type("P", (), {"has_next_page": number < len(self.sizes) - 1})()
            next_id += size
            yield page


def test_pages_join_into_batches_and_the_last_batch_leaves_with_the_last_page():
    step = PageBatches(250)

    out = [step(page) for page in Pages([100, 100, 100, 100, 100, 30])]

    assert [None if o is None else len(o) for o in out] == [None, None, 300, None, None, 230]
    assert [i for o in out if o for i in o] == list(range(530))


def test_a_pagination_of_one_empty_page_gives_one_empty_batch_and_anything_else_passes():
    step = PageBatches(250)

    assert [step(page) for page in Pages([0])] == [[]]
    assert step({"id": 1}) == {"id": 1}
