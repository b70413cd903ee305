"""What this project knows about the support API: its endpoints, page size and retry rules.

Plain data with no dlt or Dagster import, so the HTTP session (source.py) and the
Dagster retry policy (assets.py) read the same numbers.
"""

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Endpoint:
    """One REST collection, loaded into the table `name` and the asset `support_api/<name>`."""

    name: str
    path: str
    description: str = ""
    primary_key: str = "id"
    # How the API filters by change time (sync.py): records whose `cursor_field` is at or after
    # the value sent as `cursor_param`; a backfill also bounds the window with `cursor_end_param`
    # (None: the window's end is applied to the records instead). `cursor_format` is the strftime
    # pattern of the field and the parameters, or "unix" for epoch seconds.
    cursor_field: str = "updated_at"
    cursor_param: str = "updated_since"
    cursor_end_param: Optional[str] = "updated_before"
    cursor_format: str = "%Y-%m-%dT%H:%M:%SZ"
    # How the API flags a deleted record it still serves (deletions.py): a record whose
    # `deleted_field` is set (`deleted_value` None, e.g. a `deleted_at` timestamp) or equals
    # `deleted_value` (e.g. status "deleted") is removed from the table by the next
    # incremental sync. None: the API does not flag deletions.
    deleted_field: Optional[str] = None
    deleted_value: Optional[str] = None


# Adding an endpoint is one more line here; it becomes a table and an asset.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="customer_support_data",
        path="/v1/resource",
        description="Support tickets from GET /v1/resource, merged by id.",
    ),
)

SOURCE_NAME = "support_api"
PAGE_SIZE = 100
# Page requests in flight per endpoint once the first page has told the total; 1 fetches
# one page at a time like dlt. 8 made a 50 ms-latency API 5x faster (docs/performance.md).
PAGE_CONCURRENCY = 8


@dataclass(frozen=True)
class RetryRules:
    """Transient failures and how long to wait for them, shared by both retry layers."""

    status_codes: tuple[int, ...] = (429, 500, 502, 503, 504)
    max_retries: int = 3  # so at most 4 attempts
    backoff_factor: float = 2  # waits of 2, 4, 8 s
    max_wait: float = 60  # cap on one wait, Retry-After included
    request_timeout: float = 30

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def wait(self, retry_number: int) -> float:
        """Seconds before retry number `retry_number` (1-based): factor * 2**(n-1), capped."""
        return min(self.backoff_factor * 2 ** (retry_number - 1), self.max_wait)


RETRY = RetryRules()
