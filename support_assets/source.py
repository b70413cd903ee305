"""The support API as a dlt source: the reference rest_api configuration, its HTTP
session and its paginator. Pure dlt, no Dagster import: it runs on its own too.
"""

from typing import Any, Iterable, Optional

from dlt.sources import DltSource
from dlt.sources.helpers import requests as dlt_requests
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.rest_api import rest_api_source

from .api import ENDPOINTS, PAGE_SIZE, RETRY, SOURCE_NAME, Endpoint, RetryRules
from .cursor import SyncPlan
from .progress import SyncProgress


class SupportApiPaginator(OffsetPaginator):
    """Offset/limit pagination that stops at `total`, or at a short or empty page.

    `total` saves the extra empty request when the count is a multiple of the page
    size; the short-page rule keeps an API that omits `total` working. Errors never
    quote the response body, which holds customer data.
    """

    def __init__(
        self, limit: int = PAGE_SIZE, endpoint: str = "", progress: Optional[SyncProgress] = None
    ) -> None:
        super().__init__(limit=limit, total_path=None, stop_after_empty_page=True)
        self.endpoint = endpoint
        self.progress = progress

    def update_state(self, response: Any, data: Optional[list[Any]] = None) -> None:
        total = self._total(response)
        if self.progress is not None:
            self.progress.page(self.endpoint, len(data or ()))
        self.current_value += self.value_step
        page_is_short = data is None or len(data) < self.limit
        if page_is_short or (total is not None and self.current_value >= total):
            self._has_next_page = False

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
    plan: Optional[SyncPlan] = None,
) -> dict[str, Any]:
    """The reference configuration (DESIGN.md), one resource per endpoint; `plan` makes it an
    incremental, full-refresh or backfill sync (cursor.py), None reads everything and merges."""
    return {
        "client": {
            "base_url": base_url,
            "auth": {"type": "api_key", "name": "api_key", "api_key": api_key, "location": "query"},
            "session": session if session is not None else http_session(),
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": endpoint.name,
                "primary_key": endpoint.primary_key,
                "endpoint": {
                    "path": endpoint.path,
                    "data_selector": "data",
                    "paginator": SupportApiPaginator(page_size, endpoint.name, progress),
                    **({"incremental": plan.incremental(endpoint)} if plan else {}),
                },
                **(
                    {"write_disposition": plan.write_disposition,
                     "processing_steps": plan.processing_steps(endpoint)}
                    if plan else {}
                ),
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
    plan: Optional[SyncPlan] = None,
) -> DltSource:
    """The dlt source named `support_api` with one resource per endpoint; `progress`
    counts pages and records as they arrive; `plan` picks the sync type (cursor.py)."""
    config = rest_api_config(base_url, api_key, endpoints, page_size, session, progress, plan)
    return rest_api_source(config, name=SOURCE_NAME)
