"""Scripted failures for the API routes, so clients' retry and error handling can be tested."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, applied to the next `times` matching API requests.

    status: answer with this status (JSON error body, or `body` if given).
    retry_after: Retry-After header value sent with the answer.
    delay: seconds to wait before answering (or before a normal answer).
    drop: close the connection without answering.
    body: serve these raw bytes (status 200 unless `status` is set), e.g. truncated JSON.
    content_type: Content-Type sent with `body`, e.g. "text/html" for an error page.
    path: only match requests to this path (e.g. "/v1/resource"); None matches any.
    """

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0
    drop: bool = False
    body: bytes | None = None
    content_type: str = "application/json"
    path: str | None = None
    times: int = 1

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
        self._pending: list[list] = []  # [fault, uses left]
        self.latency = 0.0  # seconds added to every API response

    def add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._pending.append([fault, fault.times])

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for entry in self._pending:
                fault = entry[0]
                if fault.path is None or fault.path == path:
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._pending.remove(entry)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def __len__(self) -> int:
        """Remaining uses across all pending faults."""
        with self._lock:
            return sum(uses for _, uses in self._pending)
