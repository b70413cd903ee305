"""The support API as a dlt source, in the shape of dlt's verified sources: `support_api`
takes its base URL and key from dlt's config and secrets; `support_api_source` builds the
rest_api configuration from the config file's resources (support_api.yaml) plus the project's
parts: the HTTP session, page validation, progress, the sync plan, and for offset pagination
with a total its own paginator with the drift monitor and concurrent pages.

Pure dlt: no module of this package imports Dagster (a test checks it), so the source runs
with a plain `dlt.pipeline(...)` too (docs/sources.md). Its helpers: config_file.py and
settings.py (resources, retry rules), paging.py, http_session.py, concurrent_pages.py,
validation.py, schema.py, sync_plan.py, deletions.py, arrow_pages.py, progress.py, probe.py,
gc_pauses.py.
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
from .deletions import deletion_steps
from .drift import DEFAULT_MAX_DRIFT_PASSES, PassMonitor, ids_of
from .http_session import http_session
from .progress import SyncProgress
from .schema import POSITION_COLUMN, SCHEMA_CONTRACT, table_schema
from .config_file import ENDPOINTS
from .paging import GoneParents, LastPage, PageCounter, PageHooks, Paging
from .settings import PAGE_CONCURRENCY, PAGE_SIZE, RETRY, SOURCE_NAME, Endpoint, RetryRules, with_parents
from .sync_plan import SyncPlan, SyncType
from .validation import Positions, ResponseValidator

# Compiled once: given as a string, dlt parses the JSONPath again for every page.
DATA_SELECTOR = jsonpath.compile_path("data")


class SupportApiPaginator(OffsetPaginator):
    """Offset/limit pagination that stops at the API's record count (`total_field`), or at a
    short or empty page, and reads the range again while the data changes under it
    (`monitor`, drift.py); once the count is known, `prefetch` fetches the next pages ahead.

    The count saves the extra empty request when it is a multiple of the page size. The
    validator (validation.py, a response action) rejects a page without it or whose count
    disagrees with its records before this runs; the page counter (paging.py) counts it.
    Errors never quote the response body, which holds customer data.
    """

    def __init__(
        self,
        limit: int = PAGE_SIZE,
        endpoint: str = "",
        progress: Optional[SyncProgress] = None,
        prefetch: Optional[PagePrefetcher] = None,
        monitor: Optional[PassMonitor] = None,
        primary_key: str = "id",
        *,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_field: str = "total",
    ) -> None:
        super().__init__(
            limit=limit, offset_param=offset_param, limit_param=limit_param, total_path=None,
            stop_after_empty_page=True,
        )
        self.endpoint = endpoint
        self.progress = progress
        self.prefetch = prefetch
        self.monitor = monitor
        self.primary_key = primary_key
        self.total_field = total_field
        self.total: Optional[int] = None
        self._first_offset = self.current_value
        self._new_pass = False

    def update_state(self, response: Any, data: Optional[list[Any]] = None) -> None:
        total = self.total = self._total(response)
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
        total = body.get(self.total_field) if isinstance(body, dict) else None
        if total is None:
            return None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(
                f"the API's `{self.total_field}` is not a non-negative integer (got a {type(total).__name__})"
                f" for {response.request.method} {response.request.path_url.split('?')[0]}"
            )
        return total


def rest_api_config(
    base_url: str,
    api_key: str,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    session: Any = None,
    progress: Optional[SyncProgress] = None,
    plan: Optional[SyncPlan] = None,
    concurrency: int = PAGE_CONCURRENCY,
    retry: RetryRules = RETRY,
) -> dict[str, Any]:
    """The rest_api configuration: the client (base URL, `api_key` query auth, the project's
    HTTP session) and one resource per endpoint (`_resource`). `plan` makes it an incremental,
    full-refresh or backfill sync (sync_plan.py), None reads everything and merges; up to
    `concurrency` page requests in flight per offset endpoint once the API's total is known."""
    protect(api_key)  # from here on, no log record or error of this process shows the key
    session = session if session is not None else http_session(retry, progress)
    # Mounted on the session: prefetched pages still pass its retries and the response actions.
    prefetch = PagePrefetcher(session, base_url, concurrency, retry)
    return {
        "client": {
            "base_url": base_url,
            "auth": {"type": "api_key", "name": "api_key", "api_key": api_key, "location": "query"},
            "session": session,
        },
        "resources": [_resource(endpoint, progress, plan, prefetch) for endpoint in endpoints],
    }


