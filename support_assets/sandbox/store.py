"""In-memory record store for one endpoint, built for fast paging over large id ranges."""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from array import array
from bisect import bisect_right
from collections.abc import Sequence

from .data import (BASE_END, ENDPOINT_PATHS, MAX_COMMENTS, base_times, format_ts, make_comments,
                   make_record, parse_ts)

# Encoded records are the hot path; cap the byte cache so a 1M-record sandbox does not
# grow to ~0.5 GB. Evicting is safe because records regenerate deterministically.
MAX_ENCODED = 250_000
# Distinct (updated_since, updated_before) filters whose id lists are kept.
MAX_ID_LISTS = 8


def encode(record: dict) -> bytes:
    """Compact JSON, non-ASCII text as UTF-8 (as most APIs send it), not \\u escapes."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


class RecordStore:
    """Records with ids 1..N for one endpoint.

    Base records are generated on demand from their id; only added or updated
    records are held as dicts. Ids are never reused after a delete.
    """

    def __init__(self, endpoint: str, count: int = 0):
        if endpoint not in ENDPOINT_PATHS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._max_id = count
        self._changed: dict[int, dict] = {}  # added or updated records
        self._deleted: set[int] = set()
        self._encoded: dict[int, bytes] = {}
        # updated_at epoch per id (index id - 1), NaN once deleted so it fails every
        # comparison; built on the first filtered query, then kept in step by mutations.
        self._updated: array | None = None
        self._id_lists: dict[tuple[float, float], Sequence[int]] = {}
        # Sort keys of records inserted at a position (`insert_at`); every other record
        # sorts by its id, so the API's order stays "by id" until something is inserted.
        self._keys: dict[int, float] = {}
        # "now" for mutations: wall-clock seconds, but always later than every base
        # record and strictly increasing, so incremental cursors see each change.
        self._clock = BASE_END

    @property
    def total(self) -> int:
        with self._lock:
            return self._max_id - len(self._deleted)

    def add(self, record_or_count: int | dict = 1) -> list[dict]:
        """Append `n` generated records, or one record built from the given fields.

        New records get fresh created_at/updated_at stamps unless given; ids are
        assigned by the store. Returns the added records.
        """
        if isinstance(record_or_count, int):
            items = [{}] * record_or_count
        else:
            items = [record_or_count]
        added = []
        with self._lock:
            for fields in items:
                id = self._max_id + 1
                if fields.get("id", id) != id:
                    raise ValueError(f"ids are assigned by the store; next id is {id}")
                now = format_ts(self._tick())
                record = {**make_record(id, self.endpoint), "created_at": now, "updated_at": now,
                          **fields, "id": id}
                parse_ts(record["updated_at"])  # reject bad timestamps before storing
                self._max_id = id
                self._put(record)
                added.append(copy.deepcopy(record))
        return added

    def update(self, id: int, **fields) -> dict:
        """Merge fields into a record; updated_at moves to a fresh "now" unless given."""
        if fields.get("id", id) != id:
            raise ValueError("a record's id cannot change")
        with self._lock:
            self._require(id)
            record = {**self._record(id), **fields}
            if "updated_at" not in fields:
                record["updated_at"] = format_ts(self._tick())
            parse_ts(record["updated_at"])
            self._put(record)
            return copy.deepcopy(record)

    def delete(self, id: int) -> None:
        with self._lock:
            self._require(id)
            self._deleted.add(id)
            self._changed.pop(id, None)
            self._encoded.pop(id, None)
            if self._updated is not None:
                self._updated[id - 1] = math.nan
            self._id_lists.clear()

    def insert_at(self, position: int, count: int = 1) -> list[dict]:
        """Adds `count` new records that the API serves at `position` (0-based, in the
        unfiltered order) and after, pushing the records from there on to later offsets, as
        an import into the middle of a collection does. Ids are still new."""
        with self._lock:
            order = list(self._ids(-math.inf, math.inf))
            if not 0 <= position <= len(order):
                raise ValueError(f"position {position} is outside 0..{len(order)}")
            low = self._key(order[position - 1]) if position else 0.0
            high = self._key(order[position]) if position < len(order) else low + count + 1
        added = self.add(count)
        with self._lock:
            for n, record in enumerate(added, 1):
                self._keys[record["id"]] = low + (high - low) * n / (count + 1)
            self._id_lists.clear()
        return added

    def ids_at(self, positions: Sequence[int]) -> list[int]:
        """The ids the API serves at these positions (0-based, unfiltered order)."""
        with self._lock:
            order = self._ids(-math.inf, math.inf)
            return [order[p] for p in positions]

    def soft_delete(self, id: int, field: str = "deleted_at", value: object = None) -> dict:
        """Flags a record as deleted the way many APIs do, keeping it in the collection:
        `field` set to `value` (default: the current time), updated_at moved to now."""
        with self._lock:
            self._require(id)
            now = format_ts(self._tick())
            record = {**self._record(id), field: now if value is None else value, "updated_at": now}
            self._put(record)
            return copy.deepcopy(record)

    def touch(self, id: int) -> dict:
        """Moves a record's updated_at to now, as an API does when something under it changes."""
        return self.update(id)

    def exists(self, id: int) -> bool:
        with self._lock:
            return 1 <= id <= self._max_id and id not in self._deleted

    def get(self, id: int) -> dict:
        """A copy of the record; KeyError if it does not exist (or was deleted)."""
        with self._lock:
            self._require(id)
            return self._record(id)

    def all_records(self) -> list[dict]:
        with self._lock:
            return [self._record(id) for id in self._ids(-math.inf, math.inf)]

    def page(self, offset: int, limit: int, updated_since: str | None = None,
             updated_before: str | None = None) -> tuple[list[bytes], int]:
        """JSON-encoded records in id order with updated_since <= updated_at < updated_before,
        plus the number of matching records. Raises ValueError on a bad timestamp."""
        lo = parse_ts(updated_since) if updated_since else -math.inf
        hi = parse_ts(updated_before) if updated_before else math.inf
        with self._lock:
            ids = self._ids(lo, hi)
            return [self._encode(id) for id in ids[offset:offset + limit]], len(ids)

    def page_after(self, after: int | None, limit: int) -> tuple[list[bytes], int | None]:
        """Keyset paging: JSON-encoded records that follow record `after` (None: from the
        start) in the API's order, and the id to continue after, or None on the last page.
        Stable while records are added or deleted between pages, unlike an offset."""
        with self._lock:
            ids = self._ids(-math.inf, math.inf)
            start = 0 if after is None else bisect_right(ids, self._key(after), key=self._key)
            chunk = ids[start:start + limit]
            more = start + limit < len(ids)
            return [self._encode(id) for id in chunk], chunk[-1] if more and chunk else None

    # Everything below runs with the lock held.

    def _tick(self) -> int:
        self._clock = max(self._clock + 1, int(time.time()))
        return self._clock

    def _require(self, id: int) -> None:
        if not 1 <= id <= self._max_id or id in self._deleted:
            raise KeyError(id)

    def _record(self, id: int) -> dict:
        changed = self._changed.get(id)
        return copy.deepcopy(changed) if changed is not None else make_record(id, self.endpoint)

    def _put(self, record: dict) -> None:
        id = record["id"]
        self._changed[id] = record
        self._encoded.pop(id, None)
        if self._updated is not None:
            epoch = parse_ts(record["updated_at"])
            if id > len(self._updated):
                self._updated.append(epoch)
            else:
                self._updated[id - 1] = epoch
        self._id_lists.clear()

    def _encode(self, id: int) -> bytes:
        encoded = self._encoded.get(id)
        if encoded is None:
            if len(self._encoded) >= MAX_ENCODED:
                self._encoded.clear()
            record = self._changed.get(id) or make_record(id, self.endpoint)
            encoded = self._encoded[id] = encode(record)
        return encoded

    def _ids(self, lo: float, hi: float) -> Sequence[int]:
        """Matching ids in order, cached per filter so paging does not rescan every record."""
        key = (lo, hi)
        ids = self._id_lists.get(key)
        if ids is None:
            if lo == -math.inf and hi == math.inf:
                # Unfiltered: no need to materialise updated_at values.
                ids = range(1, self._max_id + 1)
                if self._deleted:
                    ids = [id for id in ids if id not in self._deleted]
            else:
                ids = [id for id, u in enumerate(self._updated_epochs(), 1) if lo <= u < hi]
            if self._keys:
                ids = sorted(ids, key=self._key)
            if len(self._id_lists) >= MAX_ID_LISTS:
                del self._id_lists[next(iter(self._id_lists))]
            self._id_lists[key] = ids
        return ids

    def _key(self, id: int) -> float:
        return self._keys.get(id, float(id))

    def _updated_epochs(self) -> array:
        if self._updated is None:
            self._updated = array("d", map(self._epoch, range(1, self._max_id + 1)))
        return self._updated

    def _epoch(self, id: int) -> float:
        if id in self._deleted:
            return math.nan
        changed = self._changed.get(id)
        if changed is not None:
            return parse_ts(changed["updated_at"])
        return base_times(id, self.endpoint)[1]


