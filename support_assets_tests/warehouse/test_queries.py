"""The warehouse questions of the checks: one connection for all of them in a `connected()` block."""

import dlt

from support_assets.warehouse.queries import Warehouse


def counted_pipeline(tmp_path, rows):
    """A DuckDB pipeline that has loaded `rows` into table `t`, and the list its sql_client
    appends to each time it is asked for a client (a connection)."""
    pipeline = dlt.pipeline("queries_test", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            dataset_name="support_api", pipelines_dir=str(tmp_path / "dlt"))
    pipeline.run(rows, table_name="t")
    opened = []
    sql_client = pipeline.sql_client

    def counting_sql_client(*args, **kwargs):
        opened.append(1)
        return sql_client(*args, **kwargs)

    pipeline.sql_client = counting_sql_client
    return pipeline, opened


def test_connected_asks_every_question_on_one_connection_and_a_missing_table_stays_none(tmp_path):
    pipeline, opened = counted_pipeline(tmp_path, [{"id": 1, "n": None}, {"id": 2, "n": 3}, {"id": 2, "n": 4}])
    with Warehouse(pipeline).connected() as db:
        answers = (db.duplicate_keys("t", "id"), db.null_counts("t", ["id", "n"]), db.row_count("missing"),
                   db.row_count("t"))
    assert answers == ((1, [2]), {"id": 0, "n": 1}, None, 3)
    assert len(opened) == 1

    assert Warehouse(pipeline).row_count("t") == 3 and len(opened) == 2  # outside a block: one per question


def test_a_block_opens_its_connection_at_the_first_question_and_nested_blocks_share_it(tmp_path):
    pipeline, opened = counted_pipeline(tmp_path, [{"id": 1}, {"id": 2}])
    db = Warehouse(pipeline)
    with db.connected():
        assert opened == []  # a sync's block opens no connection before its load
        assert db.row_count("t") == 2
        with db.connected():  # the checks' block inside the sync's
            assert db.duplicate_keys("t", "id") == (0, [])
        assert db.row_count("t") == 2
    assert len(opened) == 1
    with db.connected():
        pass
    assert len(opened) == 1  # a block with no question opens none
    with db.connected():
        assert db.row_count("t") == 2
    assert len(opened) == 2  # a new block, a new connection
