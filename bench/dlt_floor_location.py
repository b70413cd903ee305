"""Floor (c) of `make bench`: the least a dlt sync costs through Dagster. One asset that
merges two records into a DuckDB file with dlt, in Parquet files, as the project's syncs
load; no API request, no checks, no metadata. Like the project's code location it imports
dlt when it loads (dagster-dlt needs it there), pyarrow in the run (the Parquet files), loads
with the garbage collector off and freezes what it loaded out of the collector's way.

bench/run.py materializes it through the same `dagster` CLI and launches it through the same
webserver and daemon as the project's assets: what it costs above floor (a) is dlt's own,
what the project costs above it is the project's."""

import gc

gc.disable()  # as support_assets/definitions.py: no collector pass over the imports

import os  # noqa: E402
from pathlib import Path  # noqa: E402

import dagster as dg  # noqa: E402
import dlt  # noqa: E402


@dg.asset
def dlt_minimal() -> None:
    data = Path(os.environ.get("SUPPORT_DATA_DIR") or "data")
    data.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        "dlt_floor", destination=dlt.destinations.duckdb(str(data / "dlt_floor.duckdb")),
        dataset_name="floor", pipelines_dir=str(data / "dlt"),
    )
    records = [{"id": 1, "updated_at": "2026-01-01T00:00:00Z"}, {"id": 2, "updated_at": "2026-01-01T00:00:00Z"}]
    pipeline.run(records, table_name="tickets", write_disposition="merge", primary_key="id",
                 loader_file_format="parquet").raise_on_failed_jobs()


defs = dg.Definitions(assets=[dlt_minimal], executor=dg.in_process_executor)
# As support_assets/definitions.py does: with dlt loaded, the collector's walk of the loaded code
# at exit took 0.7 s, which no dlt-based code location needs to pay.
gc.freeze()
gc.enable()
