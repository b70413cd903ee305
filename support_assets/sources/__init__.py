"""The support API as a dlt source, in the shape of dlt's verified sources: `support_api`
takes its base URL and key from dlt's config and secrets; `support_api_source` builds the
reference rest_api configuration with its HTTP session and paginator.

Pure dlt: no module of this package imports Dagster (a test checks it), so the source runs
with a plain `dlt.pipeline(...)` too (docs/sources.md). Its helpers: settings.py (endpoints,
page size, retry rules), http_session.py, concurrent_pages.py, validation.py, schema.py,
sync_plan.py, arrow_pages.py, progress.py, probe.py, gc_pauses.py.
"""

from typing import Any, Iterable, Optional

import dlt
from dlt.common import jsonpath
from dlt.common.configuration import with_config
from dlt.sources import DltSource
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.rest_api import rest_api_source

from ..redaction import protect
from .concurrent_pages import SERVED_ORDER, PagePrefetcher
from .deletions import deletion_steps, with_deleted_column
from .drift import DEFAULT_MAX_DRIFT_PASSES, PassMonitor, ids_of
from .http_session import http_session
from .progress import SyncProgress
from .schema import POSITION_COLUMN, SCHEMA_CONTRACT, TableSchema, table_schema
from .config_file import ENDPOINTS
from .settings import PAGE_CONCURRENCY, PAGE_SIZE, RETRY, SOURCE_NAME, Endpoint, RetryRules
from .sync_plan import SyncPlan, SyncType
from .validation import Positions, ResponseValidator

# Compiled once: given as a string, dlt parses the JSONPath again for every page.
DATA_SELECTOR = jsonpath.compile_path("data")


class SupportApiPaginator(OffsetPaginator):
    """Offset/limit pagination that stops at `total`, or at a short or empty page, and
    reads the range again while the data changes under it (`monitor`, drift.py).

    `total` saves the extra empty request when the count is a multiple of the page
    size. The validator (validation.py) rejects a page without `total` or whose `total`
    disagrees with its records before this runs. Errors never quote the response
    body, which holds customer data.
    """

    def __init__(
        self,
        limit: int = PAGE_SIZE,
        endpoint: str = "",
        progress: Optional[SyncProgress] = None,
        validator: Optional[ResponseValidator] = None,
        prefetch: Optional[PagePrefetcher] = None,
        monitor: Optional[PassMonitor] = None,
        primary_key: str = "id",
    ) -> None:
        super().__init__(limit=limit, total_path=None, stop_after_empty_page=True)
        self.endpoint = endpoint
        self.progress = progress
        self.validator = validator
        self.prefetch = prefetch
        self.monitor = monitor
        self.primary_key = primary_key
        self.total: Optional[int] = None
        self._first_offset = self.current_value
        self._new_pass = False

    def init_request(self, request: Any) -> None:
        super().init_request(request)
        if self.validator is not None:
            # Runs after dlt's status check and before dlt reads `data` (validation.py).
            request.register_hook("response", self.validator)

    def update_state(self, response: Any, data: Optional[list[Any]] = None) -> None:
        total = self.total = self._total(response)
        if self.progress is not None:
            self.progress.page(self.endpoint, len(data or ()), total)
        if self.monitor is not None:
            order = getattr(response, SERVED_ORDER, None)
            self.monitor.page(self.current_value, total, ids_of(data, self.primary_key), order)
        self.current_value += self.value_step
        page_is_short = data is None or len(data) < self.limit
        if page_is_short or (total is not None and self.current_value >= total):
            if self.monitor is not None and self.monitor.end_pass():
                # The data changed under this pass: read the whole range again (drift.py).
                self.current_value = self._first_offset
                self._new_pass = True
                return
            self._has_next_page = False
            if self.progress is not None:
                self.progress.finished(self.endpoint)

    def update_request(self, request: Any) -> None:
        super().update_request(request)
        new_pass, self._new_pass = self._new_pass, False
        if self.prefetch is None:
            return
        if not self._has_next_page or new_pass:
            # Pages fetched ahead for the pass that ended are of no use to the next one.
            self.prefetch.finish(request)
        if self._has_next_page and self.total is not None:  # the pages' end is known: fetch ahead
            self.prefetch.ahead(
                request, self.param_name, self.current_value, self.value_step, self.total
            )

    def _total(self, response: Any) -> Optional[int]:
        body = response.json()
        total = body.get("total") if isinstance(body, dict) else None
        if total is None:
            return None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(
                f"the API's `total` is not a non-negative integer (got a {type(total).__name__})"
                f" for {response.request.method} {response.request.path_url.split('?')[0]}"
            )
        return total


