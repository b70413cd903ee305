"""dbt's profile gets the sync's warehouse: the DuckDB file as an absolute path, PostgreSQL
field by field from dlt's own credentials, the password only in dbt's secret variable."""

import pytest

from support_assets.warehouse.dbt_profile import PASSWORD_VARIABLE, dbt_environment
from support_assets.warehouse.warehouse_destination import DestinationError


def test_duckdb_is_the_syncs_file_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dbt_environment("duckdb", "data/support.duckdb") == {
        "SUPPORT_DESTINATION": "duckdb",
        "SUPPORT_DUCKDB_PATH": str(tmp_path / "data" / "support.duckdb"),
    }


def test_postgres_comes_from_dlts_credentials(monkeypatch):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://loader:s3cret@db.example:6543/warehouse")
    assert dbt_environment("postgres", "unused.duckdb") == {
        "SUPPORT_DESTINATION": "postgres",
        "SUPPORT_DBT_POSTGRES_HOST": "db.example",
        "SUPPORT_DBT_POSTGRES_PORT": "6543",
        "SUPPORT_DBT_POSTGRES_USER": "loader",
        "SUPPORT_DBT_POSTGRES_DBNAME": "warehouse",
        PASSWORD_VARIABLE: "s3cret",
    }


def test_postgres_without_credentials_names_the_setting_not_a_value(monkeypatch):
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    monkeypatch.chdir("/")  # no .dlt/ folder to read
    with pytest.raises(DestinationError, match="DESTINATION__POSTGRES__CREDENTIALS"):
        dbt_environment("postgres", "unused.duckdb")


def test_a_destination_without_a_dbt_target_is_refused():
    with pytest.raises(DestinationError, match="SUPPORT_DESTINATION=sqlalchemy: the metrics' dbt models run on duckdb and postgres only"):
        dbt_environment("sqlalchemy", "unused.duckdb")
