"""Any dlt destination by name (SUPPORT_DESTINATION), checked before a sync asks the API for
anything, and how a sync writes to it, read from the destination's own capabilities.

Pure dlt, no Dagster import. The destination is configured by dlt's own settings:
DESTINATION__<NAME>__... environment variables or [destination.<name>] in .dlt/secrets.toml
and .dlt/config.toml. A name dlt knows as a named destination (DESTINATION__<NAME>__DESTINATION_TYPE)
works too.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.destination.exceptions import UnknownDestinationModule
from dlt.common.destination.reference import Destination
from dlt.common.typing import is_optional_type

from . import destinations

# A full refresh (`replace`) loads into the staging dataset and swaps the table in one
# transaction, so a refresh that fails half-way leaves the previous table as it was.
# Used wherever the destination supports it; others get dlt's default.
REPLACE_STRATEGY = "insert-from-staging"

# Fields the pipeline fills in itself, never the user.
_SET_BY_THE_PIPELINE = {"dataset_name", "local_dir", "pipeline_name"}


class DestinationError(ValueError):
    """The destination cannot be used as configured. The message names what to set and
    never quotes a configured value (it may be a secret)."""


@dataclass(frozen=True)
class LoadSettings:
    """How a sync writes to a destination, from its capabilities."""

    loader_file_format: Optional[str]
    table_format: Optional[str]  # "delta" or "iceberg" on the filesystem destination
    merge_strategy: str


def destination_from_name(name: str, **arguments: Any) -> Destination:
    """dlt's destination for `name`: duckdb and postgres through destinations.py (no
    configuration lookup per capabilities call, PostgreSQL without a password), any other
    through dlt's registry; full refreshes through staging where it supports that. Raises
    DestinationError; check_configured looks at its settings."""
    own = {"duckdb": destinations.duckdb, "postgres": destinations.postgres}.get(name)
    try:
        destination = own(**arguments) if own else Destination.from_reference(name, **arguments)
    except UnknownDestinationModule:
        raise DestinationError(
            f"SUPPORT_DESTINATION={name!r} is not a dlt destination: use a dlt destination name"
            " (duckdb, postgres, sqlalchemy, filesystem, snowflake, bigquery, ...) or a named"
            f" destination with DESTINATION__{name.upper()}__DESTINATION_TYPE set (docs/deployment.md)."
        ) from None
    except ImportError as exc:  # the destination's driver is not installed; names a package only
        raise DestinationError(
            f"SUPPORT_DESTINATION={name!r} needs a package this project does not install: {exc}"
        ) from None
    if "replace_strategy" in arguments:
        return destination
    try:
        replaces = destination.capabilities().supported_replace_strategies or ()
    except ConfigurationException:  # check_configured says what is wrong
        return destination
    settings = {field.name for field in dataclasses.fields(destination.spec)}
    if REPLACE_STRATEGY in replaces and "replace_strategy" in settings:
        return destination_from_name(name, **arguments, replace_strategy=REPLACE_STRATEGY)
    return destination


def check_configured(destination: Destination, name: str) -> None:
    """Raises DestinationError naming every setting dlt could not find, e.g. the credentials."""
    section = f"DESTINATION__{destination.destination_name.upper()}__"
    where = f"or under [destination.{destination.destination_name}] in .dlt/secrets.toml"
    try:
        config = destination.configuration(None, accept_partial=True)
    except ConfigurationException as exc:  # e.g. a connection string that does not parse
        raise DestinationError(
            f"SUPPORT_DESTINATION={name}: dlt could not read its settings ({type(exc).__name__});"
            f" check the {section}... variables {where}. The values are not shown: they may be secret."
        ) from None
    missing = _missing_fields(config)
    if missing:
        variables = ", ".join(section + field.upper().replace(".", "__") for field in missing)
        hint = ""
        if any(field.startswith("credentials.") for field in missing):
            hint = f" Credentials may also be one connection string in {section}CREDENTIALS."
        raise DestinationError(
            f"SUPPORT_DESTINATION={name} is missing settings: set {variables} {where}.{hint}"
        )


def _missing_fields(config: BaseConfiguration, prefix: str = "") -> list[str]:
    missing = []
    for field, hint in config.get_resolvable_fields().items():
        if not prefix and field in _SET_BY_THE_PIPELINE:
            continue
        value = getattr(config, field)
        if isinstance(value, BaseConfiguration):
            if not value.is_resolved():
                missing += _missing_fields(value, f"{prefix}{field}.") or [prefix + field]
        elif value is None and not is_optional_type(hint):
            missing.append(prefix + field)
    return missing


def load_settings(
    destination: Destination, name: str, table_format: Optional[str] = None
) -> LoadSettings:
    """The file format, table format and merge strategy of a sync, from the destination's
    capabilities: parquet wherever the destination takes it (the Arrow path writes it
    without converting a record; DuckDB loads 100k records in 11 s and 0.4 GB with it,
    against 39 s and 6 GB with insert_values), else its preferred format; the table format
    asked for, else the first one the destination merges into when it merges into plain
    tables at all (filesystem: delta); dlt's first merge strategy. Raises DestinationError
    where the destination cannot merge: a sync would then duplicate every updated record."""
    caps = destination.capabilities()
    if table_format is None and not _merge_strategies(caps, None):
        table_format = next(
            (f for f in caps.supported_table_formats or () if _merge_strategies(caps, f)), None
        )
    strategies = _merge_strategies(caps, table_format)
    if not strategies:
        raise DestinationError(
            f"SUPPORT_DESTINATION={name} cannot merge by primary key"
            f"{f' with table format {table_format}' if table_format else ''}: dlt lists no merge"
            " strategy for it, and every sync is a merge (docs/deployment.md)."
        )
    preferred, supported = caps.preferred_loader_file_format, caps.supported_loader_file_formats or []
    if caps.loader_file_format_selector is not None:  # e.g. PostgreSQL: parquet only with ADBC
        preferred, supported = caps.loader_file_format_selector(
            preferred, list(supported), table_schema={"name": "", "table_format": table_format}
        )
    file_format = "parquet" if "parquet" in supported else preferred
    return LoadSettings(file_format, table_format, strategies[0])


def _merge_strategies(caps: Any, table_format: Optional[str]) -> list[str]:
    strategies = list(caps.supported_merge_strategies or ())
    if caps.merge_strategies_selector is not None:
        table = {"table_format": table_format}
        strategies = list(caps.merge_strategies_selector(strategies, table_schema=table))
    return strategies
