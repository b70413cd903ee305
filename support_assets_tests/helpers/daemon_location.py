"""A test-only code location: the real one plus a sensor that asks for two syncs at once.

The real schedules and sensors are built elsewhere; this lets the daemon test launch a
sync through the sensor -> run queue -> run launcher path without waiting for a minute.
"""

import dagster as dg

from support_assets.definitions import build_definitions

SENSOR = "support_api_test_sensor"


@dg.sensor(
    name=SENSOR,
    job_name="support_api_sync",
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def support_api_test_sensor(context: dg.SensorEvaluationContext):
    # Two at once, to see the support_api pool make the second wait for the first. Run
    # keys make the daemon launch each once, however often the sensor ticks.
    yield dg.RunRequest(run_key="sync-1")
    yield dg.RunRequest(run_key="sync-2")


defs = dg.Definitions.merge(build_definitions(), dg.Definitions(sensors=[support_api_test_sensor]))
