"""support_assets/sources/ is pure dlt: importing every module under it, in a fresh
process, loads no Dagster module."""

import json
import subprocess
import sys
from pathlib import Path

import support_assets.sources

SCRIPT = """
import importlib, json, pkgutil, sys
import support_assets.sources as package
names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "dagster": sorted(m for m in sys.modules if m.split(".")[0].startswith("dagster"))}))
"""


def test_no_module_under_sources_imports_dagster():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    modules = {p.stem for p in Path(support_assets.sources.__file__).parent.glob("*.py")} - {"__init__"}
    assert {name.rsplit(".", 1)[-1] for name in report["imported"]} == modules
    assert report["dagster"] == [], f"imported by support_assets.sources: {report['dagster']}"
