"""dbt runs as a command from its own venv, .venv-dbt (`make install`, dbt/requirements.txt):
the code location's process never imports dbt-core, which cost every run, syncs included,
1.9 s and 70 MB (docs/performance.md)."""

import subprocess
import sys

from support_assets.defs.metrics import DBT_EXECUTABLE
from support_assets.defs.resources import PROJECT_ROOT

LOAD_AND_LIST = """
import importlib.util, sys
import support_assets.definitions
# `dbt` alone may be this project's dbt/ folder, seen as a namespace package from the root.
imported = sorted(m for m in sys.modules if m.startswith(("dbt.", "dbt_")))
try:
    installed = importlib.util.find_spec("dbt.version") is not None
except ModuleNotFoundError:
    installed = False
print(installed, imported)
"""


def test_loading_the_code_location_imports_no_dbt_core():
    out = subprocess.run([sys.executable, "-c", LOAD_AND_LIST], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\n")[-2]
    assert out == "False []"  # not installed beside Dagster, so nothing imports it


def test_the_metrics_run_the_dbt_of_make_install():
    assert DBT_EXECUTABLE == str(PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt")
    version = subprocess.run([DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True).stdout
    assert "1.11.16" in version and "duckdb" in version and "postgres" in version
