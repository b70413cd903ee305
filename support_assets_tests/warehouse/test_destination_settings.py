"""SUPPORT_DESTINATION takes any dlt destination name (warehouse_destination.py): an unknown
name or missing settings fail the sync before any request to the API, naming what to set
and never a configured value; the file format, table format and merge strategy come from
the destination's capabilities."""

import dagster as dg
import pytest

from support_assets.definitions import build_definitions, warehouse_from_env
from support_assets.defs.resources import WarehouseResource
from support_assets.warehouse.warehouse_destination import DestinationError, destination_from_name, load_settings

from support_assets_tests.helpers import TICKETS_ONLY, failure_text
from support_assets_tests.helpers.sync import every_event_text

SENTINEL = "destination-secret-sentinel-93b4"


@pytest.fixture
def no_dlt_settings(monkeypatch, tmp_path):
    """No .dlt/ folder and no DESTINATION__ variable: only what the test sets."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("DESTINATION__")]:
        monkeypatch.delenv(name)


def sync(monkeypatch, tmp_path, destination: str):
    monkeypatch.setenv("SUPPORT_DESTINATION", destination)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path))
    definitions = build_definitions(TICKETS_ONLY, warehouse=warehouse_from_env())
    return dg.materialize(list(definitions.assets), resources=definitions.resources, raise_on_error=False)


def assert_failed_before_any_request(result, sandbox) -> str:
    assert not result.success
    assert [r for r in sandbox.requests if r.path == "/v1/resource"] == []
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    return failure_text(result)


def test_an_unknown_name_fails_before_any_request_and_says_what_to_set(
    monkeypatch, tmp_path, api_env, sandbox, no_dlt_settings
):
    text = assert_failed_before_any_request(sync(monkeypatch, tmp_path, "warehouse9"), sandbox)

    assert "SUPPORT_DESTINATION='warehouse9' is not a dlt destination" in text
    assert "DESTINATION__WAREHOUSE9__DESTINATION_TYPE" in text


@pytest.mark.parametrize(
    "name, variables",
    [
        ("sqlalchemy", ["DESTINATION__SQLALCHEMY__CREDENTIALS"]),
        ("filesystem", ["DESTINATION__FILESYSTEM__BUCKET_URL"]),
        ("postgres", ["DESTINATION__POSTGRES__CREDENTIALS__DATABASE", "DESTINATION__POSTGRES__CREDENTIALS__HOST"]),
    ],
)
def test_missing_settings_fail_before_any_request_naming_the_variables(
    monkeypatch, tmp_path, api_env, sandbox, no_dlt_settings, name, variables
):
    text = assert_failed_before_any_request(sync(monkeypatch, tmp_path, name), sandbox)

    assert f"SUPPORT_DESTINATION={name} is missing settings" in text
    for variable in variables:
        assert variable in text
    assert f"[destination.{name}] in .dlt/secrets.toml" in text


@pytest.mark.parametrize(
    "name, variable, value",
    [
        # Parses, but lacks the host: the message must not quote the string holding the password.
        ("postgres", "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://loader:{SENTINEL}@/warehouse"),
        # Does not parse at all.
        ("sqlalchemy", "DESTINATION__SQLALCHEMY__CREDENTIALS", f"not a url {SENTINEL}"),
        ("postgres", "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", SENTINEL),
    ],
)
def test_a_configured_password_never_reaches_the_message(
    monkeypatch, tmp_path, api_env, sandbox, no_dlt_settings, capfd, name, variable, value
):
    monkeypatch.setenv(variable, value)

    result = sync(monkeypatch, tmp_path, name)

    text = assert_failed_before_any_request(result, sandbox)
    assert f"SUPPORT_DESTINATION={name}" in text
    captured = capfd.readouterr()
    assert SENTINEL not in text + every_event_text(result) + captured.out + captured.err


@pytest.mark.parametrize(
    "name, file_format, table_format, merge_strategy",
    [
        ("duckdb", "parquet", None, "delete-insert"),
        # parquet needs the ADBC driver on PostgreSQL, which is not installed.
        ("postgres", "insert_values", None, "delete-insert"),
        ("sqlalchemy", "parquet", None, "delete-insert"),
        # Plain files cannot merge; Delta tables can.
        ("filesystem", "parquet", "delta", "upsert"),
        ("snowflake", "parquet", None, "delete-insert"),
    ],
)
def test_the_load_settings_come_from_the_destinations_capabilities(
    no_dlt_settings, name, file_format, table_format, merge_strategy
):
    settings = load_settings(destination_from_name(name), name)

    assert (settings.loader_file_format, settings.table_format, settings.merge_strategy) == (
        file_format, table_format, merge_strategy
    )


def test_a_destination_that_cannot_merge_is_refused(no_dlt_settings):
    with pytest.raises(DestinationError, match="cannot merge by primary key"):
        load_settings(destination_from_name("filesystem"), "filesystem", table_format="native")


@pytest.mark.parametrize("name", ["duckdb", "postgres", "sqlalchemy", "filesystem"])
def test_a_full_refresh_replaces_through_staging(no_dlt_settings, name):
    """So that a refresh failing half-way leaves the previous table as it was."""
    assert destination_from_name(name).config_params["replace_strategy"] == "insert-from-staging"


def test_a_named_destination_of_a_known_type_works(monkeypatch, no_dlt_settings, tmp_path):
    monkeypatch.setenv("DESTINATION__LAKE__DESTINATION_TYPE", "filesystem")
    monkeypatch.setenv("DESTINATION__LAKE__BUCKET_URL", str(tmp_path / "lake"))
    warehouse = WarehouseResource(destination="lake", pipelines_dir=str(tmp_path / "dlt"))

    assert warehouse.pipeline().destination.destination_name == "lake"
    assert warehouse.load_settings.table_format == "delta"
