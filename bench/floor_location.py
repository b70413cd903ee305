"""Floor (a) of `make bench`: the cheapest code location Dagster runs, one trivial asset
with the in-process executor. bench/run.py materializes it through the same `dagster`
CLI, and launches it through the same webserver and daemon, as the project's assets:
whatever the project costs above it is the project's own."""

import dagster as dg


@dg.asset
def trivial() -> int:
    return 1


defs = dg.Definitions(assets=[trivial], executor=dg.in_process_executor)
