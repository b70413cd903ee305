"""Dagster resources: where the support API is, its key, and where the data lands."""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

import dagster as dg
import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.sources import DltSource
from pydantic import PrivateAttr

from ..warehouse import destinations
from ..sources.settings import ENDPOINTS, PAGE_CONCURRENCY, RETRY, SOURCE_NAME, Endpoint, RetryRules
from ..sources.sync_plan import SyncPlan
from ..warehouse.duckdb_connection import sync_connection
from ..sources.http_session import http_session
from ..sources.probe import count_changed
from ..sources.progress import SyncProgress
from ..redaction import protect
from ..sources import support_api_source

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"

# A full refresh (`replace`) loads into the staging dataset and swaps the table in one
# transaction, so a refresh that fails half-way leaves the previous table as it was.
REPLACE_STRATEGY = "insert-from-staging"

MISSING_KEY = (
    "No API key for the support API: set the SUPPORT_API_KEY environment variable,"
    ' or put api_key = "..." in .dlt/secrets.toml (see .dlt/example.secrets.toml).'
)


class SupportApiResource(dg.ConfigurableResource):
    """The support API's base URL. The key is read when a run starts, from
    SUPPORT_API_KEY or dlt's secrets (`api_key`), and kept out of the resource's
    config so that the UI, the run config and the event log never see it."""

    base_url: str
    api_key_env_var: str = "SUPPORT_API_KEY"
    # Page requests in flight per endpoint once the API's total is known; 1 = one at a time.
    page_concurrency: int = PAGE_CONCURRENCY

    _api_key: Optional[str] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Fails the step before any request, with no retry: waiting will not make a key appear.
        key = dg.EnvVar(self.api_key_env_var).get_value() or dlt.secrets.get("api_key")
        if not key:
            raise dg.Failure(MISSING_KEY, allow_retries=False)
        self._api_key = str(key)
        protect(self._api_key)

    def source(
        self,
        endpoints: Iterable[Endpoint] = ENDPOINTS,
        progress: Optional[SyncProgress] = None,
        plan: Optional[SyncPlan] = None,
        retry: RetryRules = RETRY,
    ) -> DltSource:
        session = http_session(retry, progress)
        return support_api_source(
            self.base_url, self._api_key or "", endpoints, progress=progress, session=session, plan=plan,
            concurrency=self.page_concurrency,
            retry=retry,
        )

    def count_changed(self, endpoint: Endpoint, since: object) -> int:
        """Records of `endpoint` changed at or after `since`, from one small request (probe.py)."""
        return count_changed(self.base_url, self._api_key or "", endpoint, since)


class WarehouseResource(dg.ConfigurableResource):
    """The dlt pipeline's destination: a DuckDB file by default, or PostgreSQL with
    dlt's own DESTINATION__POSTGRES__CREDENTIALS."""

    destination: str = "duckdb"
    duckdb_path: str = str(DATA_DIR / "support.duckdb")
    # Not ~/.dlt: the pipeline's working state belongs with the project's data.
    pipelines_dir: str = str(DATA_DIR / "dlt")
    # Must differ from the DuckDB file's name, or DuckDB cannot tell catalog from schema.
    dataset_name: str = SOURCE_NAME

    def pipeline(self, connection: Optional[duckdb.DuckDBPyConnection] = None) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=SOURCE_NAME,
            destination=self._destination(connection),
            dataset_name=self.dataset_name,
            pipelines_dir=self.pipelines_dir,
        )

    @contextmanager
    def sync_pipeline(self) -> Iterator[dlt.Pipeline]:
        """The pipeline of one sync; on DuckDB on one connection for the whole sync,
        closed at its end (duckdb_connection.py)."""
        if self.destination != "duckdb":
            yield self.pipeline()
            return
        with sync_connection(self.duckdb_path) as connection:
            yield self.pipeline(connection)

    @property
    def loader_file_format(self) -> Optional[str]:
        # DuckDB: parquet loads 100k records in 11 s and 0.4 GB, against 39 s and 6 GB
        # for dlt's default insert_values (DESIGN.md). PostgreSQL: insert_values; csv
        # (COPY) is no faster here and loads an empty string as NULL (README, bench/).
        return {"duckdb": "parquet", "postgres": "insert_values"}.get(self.destination)

    def _destination(
        self, connection: Optional[duckdb.DuckDBPyConnection] = None
    ) -> destinations.duckdb | destinations.postgres:
        if self.destination == "duckdb":
            Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)
            return destinations.duckdb(
                credentials=connection or self.duckdb_path, replace_strategy=REPLACE_STRATEGY
            )
        if self.destination == "postgres":
            return _postgres_destination()
        raise dg.Failure(
            f"SUPPORT_DESTINATION={self.destination!r} is not supported: use duckdb or postgres",
            allow_retries=False,
        )


MISSING_POSTGRES = (
    "SUPPORT_DESTINATION=postgres needs PostgreSQL credentials with a user, password, host"
    " and database: set DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database,"
    " or credentials under [destination.postgres] in .dlt/secrets.toml."
)


def _postgres_destination() -> destinations.postgres:
    """dlt's postgres destination, its credentials checked now: without them dlt would
    fail mid-run with a long provider dump, and the retry policy would try again."""
    destination = destinations.postgres(replace_strategy=REPLACE_STRATEGY)
    try:
        credentials = destination.configuration(None, accept_partial=True).credentials
    except ConfigurationException:  # e.g. not a connection string; the value may be secret
        credentials = None
    if credentials is None or not credentials.is_resolved():
        raise dg.Failure(MISSING_POSTGRES, allow_retries=False)
    return destination
