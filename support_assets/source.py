"""The support API as a dlt source: the reference rest_api configuration, its HTTP
session and its paginator. Pure dlt, no Dagster import: it runs on its own too.
"""

from typing import Any, Iterable, Optional

from dlt.common import jsonpath
from dlt.sources import DltSource
from dlt.sources.helpers import requests as dlt_requests
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.rest_api import rest_api_source

from .api import ENDPOINTS, PAGE_CONCURRENCY, PAGE_SIZE, RETRY, SOURCE_NAME, Endpoint, RetryRules
from .arrow_pages import ArrowBatches
from .concurrent_pages import PagePrefetcher
from .progress import SyncProgress

# Compiled once: given as a string, dlt parses the JSONPath again for every page.
DATA_SELECTOR = jsonpath.compile_path("data")


class SupportApiPaginator(OffsetPaginator):
    """Offset/limit pagination that stops at `total`, or at a short or empty page.

    `total` saves the extra empty request when the count is a multiple of the page
    size; the short-page rule keeps an API that omits `total` working. Errors never
    quote the response body, which holds customer data.
    """

    def __init__(
        self,
        limit: int = PAGE_SIZE,
        endpoint: str = "",
        progress: Optional[SyncProgress] = None,
        prefetch: Optional[PagePrefetcher] = None,
    ) -> None:
        super().__init__(limit=limit, total_path=None, stop_after_empty_page=True)
        self.endpoint = endpoint
        self.progress = progress
        self.prefetch = prefetch
        self.total: Optional[int] = None

    def update_state(self, response: Any, data: Optional[list[Any]] = None) -> None:
        total = self.total = self._total(response)
        if self.progress is not None:
            self.progress.page(self.endpoint, len(data or ()))
        self.current_value += self.value_step
        page_is_short = data is None or len(data) < self.limit
        if page_is_short or (total is not None and self.current_value >= total):
            self._has_next_page = False

    def update_request(self, request: Any) -> None:
        super().update_request(request)
        if self.prefetch is None:
            return
        if not self._has_next_page:
            self.prefetch.finish(request)
        elif self.total is not None:  # the pages' end is known: fetch ahead
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


def http_session(rules: RetryRules = RETRY) -> Any:
    """A requests session that retries only the transient failures in `rules`."""
    return dlt_requests.Client(
        raise_for_status=False,
        status_codes=rules.status_codes,
        request_max_attempts=rules.max_attempts,
        request_backoff_factor=rules.backoff_factor,
        request_max_retry_delay=rules.max_wait,
        request_timeout=rules.request_timeout,
    ).session


def rest_api_config(
    base_url: str,
    api_key: str,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    page_size: int = PAGE_SIZE,
    session: Any = None,
    progress: Optional[SyncProgress] = None,
    concurrency: int = PAGE_CONCURRENCY,
) -> dict[str, Any]:
    """The reference configuration (DESIGN.md), one resource per endpoint; up to
    `concurrency` page requests in flight per endpoint once the API's total is known."""
    session = session if session is not None else http_session()
    prefetch = PagePrefetcher(session, base_url, concurrency)
    return {
        "client": {
            "base_url": base_url,
            "auth": {"type": "api_key", "name": "api_key", "api_key": api_key, "location": "query"},
            "session": session,
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": endpoint.name,
                "primary_key": endpoint.primary_key,
                "columns": {name: {"data_type": "json"} for name in endpoint.json_columns},
                "endpoint": {
                    "path": endpoint.path,
                    "data_selector": DATA_SELECTOR,
                    "paginator": SupportApiPaginator(page_size, endpoint.name, progress, prefetch),
                },
            }
            for endpoint in endpoints
        ],
    }


def support_api_source(
    base_url: str,
    api_key: str,
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    page_size: int = PAGE_SIZE,
    session: Any = None,
    progress: Optional[SyncProgress] = None,
    concurrency: int = PAGE_CONCURRENCY,
    arrow: bool = False,
) -> DltSource:
    """The dlt source named `support_api` with one resource per endpoint; `progress`
    counts pages and records as they arrive; `arrow` hands dlt the records as Arrow tables
    where that loads the same rows and columns (for Parquet destinations, see arrow_pages)."""
    config = rest_api_config(base_url, api_key, endpoints, page_size, session, progress, concurrency)
    source = rest_api_source(config, name=SOURCE_NAME)
    if arrow:
        for resource in source.resources.values():
            resource.add_step(ArrowBatches(resource))
    return source