def _resource(
    endpoint: Endpoint,
    progress: Optional[SyncProgress],
    plan: Optional[SyncPlan],
    prefetch: Optional[PagePrefetcher] = None,
) -> dict[str, Any]:
    """One endpoint's rest_api resource: the config file's own dict, plus its declared schema
    and contract (schema.py), its pages validated and counted before extraction (validation.py,
    paging.py, as rest_api `response_actions`), its sync plan (sync_plan.py), and for offset
    pagination with a total the project's paginator (drift monitor, concurrent pages)."""
    schema = table_schema(endpoint)
    paging = Paging.of(endpoint)
    resource = {key: value for key, value in endpoint.resource.items() if key != "processing_steps"}
    config = dict(endpoint.endpoint)
    selector = config.get("data_selector") or "data"
    validator = ResponseValidator(
        endpoint.name, schema, endpoint.primary_key,
        data_selector=selector,
        total_field=paging.total_field,
        offset_param=paging.offset_param,
        limit_param=paging.limit_param,
        pages_total_field=paging.pages_total_field,
        page_param=paging.page_param,
    )
    counter = PageCounter(endpoint.name, progress, selector, paging.total_field) if progress is not None else None
    gone = [GoneParents(endpoint.name, progress)] if endpoint.parent else []
    hooks = PageHooks(*gone, validator, *([counter] if counter else []))
    config["response_actions"] = [*(config.get("response_actions") or ()), hooks]
    config["data_selector"] = DATA_SELECTOR if selector == "data" else jsonpath.compile_path(selector)
    # Not for a child: its paginations (one per parent record) would share one drift monitor.
    if paging.offset_with_total and not endpoint.parent:
        assert paging.limit and paging.total_field
        monitor = PassMonitor(
            endpoint.name,
            paging.limit,
            plan.max_drift_passes if plan is not None else DEFAULT_MAX_DRIFT_PASSES,
            report=progress.drift(endpoint.name) if progress is not None else None,
            # A full refresh replaces the table: it removes what an earlier pass read and the last one did not.
            keep_final_ids=plan is not None and plan.sync_type is SyncType.full_refresh,
            notify=progress.log if progress is not None else None,
            primary_key=endpoint.primary_key,
        )
        config["paginator"] = SupportApiPaginator(
            paging.limit, endpoint.name, progress, prefetch, monitor, endpoint.primary_key,
            offset_param=paging.offset_param, limit_param=paging.limit_param, total_field=paging.total_field,
        )
    # else: the file's paginator config, from which rest_api builds dlt's own paginator
    config.pop("incremental", None)
    if plan is not None and endpoint.incremental and not plan.reads_whole_range(endpoint):
        config["incremental"] = plan.incremental(endpoint)
    resource["endpoint"] = config
    resource["columns"] = schema.dlt_columns()
    resource["schema_contract"] = SCHEMA_CONTRACT
    steps: list[dict[str, Any]] = [
        {"map": Positions(POSITION_COLUMN)}, *(endpoint.resource.get("processing_steps") or ()),
    ]
    if plan is not None:
        resource["write_disposition"] = plan.write_disposition
        steps += plan.processing_steps(endpoint)
    replace = plan is not None and plan.sync_type is SyncType.full_refresh
    steps += deletion_steps(endpoint, replace)
    resource["processing_steps"] = steps
    return resource


