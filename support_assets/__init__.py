"""support_assets: the support API's data as Dagster assets loaded by dlt.

Arrow's allocator is chosen here, before anything imports pyarrow (Arrow reads the setting
once, when it loads): the system allocator instead of pyarrow's default, mimalloc, which
keeps memory it has freed. A sync writes its Arrow tables to Parquet and loads them
(arrow_pages.py); at 100,000 records its peak memory was 25 MB lower with the system
allocator, at the same speed (docs/performance.md). A value the user set is kept.
"""

import os

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
