"""Dagster resources: where the support API is, its key, and where the data lands."""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

import dagster as dg
import dlt
import duckdb
from dlt.common.destination.reference import Destination
from dlt.sources import DltSource
from pydantic import PrivateAttr

from ..redaction import protect
from ..sources import support_api_source
from ..sources.http_session import http_session
from ..sources.probe import count_changed
from ..sources.progress import SyncProgress
from ..sources.config_file import ENDPOINTS
from ..sources.settings import PAGE_CONCURRENCY, RETRY, SOURCE_NAME, Endpoint, RetryRules
from ..sources.sync_plan import SyncPlan
from ..warehouse.duckdb_connection import sync_connection
from ..warehouse.warehouse_destination import (
    DestinationError,
    LoadSettings,
    check_configured,
    destination_from_name,
    load_settings,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"

# Each resource syncs in a dlt pipeline of its own, so that its dlt state (incremental cursors
# included) is its own and a failed resource leaves the others' state alone. The tickets keep the
# name of the one pipeline that synced every endpoint before issue 15, whose state in the
# warehouse (`_dlt_pipeline_state`) holds their cursor: an upgrade does not re-read them.
LEGACY_PIPELINES = {"customer_support_data": SOURCE_NAME}


def pipeline_name(resource: str) -> str:
    """The dlt pipeline of one resource: `support_api__<name>` (tickets: `support_api`)."""
    return LEGACY_PIPELINES.get(resource) or f"{SOURCE_NAME}__{resource}"


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

    @contextmanager
    def syncing(
        self,
        endpoints: Iterable[Endpoint] = ENDPOINTS,
        progress: Optional[SyncProgress] = None,
        plan: Optional[SyncPlan] = None,
        retry: RetryRules = RETRY,
        resources: Optional[Iterable[str]] = None,
    ) -> Iterator[DltSource]:
        """The dlt source of one sync, loading `resources` (None: every endpoint; a child's parents
        feed it without being loaded). When the sync ends, failed or cancelled included, its HTTP
        session closes, which cancels the pages fetched ahead and waits for those in flight."""
        session = http_session(retry, progress)
        try:
            yield support_api_source(
                self.base_url, self._api_key or "", endpoints, session=session, progress=progress,
                plan=plan, concurrency=self.page_concurrency, retry=retry, resources=resources,
            )
        finally:
            session.close()

    def count_changed(self, endpoint: Endpoint, since: object) -> int:
        """Records of `endpoint` changed at or after `since`, from one small request (probe.py)."""
        return count_changed(self.base_url, self._api_key or "", endpoint, since)


class WarehouseResource(dg.ConfigurableResource):
    """The dlt pipeline's destination: a DuckDB file by default, or any dlt destination by
    name (SUPPORT_DESTINATION), configured by dlt's own DESTINATION__<NAME>__... settings
    (warehouse_destination.py)."""

    destination: str = "duckdb"
    duckdb_path: str = str(DATA_DIR / "support.duckdb")
    # Not ~/.dlt: the pipeline's working state belongs with the project's data.
    pipelines_dir: str = str(DATA_DIR / "dlt")
    # Must differ from the DuckDB file's name, or DuckDB cannot tell catalog from schema.
    dataset_name: str = SOURCE_NAME
    # "delta" or "iceberg" on the filesystem destination; None: the first one it merges into.
    table_format: Optional[str] = None

    def pipeline(
        self, connection: Optional[duckdb.DuckDBPyConnection] = None, name: str = SOURCE_NAME
    ) -> dlt.Pipeline:
        """The dlt pipeline `name` (pipeline_name()); any of them reads the whole dataset."""
        return dlt.pipeline(
            pipeline_name=name,
            destination=self._destination(connection),
            dataset_name=self.dataset_name,
            pipelines_dir=self.pipelines_dir,
        )

    @contextmanager
    def sync_pipeline(self, name: str = SOURCE_NAME) -> Iterator[dlt.Pipeline]:
        """The pipeline `name` for one sync; on DuckDB on one connection for the whole sync,
        closed at its end (duckdb_connection.py)."""
        if self.destination != "duckdb":
            yield self.pipeline(name=name)
            return
        with sync_connection(self.duckdb_path) as connection:
            yield self.pipeline(connection, name)

    @property
    def load_settings(self) -> LoadSettings:
        """File format, table format and merge strategy, from the destination's capabilities."""
        with _clear_failure():
            destination = destination_from_name(self.destination)
            return load_settings(destination, self.destination, self.table_format)

    @property
    def loader_file_format(self) -> Optional[str]:
        return self.load_settings.loader_file_format

    def _destination(self, connection: Optional[duckdb.DuckDBPyConnection] = None) -> Destination:
        """The destination, its settings checked before any request to the API: without
        them dlt would fail mid-run with a long provider dump, and the retry policy would
        try again."""
        if self.destination == "duckdb":  # its one setting is given here: nothing to check
            Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)
            return destination_from_name("duckdb", credentials=connection or self.duckdb_path)
        with _clear_failure():
            destination = destination_from_name(self.destination)
            check_configured(destination, self.destination)
        return destination


@contextmanager
def _clear_failure() -> Iterator[None]:
    """A destination that cannot work fails the step at once, with no retry: waiting will
    not make a setting appear."""
    try:
        yield
    except DestinationError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from None
