"""Scripted failures for the API routes, so clients' retry and error handling can be tested."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, applied to the next `times` matching API requests
    (times=None: every matching request until the faults are cleared).

    status: answer with this status (JSON error body, or `body` if given).
    retry_after: Retry-After header value sent with the answer.
    delay: seconds to wait before answering (or before a normal answer).
    drop: close the connection without answering.
    body: serve these raw bytes (status 200 unless `status` is set), e.g. truncated JSON.
    content_type: Content-Type sent with `body`, e.g. "text/html" for an error page.
    path: only match requests to this path (e.g. "/v1/resource"), or to this fnmatch
        pattern (e.g. "/v1/resource/*/comments"); None matches any.
    """

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0
    drop: bool = False
    body: bytes | None = None
    content_type: str = "application/json"
    path: str | None = None
    times: int | None = 1

    def matches(self, path: str) -> bool:
        return self.path is None or fnmatchcase(path, self.path)

    @classmethod
    def from_json(cls, obj: dict) -> Fault:
        """Build from a JSON object (control API); `body` is a string, sent UTF-8 encoded."""
        unknown = set(obj) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        obj = dict(obj)
        if obj.get("body") is not None:
            obj["body"] = obj["body"].encode()
        if obj.get("retry_after") is not None:
            obj["retry_after"] = str(obj["retry_after"])
        return cls(**obj)


class FaultQueue:
    """Faults in the order added; each matching request consumes one use of the first match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list] = []  # [fault, uses left (None: unlimited)]
        self.latency = 0.0  # seconds added to every API response

    def add(self, fault: Fault) -> None:
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be >= 1, or None for a persistent fault")
        with self._lock:
            self._pending.append([fault, fault.times])

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for entry in self._pending:
                fault = entry[0]
                if fault.matches(path):
                    if entry[1] is not None:
                        entry[1] -= 1
                        if entry[1] == 0:
                            self._pending.remove(entry)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def __len__(self) -> int:
        """Remaining uses across all pending faults; a persistent fault counts as one."""
        with self._lock:
            return sum(uses or 1 for _, uses in self._pending)


@dataclass(frozen=True)
class Drift:
    """A change to the data while a client pages through it, for deterministic drift tests.

    Right after the `after_page`-th page of `path` has been served (counting every 200 answer
    on that path since the drift was added, in the order they were served), the records at
    `delete` positions are deleted, then `insert` new records are placed at each of the
    `insert` positions. Positions are 0-based offsets in the unfiltered order, taken before
    the change.
    """

    after_page: int
    delete: tuple[int, ...] = ()
    insert: tuple[int, ...] = ()
    path: str = "/v1/resource"

    def __post_init__(self) -> None:
        if self.after_page < 1:
            raise ValueError("after_page must be >= 1")
        object.__setattr__(self, "delete", tuple(self.delete))
        object.__setattr__(self, "insert", tuple(self.insert))

    @classmethod
    def from_json(cls, obj: dict) -> Drift:
        unknown = set(obj) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown drift fields: {sorted(unknown)}")
        return cls(**obj)

    def apply(self, store) -> None:
        """Deletes and inserts at positions of the collection as it was before the change."""
        doomed = store.ids_at(self.delete)
        for position in sorted(self.insert, reverse=True):  # later positions first: earlier ones stay put
            store.insert_at(position)
        for id in doomed:
            store.delete(id)


class DriftSchedule:
    """Drifts waiting for their page. `serve` runs a page answer and the drifts it makes due
    under one lock, so that with many requests in flight the change lands exactly between
    the `after_page`-th answer and the next one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[Drift, int]] = []  # (drift, page count when it was added)
        self._served: dict[str, int] = {}  # pages served per path while drifts were pending

    def add(self, drift: Drift) -> None:
        with self._lock:
            self._pending.append((drift, self._served.setdefault(drift.path, 0)))

    def serve(self, path: str, answer, store):
        """`answer()` -> (status, body, records), then the drifts it made due, on `store()`."""
        if not self._pending:
            return answer()
        with self._lock:
            result = answer()
            if result[0] == 200 and path in self._served:
                self._served[path] += 1
                due = [(d, n) for d, n in self._pending if d.path == path and d.after_page == self._served[path] - n]
                for entry in due:
                    self._pending.remove(entry)
                    entry[0].apply(store())
            return result

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
