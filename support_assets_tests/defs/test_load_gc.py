"""The garbage collector while the code location loads (definitions.py): off during the load,
so it never walks the hundreds of thousands of objects being imported, then on again with
them frozen out of its way, also when the load fails. Each case is a fresh interpreter, as
the `dagster` CLI, a run worker and a step process each are."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Dagster is imported first, as the CLI and the run worker have it before they load the module.
LOAD = """
import gc, json, os
import dagster
passes = []
gc.callbacks.append(lambda phase, info: passes.append(info["generation"]) if phase == "start" else None)
try:
    import support_assets.definitions
    error = None
except Exception as exc:
    error = type(exc).__name__
print(json.dumps({"passes": passes, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "error": error}))
"""


def load(tmp_path, **env: str) -> dict:
    environ = {"PATH": "/usr/bin:/bin", "SUPPORT_API_BASE_URL": "http://127.0.0.1:9", "SUPPORT_API_KEY": "k",
               "SUPPORT_DATA_DIR": str(tmp_path / "data"), "RUNTIME__DLTHUB_TELEMETRY": "false", **env}
    proc = subprocess.run([sys.executable, "-c", LOAD], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_the_collector_makes_no_pass_while_the_code_location_loads_and_is_on_after_it(tmp_path):
    result = load(tmp_path)
    assert result["error"] is None
    assert result["passes"] == []
    assert result["enabled"] is True
    # What the load created is frozen: the collector's later passes (and the exit's) skip it.
    assert result["frozen"] > 100_000


def test_a_load_that_fails_leaves_the_collector_on(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: [{name: tickets}]\n")  # no endpoint.path
    result = load(tmp_path, SUPPORT_API_CONFIG=str(bad))
    assert result["error"] == "ConfigFileError"
    assert result["enabled"] is True