def support_api_source(
    base_url: str,
    api_key: str,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    session: Any = None,
    progress: Optional[SyncProgress] = None,
    plan: Optional[SyncPlan] = None,
    concurrency: int = PAGE_CONCURRENCY,
    retry: RetryRules = RETRY,
    arrow: bool = True,
    resources: Optional[Iterable[str]] = None,
) -> DltSource:
    """The dlt source named `support_api` with one resource per endpoint; `progress`
    counts pages and records as they arrive; `plan` picks the sync type (sync_plan.py);
    `concurrency` page requests in flight per offset endpoint (concurrent_pages.py); `arrow`
    hands records to dlt as Arrow tables where the fast path applies (arrow_pages.py), False
    sends every record through dlt's normalizer.

    `resources` names the resources to load (None: all of `endpoints`). A selected child pulls
    its parent (and the parent's parents) from `endpoints` into the source to make its requests,
    without loading the parent (dlt's `with_resources`)."""
    endpoints = tuple(endpoints)
    selected = tuple(resources) if resources is not None else tuple(e.name for e in endpoints)
    unknown = sorted(set(selected) - {e.name for e in endpoints})
    if unknown:
        raise ValueError(f"unknown resource(s) {', '.join(unknown)}: not among {[e.name for e in endpoints]}")
    endpoints = with_parents(selected, endpoints)
    config = rest_api_config(base_url, api_key, endpoints, session, progress, plan, concurrency, retry)
    source = rest_api_source(config, name=SOURCE_NAME)
    # Parents whose records a selected child's requests are made from: their resource must
    # hand the child dict records, so no Arrow tables there. Nor for a child: its pages end once
    # per parent record, and batches that must leave with a pagination's last page would be a
    # few records each.
    feeding = {e.parent for e in endpoints if e.name in selected and e.parent}
    for endpoint in endpoints:
        resource = source.resources[endpoint.name]
        if arrow and endpoint.name not in feeding and not endpoint.parent:
            # Imported here: pyarrow is 0.16 s of loading the code location, which builds a
            # source only for its resource names (assets.py).
            from .arrow_pages import DLT_COLUMNS, ArrowRecords, PageBatches, current_load_id

            schema = table_schema(endpoint)
            if ArrowRecords.supports(schema):
                resource.apply_hints(columns=DLT_COLUMNS)
                resource.add_step(PageBatches(), insert_at=1)  # right after the paginator
                resource.add_step(ArrowRecords(schema, current_load_id))  # after every other step
        if progress is not None and not endpoint.parent and not Paging.of(endpoint).offset_with_total:
            # (The project's offset paginator says it itself.)
            resource.add_step(LastPage(endpoint.name, progress), insert_at=1)  # sees the pages as dlt's paginator made them
    if resources is not None:
        source = source.with_resources(*selected)
    return source


@with_config(sections=("sources", SOURCE_NAME))
def support_api(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    plan: Optional[SyncPlan] = None,
    resources: Optional[Iterable[str]] = None,
) -> DltSource:
    """The support API's resources as the dlt source `support_api`, one per resource of the
    config file (support_api.yaml, or the file SUPPORT_API_CONFIG names when `endpoints` come
    from `config_file.load_endpoints()`).

    Args:
        base_url: The API's root URL, e.g. https://api.example.com. dlt's config:
            `base_url` under [sources.support_api] (or the top level) of .dlt/config.toml, or
            SOURCES__SUPPORT_API__BASE_URL.
        api_key: The key sent as the `api_key` query parameter, never logged. dlt's secrets:
            `api_key` in .dlt/secrets.toml, or SOURCES__SUPPORT_API__API_KEY.
        endpoints: The resources (config_file.py).
        plan: The sync (sync_plan.py); None: an incremental sync (SyncPlan()): resources that
            declare an `incremental` read what changed since the last load, the others a full
            read, all merged.
        resources: The names of the resources to load; None: all. A child's parent is read
            for its requests but not loaded.

    Returns:
        DltSource: merge-loaded on the primary key, with the declared schema and contract.
    """
    return support_api_source(base_url, api_key, endpoints, plan=plan or SyncPlan(), resources=resources)