def rest_api_config(
    base_url: str,
    api_key: str,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    page_size: int = PAGE_SIZE,
    session: Any = None,
    progress: Optional[SyncProgress] = None,
    plan: Optional[SyncPlan] = None,
    concurrency: int = PAGE_CONCURRENCY,
    retry: RetryRules = RETRY,
) -> dict[str, Any]:
    """The reference configuration (DESIGN.md), one resource per endpoint; `plan` makes it an
    incremental, full-refresh or backfill sync (sync_plan.py), None reads everything and merges;
    up to `concurrency` page requests in flight per endpoint once the API's total is known."""
    protect(api_key)  # from here on, no log record or error of this process shows the key
    session = session if session is not None else http_session(retry, progress)
    # Mounted on the session: prefetched pages still pass its retries and the validator hook.
    prefetch = PagePrefetcher(session, base_url, concurrency, retry)
    return {
        "client": {
            "base_url": base_url,
            "auth": {"type": "api_key", "name": "api_key", "api_key": api_key, "location": "query"},
            "session": session,
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [_resource(endpoint, page_size, progress, plan, prefetch) for endpoint in endpoints],
    }


def _resource(
    endpoint: Endpoint,
    page_size: int,
    progress: Optional[SyncProgress],
    plan: Optional[SyncPlan],
    prefetch: Optional[PagePrefetcher] = None,
) -> dict[str, Any]:
    """One endpoint's rest_api resource: its declared schema and contract (schema.py),
    its pages validated before extraction (validation.py), its sync plan (sync_plan.py)."""
    schema = endpoint_schema(endpoint)
    validator = ResponseValidator(endpoint.name, schema, endpoint.primary_key)
    monitor = PassMonitor(
        endpoint.name,
        page_size,
        plan.max_drift_passes if plan is not None else DEFAULT_MAX_DRIFT_PASSES,
        report=progress.drift(endpoint.name) if progress is not None else None,
        # A full refresh replaces the table: it removes what an earlier pass read and the last one did not.
        keep_final_ids=plan is not None and plan.sync_type is SyncType.full_refresh,
        notify=progress.log if progress is not None else None,
        primary_key=endpoint.primary_key,
    )
    resource = {
        "name": endpoint.name,
        "primary_key": endpoint.primary_key,
        "columns": schema.dlt_columns(),
        "schema_contract": SCHEMA_CONTRACT,
        "processing_steps": [{"map": Positions(POSITION_COLUMN)}],
        "endpoint": {
            "path": endpoint.path,
            "data_selector": DATA_SELECTOR,
            "paginator": SupportApiPaginator(
                page_size, endpoint.name, progress, validator, prefetch, monitor, endpoint.primary_key
            ),
        },
    }
    if plan is not None:
        if not plan.reads_whole_range(endpoint):
            resource["endpoint"]["incremental"] = plan.incremental(endpoint)
        resource["write_disposition"] = plan.write_disposition
        resource["processing_steps"] += plan.processing_steps(endpoint)
    replace = plan is not None and plan.sync_type is SyncType.full_refresh
    resource["processing_steps"] += deletion_steps(endpoint, replace)
    return resource


def endpoint_schema(endpoint: Endpoint) -> TableSchema:
    """The declared schema of the endpoint's table, with the flagged-deletion column if any."""
    return with_deleted_column(table_schema(endpoint.name, endpoint.primary_key), endpoint)


def support_api_source(
    base_url: str,
    api_key: str,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    page_size: int = PAGE_SIZE,
    session: Any = None,
    progress: Optional[SyncProgress] = None,
    plan: Optional[SyncPlan] = None,
    concurrency: int = PAGE_CONCURRENCY,
    retry: RetryRules = RETRY,
    arrow: bool = True,
) -> DltSource:
    """The dlt source named `support_api` with one resource per endpoint; `progress`
    counts pages and records as they arrive; `plan` picks the sync type (sync_plan.py);
    `concurrency` page requests in flight per endpoint (concurrent_pages.py); `arrow`
    hands declared endpoints' records to dlt as Arrow tables (arrow_pages.py), False
    sends every record through dlt's normalizer."""
    endpoints = tuple(endpoints)
    config = rest_api_config(
        base_url, api_key, endpoints, page_size, session, progress, plan, concurrency, retry
    )
    source = rest_api_source(config, name=SOURCE_NAME)
    if arrow:
        # Imported here: pyarrow is 0.16 s of loading the code location, which builds a
        # source only for its resource names (assets.py).
        from .arrow_pages import DLT_COLUMNS, ArrowRecords, PageBatches, current_load_id

        for endpoint in endpoints:
            schema = endpoint_schema(endpoint)
            if ArrowRecords.supports(schema):
                resource = source.resources[endpoint.name]
                resource.apply_hints(columns=DLT_COLUMNS)
                resource.add_step(PageBatches(), insert_at=1)  # right after the paginator
                resource.add_step(ArrowRecords(schema, current_load_id))  # after every other step
    return source


@with_config(sections=("sources", SOURCE_NAME))
def support_api(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    plan: Optional[SyncPlan] = None,
) -> DltSource:
    """The support API's endpoints as the dlt source `support_api`, one resource per endpoint.

    Args:
        base_url: The API's root URL, e.g. https://api.example.com. dlt's config:
            `base_url` under [sources.support_api] (or the top level) of .dlt/config.toml, or
            SOURCES__SUPPORT_API__BASE_URL.
        api_key: The key sent as the `api_key` query parameter, never logged. dlt's secrets:
            `api_key` in .dlt/secrets.toml, or SOURCES__SUPPORT_API__API_KEY.
        endpoints: The collections to load (settings.py).
        plan: Incremental (None or SyncType.incremental), full refresh or backfill (sync_plan.py).

    Returns:
        DltSource: merge-loaded on the primary key, with the declared schema and contract.
    """
    return support_api_source(base_url, api_key, endpoints, plan=plan)
