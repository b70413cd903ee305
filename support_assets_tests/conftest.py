"""Shared fixtures: a sentinel API key, the sandbox API on loopback, a warehouse in tmp_path."""

import os
import uuid

import pytest

from support_assets.defs.resources import WarehouseResource
from support_assets.sandbox import SandboxServer

@pytest.fixture
def api_key() -> str:
    """A key unique to the test, so that any output can be searched for it."""
    return f"sentinel-key-{uuid.uuid4().hex}"


@pytest.fixture
def sandbox(api_key):
    with SandboxServer(api_key=api_key, records=250) as server:
        yield server


@pytest.fixture
def warehouse(tmp_path) -> WarehouseResource:
    return WarehouseResource(
        duckdb_path=str(tmp_path / "support.duckdb"), pipelines_dir=str(tmp_path / "dlt")
    )


@pytest.fixture
def api_env(monkeypatch, sandbox, api_key):
    """The environment a user sets: base URL and key."""
    monkeypatch.setenv("SUPPORT_API_BASE_URL", sandbox.url)
    monkeypatch.setenv("SUPPORT_API_KEY", api_key)


@pytest.fixture
def cli_env(tmp_path, sandbox, api_key) -> dict[str, str]:
    """Environment for the `dagster` CLI in a subprocess: the API, and a data dir and
    DAGSTER_HOME of the test's own."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    return {
        **os.environ,
        "SUPPORT_API_BASE_URL": sandbox.url,
        "SUPPORT_API_KEY": api_key,
        "SUPPORT_DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": str(home),
    }