class CommentStore:
    """Each ticket's comments, the child collection under /v1/resource/{ticket_id}/comments.

    Comments of the tickets that existed at the start are generated per ticket when asked
    for (make_comments), so a sandbox of 100k tickets costs nothing until a page is read;
    only added comments are held. Adding one moves its ticket's updated_at to the comment's
    time, so an incremental read of the tickets sees that ticket again.
    """

    def __init__(self, tickets: RecordStore, agents: RecordStore):
        self._tickets = tickets
        self._agents = agents.total  # authors of generated comments: agents 1..n
        self._lock = threading.Lock()
        # Tickets added later start without comments; added comments take ids after
        # every generated one, so ids stay unique across tickets.
        self._generated_tickets = tickets.total
        self._next_id = self._generated_tickets * MAX_COMMENTS + 1
        self._added: dict[int, list[dict]] = {}

    def comments(self, ticket_id: int) -> list[dict]:
        """The ticket's comments, oldest first; KeyError if there is no such ticket."""
        ticket = self._tickets.get(ticket_id)
        generated = (make_comments(ticket_id, ticket["customer_id"], self._agents)
                     if ticket_id <= self._generated_tickets else [])
        with self._lock:
            return generated + copy.deepcopy(self._added.get(ticket_id, []))

    def page(self, ticket_id: int, page: int, per_page: int) -> tuple[list[bytes], int]:
        """JSON-encoded comments on page `page` (1-based) and the ticket's comment count."""
        comments = self.comments(ticket_id)
        start = (page - 1) * per_page
        return [encode(c) for c in comments[start:start + per_page]], len(comments)

    def add(self, fields: dict) -> dict:
        """Adds a comment to fields["ticket_id"] (by the ticket's customer unless
        author_type/author_id say otherwise) and bumps that ticket's updated_at."""
        fields = dict(fields)
        ticket_id = fields.pop("ticket_id", None)
        if not isinstance(ticket_id, int):
            raise ValueError('a comment needs an integer "ticket_id"')
        if "id" in fields:
            raise ValueError("comment ids are assigned by the store")
        if "created_at" in fields:
            parse_ts(fields["created_at"])  # reject a bad timestamp before changing anything
        ticket = self._tickets.touch(ticket_id)  # KeyError if there is no such ticket
        with self._lock:
            comment = {
                "id": self._next_id,
                "ticket_id": ticket_id,
                "author_id": ticket["customer_id"],
                "author_type": "customer",
                "body": "Added through the sandbox control API.",
                "public": True,
                "created_at": ticket["updated_at"],
                **fields,
            }
            self._next_id += 1
            self._added.setdefault(ticket_id, []).append(comment)
            return copy.deepcopy(comment)
