"""Helpers shared by the tests."""

import subprocess
import sys
from pathlib import Path

import duckdb
import yaml

from support_assets.defs.resources import PROJECT_ROOT
from support_assets.sources.config_file import DEFAULT_CONFIG, ENDPOINTS
from support_assets.sources.settings import Endpoint

DAGSTER = str(Path(sys.executable).with_name("dagster"))
# The shipped file's first resource, the tickets: for the tests of one resource's behaviour,
# which need not sync the others (each resource is a step and a pipeline of its own).
TICKETS_ONLY = ENDPOINTS[:1]


def offset_endpoint(name: str, path: str, **resource) -> Endpoint:
    """An endpoint paged like the seed's (offset and `total`), incremental on `updated_at`."""
    endpoint = {
        "paginator": {"type": "offset", "limit": 100},
        "incremental": {"cursor_path": "updated_at", "start_param": "updated_since", "end_param": "updated_before"},
    }
    return Endpoint.of(name, path, endpoint=endpoint, **resource)


def tickets_only_config(path: Path) -> Path:
    """A SUPPORT_API_CONFIG file of the shipped file's tickets alone, written at `path`."""
    document = yaml.safe_load(DEFAULT_CONFIG.read_text())
    document["resources"] = document["resources"][:1]
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def run_cli(args, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


def rows(duckdb_path, sql: str) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as db:
        return db.sql(sql).fetchall()


def failure_text(result) -> str:
    """Every error message (with its causes) of a failed in-process run."""
    texts = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)
