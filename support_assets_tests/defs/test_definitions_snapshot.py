"""Every definition of the code location, snapshotted: asset specs (kinds, group,
description, deps), checks, jobs, schedules with their cron, sensors and the resources'
non-secret config. A change to any of them shows as a diff here.

Regenerate after an intended change (docs/testing.md):

    SUPPORT_UPDATE_SNAPSHOT=1 .venv/bin/pytest support_assets_tests/defs/test_definitions_snapshot.py
"""

import difflib
import json
import os
from pathlib import Path

import dagster as dg
from dagster_dlt.constants import META_KEY_PIPELINE

from support_assets.defs.resources import PROJECT_ROOT

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
UPDATE_ENV = "SUPPORT_UPDATE_SNAPSHOT"


def _config_value(value):
    if isinstance(value, dg.EnvVar):
        return {"env_var": value.env_var_name}  # the variable's name, never its value
    if isinstance(value, str) and value.startswith(str(PROJECT_ROOT)):
        return "<project>" + value[len(str(PROJECT_ROOT)):]
    return value


def describe(defs: dg.Definitions) -> dict:
    """The definitions as plain data, in a stable order."""
    specs = [spec for assets in defs.assets for spec in assets.specs]
    # The checks of an asset's own step (check_specs) and those of steps of their own.
    checks = [spec for nodes in (*defs.assets, *defs.asset_checks) for spec in nodes.check_specs]
    return {
        "assets": [
            {
                "key": spec.key.to_user_string(),
                "group": spec.group_name,
                "kinds": sorted(spec.kinds),
                "description": spec.description,
                "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            }
            for spec in sorted(specs, key=lambda s: s.key.to_user_string())
        ],
        "asset_ops": [
            {"op": assets.op.name, "pool": assets.op.pool, "keys": sorted(k.to_user_string() for k in assets.keys),
             # the checks this op evaluates in its own step
             "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in assets.check_keys),
             # the dlt pipeline whose state (incremental cursors) the op reads and writes
             "dlt_pipeline": getattr(next(iter(assets.specs)).metadata.get(META_KEY_PIPELINE), "pipeline_name", None)}
            for assets in defs.assets
        ],
        "checks": [
            {"key": f"{spec.asset_key.to_user_string()}:{spec.name}", "description": spec.description,
             "blocking": spec.blocking}
            for spec in sorted(checks, key=lambda s: (s.asset_key.to_user_string(), s.name))
        ],
        "jobs": [
            {"name": job.name, "description": job.description,
             "op_retry_policy": repr(job.op_retry_policy) if job.op_retry_policy else None}
            for job in sorted(defs.jobs, key=lambda j: j.name)
        ],
        "schedules": [
            {"name": s.name, "cron": s.cron_schedule, "timezone": s.execution_timezone,
             "job": s.job_name, "default_status": s.default_status.value}
            for s in sorted(defs.schedules, key=lambda s: s.name)
        ],
        "sensors": [
            {"name": s.name, "type": type(s).__name__, "minimum_interval_seconds": s.minimum_interval_seconds,
             "default_status": s.default_status.value,
             "jobs": sorted(t.job_name for t in s.targets) if s.has_jobs else []}
            for s in sorted(defs.sensors, key=lambda s: s.name)
        ],
        "resources": {
            name: {"type": type(resource).__name__,
                   **{k: _config_value(v) for k, v in sorted(resource.__dict__.items()) if not k.startswith("_")}}
            for name, resource in sorted(defs.resources.items())
        },
    }


def test_the_definitions_match_the_snapshot(monkeypatch):
    # The defaults a fresh clone gets: no SUPPORT_* variable of the test environment.
    for name in [n for n in os.environ if n.startswith("SUPPORT_") and n != UPDATE_ENV]:
        monkeypatch.delenv(name)
    from support_assets.definitions import build_definitions

    current = json.dumps(describe(build_definitions()), indent=2, sort_keys=False) + "\n"
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.write_text(current)
    expected = SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(
        expected.splitlines(True), current.splitlines(True), str(SNAPSHOT.name), "the code location now"
    ))
    assert not diff, (
        f"the definitions changed; if that is intended, regenerate with"
        f" {UPDATE_ENV}=1 .venv/bin/pytest {Path(__file__).relative_to(PROJECT_ROOT)}\n{diff}"
    )
