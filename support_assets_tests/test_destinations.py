"""The sync's destinations (destinations.py) are dlt's duckdb and postgres factories: same
capabilities, name and settings, minus the configuration lookup per capabilities call."""

import functools
import logging

import dlt
import duckdb
import pytest
from dlt.common.destination.reference import Destination
from dlt.common.normalizers.naming import snake_case, sql_cs_v1

from support_assets import destinations

FACTORIES = [
    pytest.param(destinations.duckdb, dlt.destinations.duckdb, id="duckdb"),
    pytest.param(destinations.postgres, dlt.destinations.postgres, id="postgres"),
]
NAMINGS = [
    pytest.param(None, id="no naming"),
    pytest.param(snake_case.NamingConvention(), id="snake_case"),
    pytest.param(sql_cs_v1.NamingConvention(), id="case-sensitive"),
]


def arguments(factory, tmp_path) -> dict:
    """Arguments as resources.py passes them, plus a capability of the caller's."""
    credentials = (
        str(tmp_path / "warehouse.duckdb")
        if factory is dlt.destinations.duckdb
        else "postgresql://loader:password@127.0.0.1:5432/warehouse"
    )
    return {"credentials": credentials, "replace_strategy": "insert-from-staging", "max_query_length": 12345}


def comparable(capabilities) -> dict:
    """Capabilities as plain values: dlt builds a new functools.partial on every call."""
    return {
        name: (value.func, value.args, value.keywords) if isinstance(value, functools.partial) else value
        for name, value in dict(capabilities).items()
    }


@pytest.fixture
def configuration_lookups(monkeypatch) -> list:
    """Every time a destination resolves its configuration from dlt's config providers:
    (factory, whether a capabilities call asked for it)."""
    lookups, asking = [], []
    configuration, capabilities = Destination.configuration, Destination.capabilities

    def spy_configuration(self, initial_config, accept_partial=False):
        lookups.append((type(self), bool(asking)))
        return configuration(self, initial_config, accept_partial)

    def spy_capabilities(self, config=None, naming=None):
        asking.append(True)
        try:
            return capabilities(self, config, naming)
        finally:
            asking.pop()

    monkeypatch.setattr(Destination, "configuration", spy_configuration)
    monkeypatch.setattr(Destination, "capabilities", spy_capabilities)
    return lookups


@pytest.mark.parametrize("naming", NAMINGS)
@pytest.mark.parametrize("ours, dlts", FACTORIES)
def test_the_same_capabilities_name_and_settings_as_dlts_factory(ours, dlts, naming, tmp_path, monkeypatch):
    # A setting from the environment, which dlt's own lookup would read.
    monkeypatch.setenv("DESTINATION__CREATE_INDEXES", "true")
    mine, theirs = ours(**arguments(dlts, tmp_path)), dlts(**arguments(dlts, tmp_path))

    assert comparable(mine.capabilities(naming=naming)) == comparable(theirs.capabilities(naming=naming))
    assert mine.capabilities(naming=naming).max_query_length == 12345
    assert mine.destination_type == theirs.destination_type
    assert mine.destination_name == theirs.destination_name
    assert mine.config_params == theirs.config_params
    assert mine.caps_params == theirs.caps_params
    assert mine.configuration(None, accept_partial=True).create_indexes is True


@pytest.mark.parametrize("ours, dlts", FACTORIES)
def test_capabilities_are_had_without_looking_the_configuration_up(
    ours, dlts, tmp_path, configuration_lookups
):
    for _ in range(3):
        ours(**arguments(dlts, tmp_path)).capabilities(naming=snake_case.NamingConvention())
    assert configuration_lookups == []

    dlts(**arguments(dlts, tmp_path)).capabilities(naming=snake_case.NamingConvention())
    assert configuration_lookups == [(dlts, True)]  # the lookup the subclass saves


def test_a_pipeline_run_looks_the_configuration_up_for_its_clients_not_for_capabilities(
    tmp_path, configuration_lookups
):
    def run(factory) -> list:
        configuration_lookups.clear()
        with duckdb.connect(str(tmp_path / f"{factory.__module__}.duckdb")) as connection:
            dlt.pipeline(
                pipeline_name=f"lookups_{factory.__module__.replace('.', '_')}",
                destination=factory(connection),
                dataset_name="support_api",
                pipelines_dir=str(tmp_path / "dlt"),
            ).run([{"id": 1}], table_name="tickets", loader_file_format="parquet")
        return [for_capabilities for _, for_capabilities in configuration_lookups]

    ours, dlts = run(destinations.duckdb), run(dlt.destinations.duckdb)
    assert ours and not any(ours)  # the clients' lookups remain, as they must
    assert dlts.count(True) >= 10  # what dlt's factory does (12 with dlt 1.31)


def test_a_pipeline_made_with_dlts_factory_goes_on_with_ours_without_a_warning(tmp_path, caplog):
    path = str(tmp_path / "warehouse.duckdb")

    def run(factory, record) -> dlt.Pipeline:
        pipeline = dlt.pipeline(
            pipeline_name="support_api",
            destination=factory(path),
            dataset_name="support_api",
            pipelines_dir=str(tmp_path / "dlt"),
        )
        pipeline.run([record], table_name="tickets", primary_key="id", write_disposition="merge")
        return pipeline

    run(dlt.destinations.duckdb, {"id": 1})
    with caplog.at_level(logging.WARNING):
        pipeline = run(destinations.duckdb, {"id": 2})

    assert pipeline.state["destination_type"] == "dlt.destinations.duckdb"
    assert "differs from destination" not in caplog.text
    with duckdb.connect(path, read_only=True) as db:
        assert db.sql("select id from support_api.tickets order by id").fetchall() == [(1,), (2,)]


def test_postgres_credentials_may_leave_the_password_to_libpq(monkeypatch):
    """Trust, peer or certificate auth, .pgpass or PGPASSWORD: dlt's own factory refuses a
    connection string without a password; ours passes it on without one."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://postgres@127.0.0.1:5432/warehouse")

    credentials = destinations.postgres().configuration(None, accept_partial=True).credentials

    assert credentials.is_resolved() and credentials.password is None
    assert credentials.to_native_representation().startswith("postgresql://postgres@127.0.0.1:5432/warehouse")
    assert not dlt.destinations.postgres().configuration(None, accept_partial=True).credentials.is_resolved()
