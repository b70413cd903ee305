"""What a sync did, counted as it happens: pages and records per endpoint.

Pure Python, filled by the dlt source's paginator, read by the Dagster assets for
progress logs and materialization metadata.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class EndpointProgress:
    pages: int = 0
    records: int = 0


@dataclass
class SyncProgress:
    """Counts pages and records per endpoint; calls `log` at most every `log_every` seconds
    (and for the first page), so a long sync shows progress without a line per page."""

    log: Optional[Callable[[str], None]] = None
    log_every: float = 5.0
    endpoints: dict[str, EndpointProgress] = field(default_factory=dict)
    retries: int = 0
    retry_wait_seconds: float = 0.0
    _last_log: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __deepcopy__(self, memo: dict) -> "SyncProgress":
        # dlt deep-copies each paginator; they must all report to this one object.
        return self

    def page(self, endpoint: str, records: int) -> None:
        with self._lock:
            counts = self.endpoints.setdefault(endpoint, EndpointProgress())
            counts.pages += 1
            counts.records += records
            now = time.monotonic()
            due = counts.pages == 1 or now - self._last_log >= self.log_every
            if due:
                self._last_log = now
        if due and self.log:
            self.log(f"{endpoint}: {counts.pages} pages, {counts.records} records fetched so far")

    @property
    def pages(self) -> int:
        return sum(e.pages for e in self.endpoints.values())

    @property
    def records(self) -> int:
        return sum(e.records for e in self.endpoints.values())
