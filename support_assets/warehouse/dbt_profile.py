"""The environment dbt's profile (dbt/profiles.yml) reads: the same warehouse as the sync.

Pure dlt, no Dagster import. DuckDB: the sync's file, as an absolute path (dbt runs in the
dbt/ folder). PostgreSQL: the host, port, user, password and database of dlt's own
credentials (DESTINATION__POSTGRES__CREDENTIALS or .dlt/secrets.toml), because dbt-postgres
takes them one by one, not as a connection string. The password goes in
DBT_ENV_SECRET_SUPPORT_POSTGRES_PASSWORD, which dbt scrubs from its logs.
"""

from pathlib import Path

from .warehouse_destination import DestinationError, check_configured, destination_from_name

# The destinations the models run on (dbt/profiles.yml has one output for each).
DBT_TARGETS = ("duckdb", "postgres")

PASSWORD_VARIABLE = "DBT_ENV_SECRET_SUPPORT_POSTGRES_PASSWORD"


def dbt_environment(destination: str, duckdb_path: str) -> dict[str, str]:
    """Variables for dbt/profiles.yml. Raises DestinationError for a destination without a
    dbt target, or PostgreSQL settings dlt cannot find (never quoting their values)."""
    if destination == "duckdb":
        return {"SUPPORT_DESTINATION": "duckdb", "SUPPORT_DUCKDB_PATH": str(Path(duckdb_path).resolve())}
    if destination != "postgres":
        raise DestinationError(
            f"SUPPORT_DESTINATION={destination}: the metrics' dbt models run on"
            f" {' and '.join(DBT_TARGETS)} only (docs/metrics.md)."
        )
    postgres = destination_from_name("postgres")
    check_configured(postgres, destination)
    credentials = postgres.configuration(None, accept_partial=True).credentials
    return {
        "SUPPORT_DESTINATION": "postgres",
        "SUPPORT_DBT_POSTGRES_HOST": str(credentials.host or "localhost"),
        "SUPPORT_DBT_POSTGRES_PORT": str(credentials.port or 5432),
        "SUPPORT_DBT_POSTGRES_USER": str(credentials.username or ""),
        "SUPPORT_DBT_POSTGRES_DBNAME": str(credentials.database or ""),
        PASSWORD_VARIABLE: str(credentials.password or ""),
    }
