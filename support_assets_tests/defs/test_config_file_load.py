"""A bad SUPPORT_API_CONFIG file stops the code location's load, through the real `dagster`
CLI, with a message naming the file, the resource and the field; no request is made and the
warehouse is left as it was."""

import hashlib

import duckdb
import pytest

from support_assets_tests.helpers import DAGSTER, run_cli

GOOD = """
  - name: customer_support_data
    endpoint:
      path: /v1/resource
      paginator: {type: offset, limit: 100}
"""

# case -> (the file's text, what the error must say besides the file's path)
BAD_FILES = {
    "YAML error": ("resources:\n  - name: customers\n    endpoint: {path: /v1/customers\n", ["YAML error at line"]),
    "unknown paginator": (
        f"resources:{GOOD}  - name: customers\n    endpoint:\n      path: /v1/customers\n"
        "      paginator: {type: page_numbers}\n",
        ["resource 'customers'", "unknown paginator 'page_numbers'", "`endpoint.paginator`"],
    ),
    "missing name": (
        f"resources:{GOOD}  - endpoint: {{path: /v1/agents}}\n",
        ["resource #2", "missing `name`"],
    ),
    "missing path": (
        f"resources:{GOOD}  - name: agents\n    endpoint: {{data_selector: data}}\n",
        ["resource 'agents'", "missing `endpoint.path`"],
    ),
    "unknown parent": (
        f"resources:{GOOD}  - name: ticket_comments\n"
        "    endpoint: {path: '/v1/resource/{resources.tickets.id}/comments'}\n",
        ["resource 'ticket_comments'", "`endpoint.path`", "parent resource 'tickets'"],
    ),
}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_config_file_fails_the_load_naming_file_resource_and_field(case, cli_env, tmp_path, sandbox, api_key):
    text, expected = BAD_FILES[case]
    bad = tmp_path / "bad_api.yaml"
    bad.write_text(text)
    # A warehouse from earlier syncs, which the failed load must leave as it was.
    warehouse = tmp_path / "support.duckdb"
    with duckdb.connect(str(warehouse)) as db:
        db.sql("create schema support_api; create table support_api.customers as select 1 as id")
    before = digest(warehouse)
    env = {**cli_env, "SUPPORT_API_CONFIG": str(bad)}

    validate = run_cli([DAGSTER, "definitions", "validate", "-m", "support_assets.definitions"], env)
    materialize = run_cli([DAGSTER, "asset", "materialize", "-m", "support_assets.definitions", "--select", "*"], env)

    for result in (validate, materialize):
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert f"ConfigFileError: {bad}: " in output
        for words in expected:
            assert words in output, (words, output[-2000:])
        assert api_key not in output
    assert len(sandbox.requests) == 0
    assert digest(warehouse) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_api.yaml", "dagster_home", "support.duckdb"]


def test_a_resource_rest_api_rejects_fails_the_load_not_a_run():
    """The file's own checks pass, but rest_api's validation does not: the assets are built from
    the real REST source, so the code location's load fails before any run."""
    from dlt.common.exceptions import DictValidationException

    from support_assets.defs.assets import build_support_api_assets
    from support_assets.sources.config_file import endpoints_from_config

    endpoints = endpoints_from_config(
        {"resources": [{"name": "customers", "endpoint": {"path": "/v1/customers", "unknown_field": 1}}]}
    )
    with pytest.raises(DictValidationException, match="resources"):
        build_support_api_assets(endpoints)
