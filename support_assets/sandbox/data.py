"""Deterministic fake records: the same (endpoint, id) always yields the same record."""

from __future__ import annotations

import calendar
import time
import zlib
from datetime import datetime, timezone

# Endpoint name (as used by the dlt source) -> URL path served by the sandbox.
ENDPOINT_PATHS = {
    "customer_support_data": "/v1/resource",
    "customers": "/v1/customers",
}

# Every base record's created_at/updated_at falls inside this window, so anything
# stamped later (see RecordStore) is unambiguously "newer than the initial load". It ends
# at the start of the current hour, so the data looks recent (the demo's freshness check
# passes) whenever the sandbox starts; fixed for the life of the process.
BASE_END = int(time.time()) // 3600 * 3600
BASE_START = BASE_END - 880 * 86400  # about two years and five months

STATUSES = ("open", "pending", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "chat", "phone")
PLANS = ("free", "team", "business", "enterprise")
TAGS = ("billing", "login", "bug", "feature-request", "refund", "vip", "mobile", "api")
PROBLEMS = ("Cannot log in to", "Refund request for", "Question about", "Error when using",
            "Slow response from", "Feature request for", "Cancel", "Upgrade")
SUBJECTS = ("my account", "the mobile app", "invoice", "the dashboard", "API access",
            "my subscription", "password reset", "data export")
FIRST_NAMES = ("Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis",
               "Frances", "Edsger", "Radia", "Guido")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov",
              "Ritchie", "Allen", "Dijkstra", "Perlman", "Rossum")

_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finalizer: a cheap, well-spread 64-bit hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


# Per-endpoint salt so e.g. customer 7 and ticket 7 do not share random draws.
_SALTS = {endpoint: zlib.crc32(endpoint.encode()) for endpoint in ENDPOINT_PATHS}


def _seed(id: int, endpoint: str, stream: int) -> int:
    return _mix((_SALTS[endpoint] << 40 | id) << 2 | stream)


class _Draws:
    """Deterministic draws carved out of a 128-bit hash of (endpoint, id).

    Several times cheaper than seeding a random.Random per record, which matters
    because records are generated on demand while serving pages.
    """

    def __init__(self, id: int, endpoint: str):
        self._bits = _seed(id, endpoint, 1) << 64 | _seed(id, endpoint, 2)

    def below(self, n: int) -> int:
        self._bits, value = divmod(self._bits, n)
        return value

    def choice(self, options: tuple):
        return options[self.below(len(options))]

    def sample(self, options: tuple, k: int) -> list:
        pool = list(options)
        return [pool.pop(self.below(len(pool))) for _ in range(k)]


def base_times(id: int, endpoint: str) -> tuple[int, int]:
    """(created_at, updated_at) epoch seconds of a base record.

    A separate hash from the other fields, so the store can scan a million
    updated_at values for filtering without generating whole records.
    """
    h = _seed(id, endpoint, 0)
    created = BASE_START + h % (BASE_END - BASE_START)
    updated = created + (h >> 32) % (BASE_END - created + 1)
    return created, updated


def format_ts(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_ts(value: str) -> float:
    """ISO-8601 -> epoch seconds; accepts "Z" or "+00:00", naive means UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def make_record(id: int, endpoint: str = "customer_support_data") -> dict:
    if endpoint not in ENDPOINT_PATHS:
        raise ValueError(f"unknown endpoint {endpoint!r}")
    draw = _Draws(id, endpoint)
    created, updated = base_times(id, endpoint)
    first, last = draw.choice(FIRST_NAMES), draw.choice(LAST_NAMES)
    email = f"{first}.{last}{draw.below(999) + 1}@example.com".lower()
    if endpoint == "customers":
        return {
            "id": id,
            "name": f"{first} {last}",
            "email": email,
            "plan": draw.choice(PLANS),
            "created_at": format_ts(created),
            "updated_at": format_ts(updated),
        }
    return {
        "id": id,
        "customer_id": draw.below(5000) + 1,
        "subject": f"{draw.choice(PROBLEMS)} {draw.choice(SUBJECTS)}",
        "status": draw.choice(STATUSES),
        "priority": draw.choice(PRIORITIES) if draw.below(5) else None,  # None 1 in 5
        "channel": draw.choice(CHANNELS),
        "created_at": format_ts(created),
        "updated_at": format_ts(updated),
        "requester": {"name": f"{first} {last}", "email": email},
        "tags": draw.sample(TAGS, draw.below(4)),
    }
