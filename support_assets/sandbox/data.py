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
    "agents": "/v1/agents",
}
# The child collection: a ticket's comments, served per ticket (see make_comments).
COMMENTS_PATH = "/v1/resource/{ticket_id}/comments"

# Tickets draw customer_id from 1..CUSTOMER_IDS, so a sandbox serving that many customers
# has every ticket's customer; agents author the agent comments.
CUSTOMER_IDS = 5000
DEFAULT_AGENTS = 25
MAX_COMMENTS = 5  # per generated ticket; base comment ids are (ticket_id - 1) * 5 + 1.. + 5

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

# Names and texts that clients must round-trip unchanged (UTF-8 on the wire).
UNICODE_NAMES = ("Zoë Ñúñez", "李雷", "Ólafur Þórsson", "Fatma Yılmaz", "Дмитрий Иванов",
                 "José Müller", "Siobhán Ó Briain", "Nguyễn Thị Hà")
AGENT_NAMES = ("Amélie Durand", "Björn Lindqvist", "Chidi Okafor", "Dana Kim", "Élodie Petit",
               "Farah Haddad", "Gökhan Aydın", "Hana Suzuki", "Ines Sørensen", "Jonas Weiß",
               "Kai Nakamura", "Lena Kowalska", "Mateo Rossi", "Nadia Петрова", "Omar Farouk",
               "Priya Natarajan", "王芳")
ROLES = ("agent", "agent", "agent", "agent", "agent", "admin")
COMMENT_BODIES = (
    "Thanks for reaching out, looking into it now.",
    "I still see the error after the update.",
    "Could you send a screenshot of the page?",
    "Resetting the password fixed it, thank you!",
    "Merci, ça marche à nouveau !",
    "Danke schön — funktioniert wieder ✅",
    "谢谢，问题已经解决了。",
    "The invoice shows the wrong amount (€49 instead of €39).",
    "Escalated to the billing team.",
    "Any update on this? 🙏",
)

_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finalizer: a cheap, well-spread 64-bit hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


# Per-endpoint salt so e.g. customer 7 and ticket 7 do not share random draws.
_SALTS = {endpoint: zlib.crc32(endpoint.encode()) for endpoint in (*ENDPOINT_PATHS, "ticket_comments")}


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
            # 1 in 6 has a non-ASCII name, 1 in 8 no email
            "name": f"{first} {last}" if draw.below(6) else draw.choice(UNICODE_NAMES),
            "email": email if draw.below(8) else None,
            "plan": draw.choice(PLANS),
            "created_at": format_ts(created),
            "updated_at": format_ts(updated),
            "deleted_at": None,  # set by the control API's soft_delete
        }
    if endpoint == "agents":
        return {
            "id": id,
            "name": draw.choice(AGENT_NAMES),
            "email": f"agent{id}@support.example.com",
            "role": draw.choice(ROLES),
            "active": draw.below(8) != 0,
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


def comment_id(ticket_id: int, n: int) -> int:
    """Id of a generated ticket's n-th comment (0-based): unique across all tickets."""
    return (ticket_id - 1) * MAX_COMMENTS + n + 1


def make_comments(ticket_id: int, customer_id: int, agents: int) -> list[dict]:
    """The 0-5 comments of a generated ticket, oldest first.

    The first is the customer's, at the ticket's created_at; the next ones alternate
    agent/customer at strictly later times, none after the ticket's generated updated_at.
    `agents` is how many agents exist (ids 1..agents); with none, only the customer writes.
    """
    created, updated = base_times(ticket_id, "customer_support_data")
    count = _Draws(ticket_id * 8 + 7, "ticket_comments").below(MAX_COMMENTS + 1)
    count = min(count, updated - created + 1, MAX_COMMENTS if agents else 1)
    slot = (updated - created) // max(count - 1, 1)  # >= 1 whenever count > 1
    comments = []
    for n in range(count):
        draw = _Draws(ticket_id * 8 + n, "ticket_comments")
        by_agent = n % 2 == 1
        at = created if n == 0 else created + (n - 1) * slot + 1 + draw.below(slot)
        comments.append({
            "id": comment_id(ticket_id, n),
            "ticket_id": ticket_id,
            "author_id": draw.below(agents) + 1 if by_agent else customer_id,
            "author_type": "agent" if by_agent else "customer",
            "body": draw.choice(COMMENT_BODIES) if draw.below(10) else None,  # None: attachment only
            "public": draw.below(4) != 0 if by_agent else True,  # agents write internal notes too
            "created_at": format_ts(at),
        })
    return comments
