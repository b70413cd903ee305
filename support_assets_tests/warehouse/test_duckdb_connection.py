"""The DuckDB connection of a sync gets the settings of .dlt/config.toml: its memory cap and
its one thread are what keep a full sync's peak memory flat as the table grows."""

from support_assets.defs.resources import WarehouseResource


def test_a_sync_loads_with_the_memory_limit_and_thread_count_of_the_config_file(tmp_path):
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "support.duckdb"), pipelines_dir=str(tmp_path / "dlt"))
    with warehouse.sync_pipeline() as pipeline, pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT current_setting('memory_limit'), current_setting('threads')")
    assert rows == [("61.0 MiB", 1)]  # 64MB (10^6 bytes) as DuckDB shows it
