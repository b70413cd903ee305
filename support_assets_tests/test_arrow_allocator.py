"""Arrow's allocator: the system's in any process that loads support_assets before pyarrow
(support_assets/__init__.py), unless the user chose one."""

import os
import subprocess
import sys

import pytest

BACKEND = "import pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def backend(imports: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    result = subprocess.run(
        [sys.executable, "-c", f"{imports}; {BACKEND}"],
        env={**environment, **env}, capture_output=True, text=True, timeout=120, check=True,
    )
    return result.stdout.strip()


def test_pyarrows_default_without_support_assets():
    assert backend("import os") == "mimalloc"  # what the package changes


@pytest.mark.parametrize(
    "imports", ["import support_assets.definitions", "import support_assets.sources"]
)
def test_the_system_allocator_where_a_sync_runs(imports):
    # The code location (Dagster's run workers, `dagster asset materialize`) and the dlt
    # source on its own.
    assert backend(imports) == "system"


def test_an_allocator_the_user_chose_is_kept():
    assert backend("import support_assets", ARROW_DEFAULT_MEMORY_POOL="jemalloc") == "jemalloc"
