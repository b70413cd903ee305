"""What a sync did, counted as it happens: pages and records per endpoint.

Pure Python, filled by the dlt source's paginator, read by the Dagster assets for
progress logs and materialization metadata.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from .drift import DriftReport


def plural(count: int, noun: str) -> str:
    """"1 record", "2 records": counts in logs, metadata and the demo's summary."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class EndpointProgress:
    pages: int = 0
    records: int = 0
    total: Optional[int] = None  # records the API said match, when it says
    drift: DriftReport = field(default_factory=DriftReport)  # re-reads while the data changed (drift.py)
    # A child's parent records deleted upstream before their children were read (paging.py).
    parents_gone: int = 0

    def summary(self) -> str:
        if self.total is None:
            return f"{plural(self.pages, 'page')}, {plural(self.records, 'record')}"
        return f"{plural(self.pages, 'page')}, {self.records} of {plural(self.total, 'record')}"


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

    def page(self, endpoint: str, records: int, total: Optional[int] = None) -> None:
        with self._lock:
            counts = self.endpoints.setdefault(endpoint, EndpointProgress())
            counts.pages += 1
            counts.records += records
            counts.total = total if total is not None else counts.total
            now = time.monotonic()
            due = counts.pages == 1 or now - self._last_log >= self.log_every
            if due:
                self._last_log = now
        if due and self.log:
            self.log(f"{endpoint}: {counts.summary()} fetched so far")

    def drift(self, endpoint: str) -> DriftReport:
        with self._lock:
            return self.endpoints.setdefault(endpoint, EndpointProgress()).drift

    def parent_gone(self, endpoint: str, message: str) -> None:
        """A child's request found its parent record deleted upstream: always logged."""
        with self._lock:
            self.endpoints.setdefault(endpoint, EndpointProgress()).parents_gone += 1
        if self.log:
            self.log(message)

    def finished(self, endpoint: str) -> None:
        """The endpoint's last page is in: always logged, since loading into the
        warehouse follows and can take a while on its own."""
        with self._lock:
            counts = self.endpoints.setdefault(endpoint, EndpointProgress())
            message = f"{endpoint}: all pages fetched ({counts.summary()})"
        if self.log:
            self.log(message)

    @property
    def pages(self) -> int:
        return sum(e.pages for e in self.endpoints.values())

    @property
    def records(self) -> int:
        return sum(e.records for e in self.endpoints.values())
