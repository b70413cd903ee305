"""The Arrow path loads the same rows and the same schema as dlt's record path, or steps
aside; joined pages keep every record once and in order."""

from pathlib import Path

import dlt
import duckdb
import pytest

from support_assets.arrow_pages import ArrowBatches, join_pages
from support_assets.source import support_api_source

SYSTEM = ("_dlt_id", "_dlt_load_id")


def load(tmp_path: Path, name: str, source, runs: int = 1):
    """Runs `source` (a callable making it) `runs` times into a DuckDB file of its own;
    returns the pipeline and the file."""
    path = tmp_path / f"{name}.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(path)),
        dataset_name="support_api",
        pipelines_dir=str(tmp_path / f"{name}_dlt"),
    )
    for _ in range(runs):
        pipeline.run(source(), loader_file_format="parquet")
    return pipeline, path


def schema_of(path: Path) -> set[tuple]:
    with duckdb.connect(str(path), read_only=True) as db:
        return set(
            db.execute(
                "select table_name, column_name, data_type, is_nullable"
                " from information_schema.columns where table_schema = 'support_api'"
                " and table_name not like '\\_dlt%' escape '\\'"
            ).fetchall()
        )


def rows_of(path: Path) -> dict[str, set[tuple]]:
    """Every row of every data table, dlt's random row ids left out, as comparable text."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as db:
        tables = [t for (t, *_) in schema_of_tables(db)]
        for table in tables:
            columns = [
                c
                for (c,) in db.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'support_api' and table_name = ? order by 1",
                    [table],
                ).fetchall()
                if c not in SYSTEM and c not in ("_dlt_parent_id", "_dlt_root_id")
            ]
            select = ", ".join(f'"{c}"::varchar' for c in columns)
            out[table] = set(db.execute(f"select {select} from support_api.{table}").fetchall())
    return out


def schema_of_tables(db):
    return db.execute(
        "select table_name from information_schema.tables where table_schema = 'support_api'"
        " and table_name not like '\\_dlt%' escape '\\'"
    ).fetchall()


def arrow_metrics(pipeline) -> dict:
    metrics = pipeline.last_trace.last_extract_info.metrics
    for load_metrics in metrics.values():
        for metric in load_metrics:
            for resource, values in metric["resource_metrics"].items():
                if values.custom_metrics:
                    return values.custom_metrics
    return {}


def test_the_sandbox_tickets_load_the_same_through_arrow_and_records(tmp_path, sandbox, api_key):
    sandbox.store.add(1_000)  # 1,250 tickets
    sandbox.store.update(3, priority=None, tags=[])

    def source(arrow):
        return lambda: support_api_source(sandbox.url, api_key, arrow=arrow)

    records, records_db = load(tmp_path, "records", source(False))
    arrow, arrow_db = load(tmp_path, "arrow", source(True))

    assert schema_of(arrow_db) == schema_of(records_db)
    assert rows_of(arrow_db) == rows_of(records_db)
    assert len(rows_of(arrow_db)["customer_support_data"]) == 1_250
    with duckdb.connect(str(arrow_db), read_only=True) as db:
        ids = db.execute(
            "select count(distinct _dlt_id), count(distinct _dlt_load_id)"
            " from support_api.customer_support_data"
        ).fetchone()
    assert ids == (1_250, 1)  # a row id each, one load id
    # ...and it was the Arrow path: no batch went back to records.
    assert arrow_metrics(arrow) == {"arrow_batches": 1, "record_batches": 0}
    # The declared schema: tags as one JSON column, the requester flattened.
    columns = {c for (_, c, *_) in schema_of(arrow_db)}
    assert {"tags", "requester__name", "requester__email", *SYSTEM} <= columns
    assert ("customer_support_data", "id", "BIGINT", "NO") in schema_of(arrow_db)
    assert ("customer_support_data", "created_at", "TIMESTAMP WITH TIME ZONE", "YES") in schema_of(
        arrow_db
    )


def pages(*batches):
    """A resource yielding the given pages of records, like the rest_api resource does."""

    def make():
        @dlt.resource(name="items", primary_key="id", write_disposition="merge")
        def items():
            yield from batches

        return items

    return make


def with_arrow(make, **hints):
    def arrow_make():
        resource = make()
        if hints:
            resource.apply_hints(**hints)
        return resource.add_step(ArrowBatches(resource, batch_rows=2))

    return arrow_make


def with_hints(make, **hints):
    def hinted():
        resource = make()
        resource.apply_hints(**hints)
        return resource

    return hinted


# pages, and whether some batch should still take the Arrow path
CASES = {
    "nested objects, nulls and missing keys": (
        [
            [{"id": 1, "who": {"name": "a", "org": {"tier": 1}}, "n": None}],
            [{"id": 2, "who": None, "extra": "later"}, {"id": 3, "who": {"name": "c"}}],
        ],
        True,
    ),
    "a list becomes a child table": (
        [[{"id": 1, "tags": ["x", "y"]}, {"id": 2, "tags": []}], [{"id": 3, "tags": ["z"]}]],
        False,
    ),
    "a type that changes": ([[{"id": 1, "v": 1}, {"id": 2, "v": "two"}], [{"id": 3, "v": 3}]], True),
    "ints, then floats": ([[{"id": 1, "v": 1}, {"id": 2, "v": 2.5}]], False),
    "timestamps with offsets, then not a timestamp": (
        [
            [{"id": 1, "at": "2024-05-01T10:00:00+02:00"}, {"id": 2, "at": "2024-05-01T10:00:00.5Z"}],
            [{"id": 3, "at": "yesterday"}],
        ],
        True,
    ),
    "keys dlt renames": ([[{"id": 1, "Foo Bar": 1, "camelCase": {"Inner Key": "x"}}]], True),
    "a key with a double underscore": ([[{"id": 1, "a__b": 1, "a": {"b": 2}}]], False),
    "a column that is only null": ([[{"id": 1, "nothing": None}, {"id": 2, "nothing": None}]], True),
    "booleans, and a field that appears later": (
        [[{"id": 1, "ok": True}, {"id": 2, "ok": False}], [{"id": 3, "ok": True, "new": 1.5}]],
        True,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_edge_cases_load_the_same_rows_and_schema(tmp_path, case):
    batches, takes_arrow = CASES[case]
    make = pages(*batches)

    _, records_db = load(tmp_path, "records", make)
    arrow, arrow_db = load(tmp_path, "arrow", with_arrow(make))

    assert schema_of(arrow_db) == schema_of(records_db)
    assert rows_of(arrow_db) == rows_of(records_db)
    assert (arrow_metrics(arrow)["arrow_batches"] > 0) == takes_arrow


JSON_COLUMNS = {
    "lists of values take the Arrow path": (
        [
            [{"id": 1, "tags": ["x", 'quote " and ünïcode']}, {"id": 2, "tags": []}],
            [{"id": 3, "tags": None}],
            [{"id": 4, "tags": ["back\\slash"]}, {"id": 5, "tags": ["z"]}],
        ],
        True,
    ),
    "objects stay records": (
        [[{"id": 1, "tags": [{"a": 1}]}, {"id": 2, "tags": {"b": None}}], [{"id": 3, "tags": {"c": 1}}]],
        False,
    ),
}


@pytest.mark.parametrize("case", JSON_COLUMNS)
def test_a_column_declared_json(tmp_path, case):
    batches, takes_arrow = JSON_COLUMNS[case]
    make = pages(*batches)
    hints = {"columns": {"tags": {"data_type": "json"}}}

    _, records_db = load(tmp_path, "records", with_hints(make, **hints))
    arrow, arrow_db = load(tmp_path, "arrow", with_arrow(make, **hints))

    assert schema_of(arrow_db) == schema_of(records_db)
    assert rows_of(arrow_db) == rows_of(records_db)
    assert (arrow_metrics(arrow)["arrow_batches"] > 0) == takes_arrow


def test_row_ids_made_by_dlt_in_normalize_instead_give_the_same_table(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    make = pages([{"id": 1, "v": "a"}], [{"id": 2, "v": "b"}])

    _, records_db = load(tmp_path, "records", make)
    arrow, arrow_db = load(tmp_path, "arrow", with_arrow(make))

    assert schema_of(arrow_db) == schema_of(records_db)
    assert rows_of(arrow_db) == rows_of(records_db)
    assert arrow_metrics(arrow)["arrow_batches"] == 1


@pytest.mark.parametrize("strategy", ["upsert", "scd2"])
def test_merge_strategies_with_derived_row_ids_stay_records(tmp_path, strategy):
    def make():
        @dlt.resource(
            name="items",
            primary_key="id",
            write_disposition={"disposition": "merge", "strategy": strategy},
        )
        def items():
            yield [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]

        return items

    _, records_db = load(tmp_path, "records", make)
    arrow, arrow_db = load(tmp_path, "arrow", with_arrow(make))

    assert schema_of(arrow_db) == schema_of(records_db)
    assert arrow_metrics(arrow) == {"arrow_batches": 0, "record_batches": 1}


def test_a_second_sync_merges_the_same_way(tmp_path):
    first = [{"id": 1, "s": "a", "at": "2024-01-01T00:00:00Z"}, {"id": 2, "s": "b", "at": None}]
    second = [{"id": 2, "s": "B", "at": "2024-02-01T00:00:00Z"}, {"id": 3, "s": "c"}]
    calls = iter([first, second, first, second])

    def make():
        @dlt.resource(name="items", primary_key="id", write_disposition="merge")
        def items():
            yield next(calls)

        return items

    _, records_db = load(tmp_path, "records", make, runs=2)
    _, arrow_db = load(tmp_path, "arrow", with_arrow(make), runs=2)

    assert schema_of(arrow_db) == schema_of(records_db)
    assert rows_of(arrow_db) == rows_of(records_db)
    assert len(rows_of(arrow_db)["items"]) == 3


def test_a_null_primary_key_fails_as_it_does_without_arrow(tmp_path):
    make = pages([{"id": 1}, {"id": None}])

    for name, source in (("records", make), ("arrow", with_arrow(make))):
        with pytest.raises(Exception) as failure:
            load(tmp_path, name, source)
        assert "id" in str(failure.value)


@pytest.mark.parametrize(
    "setting",
    ["NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "DATA_WRITER__ARROW_CONCAT_PROMOTE_OPTIONS"],
)
def test_without_the_settings_arrow_needs_the_records_path_is_kept(tmp_path, monkeypatch, setting):
    monkeypatch.setenv(setting, "none" if "PROMOTE" in setting else "false")
    make = pages([{"id": 1, "v": "a"}], [{"id": 2, "v": "b"}])

    _, records_db = load(tmp_path, "records", make)
    arrow, arrow_db = load(tmp_path, "arrow", with_arrow(make))

    assert schema_of(arrow_db) == schema_of(records_db)
    assert rows_of(arrow_db) == rows_of(records_db)
    assert arrow_metrics(arrow) == {"arrow_batches": 0, "record_batches": 0}


def test_pages_are_joined_into_batches_with_every_record_once_in_order():
    source = iter([[1, 2], [3], "not a page", [4, 5, 6], [7]])

    assert list(join_pages(source, rows=3)) == [[1, 2, 3], "not a page", [4, 5, 6], [7]]


def test_closing_the_batches_closes_the_pages():
    closed = []

    def pages_gen():
        try:
            yield [1]
            yield [2]
        finally:
            closed.append(True)

    batches = join_pages(pages_gen(), rows=1)
    assert next(batches) == [1]
    batches.close()
    assert closed == [True]
