"""What this project knows about the support API: its endpoints, page size and retry rules.

Plain data with no dlt or Dagster import, so the HTTP session (source.py) and the
Dagster retry policy (assets.py) read the same numbers.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """One REST collection, loaded into the table `name` and the asset `support_api/<name>`."""

    name: str
    path: str
    description: str = ""
    primary_key: str = "id"
    # List fields kept as one JSON column instead of a child table: a child table costs a
    # row per list element in dlt's normalizer and in every merge, and it keeps the sync
    # off the Arrow path (docs/performance.md).
    json_columns: tuple[str, ...] = ()


# Adding an endpoint is one more line here; it becomes a table and an asset.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="customer_support_data",
        path="/v1/resource",
        description="Support tickets from GET /v1/resource, merged by id.",
        json_columns=("tags",),
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
