"""docs/sources.md's example, as written there: the source loaded with a plain
dlt.pipeline into DuckDB, configured by dlt's variables, against the sandbox."""

import re
import subprocess
import sys

from support_assets.defs.resources import PROJECT_ROOT
from support_assets_tests.helpers import rows

PAGE = PROJECT_ROOT / "docs" / "sources.md"


def test_the_docs_example_loads_every_sandbox_record_into_duckdb(tmp_path, sandbox, api_key):
    (code,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    (tmp_path / "sources_example.py").write_text(code)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SOURCES__SUPPORT_API__BASE_URL": sandbox.url,
        "SOURCES__SUPPORT_API__API_KEY": api_key,
    }
    result = subprocess.run(
        [sys.executable, "sources_example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'customer_support_data': 250" in result.stdout  # the sandbox fixture's 250 records
    assert api_key not in result.stdout + result.stderr
    ids = rows(tmp_path / "support_example.duckdb", "select count(distinct id) from tickets.customer_support_data")
    assert ids == [(250,)]
