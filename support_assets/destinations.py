"""The warehouse destinations of a sync: dlt's duckdb and postgres factories, less a
configuration lookup that their capabilities never read, and PostgreSQL credentials
without a password (trust, peer or certificate auth, .pgpass, PGPASSWORD).

dlt asks a destination for its capabilities about 30 times per run, and each time, when no
configuration is passed, it first resolves the destination's whole configuration from
every config provider (environment, .dlt/*.toml), only to hand it to
`adjust_capabilities`, which for DuckDB and PostgreSQL does not read it (these factories
keep `Destination.adjust_capabilities`, which looks at the naming convention alone). On
DuckDB every resolve also queries the sync's connection for its file's path. That was a
third of an incremental sync: 0.37 -> 0.26 s at 100,000 records (docs/performance.md).
"""

import dataclasses
from typing import Any, Optional

import dlt
from dlt.common.configuration import configspec
from dlt.common.destination.reference import Destination
from dlt.common.typing import TSecretStrValue
from dlt.destinations.impl.postgres.configuration import PostgresClientConfiguration, PostgresCredentials


def _keeps_base_adjust_capabilities(factory: type) -> bool:
    return factory.adjust_capabilities.__func__ is Destination.adjust_capabilities.__func__  # type: ignore[attr-defined]


class _CapabilitiesWithoutConfiguration:
    """Mixed in before a dlt destination factory that keeps the base `adjust_capabilities`."""

    def capabilities(self, config: Any = None, naming: Optional[Any] = None) -> Any:
        if config is None and _keeps_base_adjust_capabilities(type(self)):
            # What dlt would build before resolving it; only its type is looked at.
            config = self.spec()  # type: ignore[attr-defined]
        return super().capabilities(config, naming)  # type: ignore[misc]


# Each keeps dlt's name for its type, which the pipeline's state stores: under another name
# dlt would warn that the state's destination is ignored.
class duckdb(_CapabilitiesWithoutConfiguration, dlt.destinations.duckdb):
    """dlt.destinations.duckdb, taking the same arguments."""

    destination_type = "dlt.destinations.duckdb"


@configspec(init=False)
class PostgresCredentialsWithoutPassword(PostgresCredentials):
    """dlt's PostgreSQL credentials with the password optional: without one, libpq finds
    it itself (PGPASSWORD, ~/.pgpass) or the server needs none (trust, peer, certificates).
    dlt 1.31 requires it, so `postgresql://postgres@127.0.0.1:5432/db` failed to resolve."""

    password: Optional[TSecretStrValue] = None


@configspec
class PostgresConfiguration(PostgresClientConfiguration):
    credentials: PostgresCredentialsWithoutPassword = dataclasses.field(default=None)  # type: ignore[assignment]


class postgres(_CapabilitiesWithoutConfiguration, dlt.destinations.postgres):
    """dlt.destinations.postgres, taking the same arguments; the password may be left out."""

    destination_type = "dlt.destinations.postgres"
    spec = PostgresConfiguration
