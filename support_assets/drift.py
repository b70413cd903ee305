"""Notices when the collection changes under an offset pagination, and says whether to read it again.

Pure Python, no dlt or Dagster import; the paginator (source.py) feeds it every page. The
reasoning behind the signals and the re-read is in docs/consistency.md. In short: one *pass*
reads offsets 0, limit, 2*limit... up to the API's total. A pass has *drifted* when

- two of its responses report different `total`s (a record came or went between them),
- a page is shorter than the limit while an earlier response said more records follow, or
- an id arrives twice (records moved right: something was inserted before them).

A response never says *where* a change happened, only that one happened between two
serves, so any offset from 0 on may have shifted: a drifted pass is followed by another whole
pass over the same range (same filter), until a pass shows no drift or `max_extra_passes`
extra passes are spent.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Optional

# Extra passes after the first before a sync gives up re-reading and completes with what it
# has (a collection changing during every pass): at most 3 passes in all.
DEFAULT_MAX_DRIFT_PASSES = 2
# Pages (in offset order) whose ids a new page is compared with for repeats: records that moved
# right by up to this many pages show as a repeat; moves balanced in `total` and farther than
# this go unseen (docs/consistency.md). Bounded, so memory does not grow with the collection.
DUPLICATE_WINDOW = 32

log = logging.getLogger(__name__)


@dataclass
class DriftReport:
    """What drift did to one endpoint's sync, for metadata and the next sync."""

    drift_passes: int = 0  # extra passes made because a pass drifted
    records_possibly_missed: int = 0  # > 0 only when the bound was hit: see `PassMonitor.end_pass`
    drift_offsets: list[int] = field(default_factory=list)  # where the last drifted pass saw it
    # A full refresh that read its range again: the ids of its final pass, which showed no
    # drift. Rows of other ids came from earlier passes and are gone upstream (metadata.py
    # deletes them after the load).
    final_ids: Optional[set] = None
    primary_key: str = "id"

    def __deepcopy__(self, memo: dict) -> "DriftReport":
        # dlt deep-copies each paginator; its monitor must fill the report the sync reads.
        return self

    @property
    def bounded(self) -> bool:
        return self.records_possibly_missed > 0


@dataclass
class _Response:
    order: int  # position in the order the API served the pass's responses
    offset: int
    total: Optional[int]


class PassMonitor:
    """Watches the passes over one endpoint. `page` takes each response as the paginator
    consumes it (offset order); `end_pass` says whether to read the range again."""

    def __init__(
        self,
        endpoint: str,
        limit: int,
        max_extra_passes: int = DEFAULT_MAX_DRIFT_PASSES,
        report: Optional[DriftReport] = None,
        keep_final_ids: bool = False,
        notify: Optional[Callable[[str], None]] = None,
        primary_key: str = "id",
    ) -> None:
        if max_extra_passes < 0:
            raise ValueError(f"max_drift_passes must be >= 0, got {max_extra_passes}")
        self.endpoint = endpoint
        self.limit = limit
        self.max_extra_passes = max_extra_passes
        self.report = report if report is not None else DriftReport()
        self.report.primary_key = primary_key
        self.keep_final_ids = keep_final_ids  # a full refresh removes what its final pass did not read
        self.notify = notify  # where the sync's progress lines go (the Dagster run's log)
        self._previous_repeats: set = set()
        self._new_pass()

    def __deepcopy__(self, memo: dict) -> "PassMonitor":
        # dlt deep-copies each paginator once per sync of the endpoint; `notify` (a Dagster
        # logger) cannot be copied, and the report must stay the one the sync reads.
        return self

    def _new_pass(self) -> None:
        self._responses: list[_Response] = []
        # Ids of the last DUPLICATE_WINDOW pages (offset order), page by page and together.
        self._window: deque[list[Hashable]] = deque()
        self._recent: set = set()
        # Every id of the pass, kept only where needed: a full refresh's passes after a drift.
        self._ids: Optional[set] = set() if self.keep_final_ids and self.report.drift_passes else None
        self._duplicates = 0
        self._short_at: list[int] = []
        self._most = 0  # the largest `total` of the pass so far
        self._duplicate_at: list[int] = []
        self._repeats: set = set()  # (offset, id) of each repeat

    def page(self, offset: int, total: Optional[int], ids: list[Hashable], order: Optional[int] = None) -> None:
        order = len(self._responses) if order is None else order
        self._responses.append(_Response(order, offset, total))
        # A page is one snapshot: an id twice on one page is the API's own repeat, not a move.
        page_ids = set(ids)
        repeated = page_ids & self._recent  # set operations: C speed
        if repeated:
            self._duplicates += len(repeated)
            self._duplicate_at.append(offset)
            self._repeats.update((offset, id) for id in repeated)
        self._window.append(ids)
        self._recent |= page_ids
        if len(self._window) > DUPLICATE_WINDOW:
            # An id also on a newer page leaves early: it was counted as a repeat already.
            self._recent.difference_update(self._window.popleft())
        if self._ids is not None:
            self._ids.update(ids)
        if total is not None:
            self._most = max(self._most, total)
        if len(ids) < self.limit and offset + len(ids) < self._most:
            self._short_at.append(offset)

    def drift(self) -> Optional[str]:
        """What showed this pass drifted, in words with offsets only; None if nothing did."""
        served = sorted(self._responses, key=lambda r: r.order)
        changes = [(a, b) for a, b in zip(served, served[1:]) if a.total != b.total and None not in (a.total, b.total)]
        signs = []
        if changes:
            a, b = changes[0]
            signs.append(
                f"total went from {a.total} (offset {a.offset}) to {b.total} (offset {b.offset})"
                + (f" and changed {len(changes) - 1} more time(s)" if len(changes) > 1 else "")
            )
        if self._short_at:
            signs.append(f"short page(s) before the end at offset(s) {few(self._short_at)}")
        if self._duplicates:
            signs.append(f"{self._duplicates} id(s) read twice, at offset(s) {few(self._duplicate_at)}")
        return "; ".join(signs) or None

    def _drift_offsets_of_totals(self) -> list[int]:
        served = sorted(self._responses, key=lambda r: r.order)
        return [b.offset for a, b in zip(served, served[1:]) if a.total != b.total]

    def _drift_offsets(self) -> list[int]:
        return sorted({*self._drift_offsets_of_totals(), *self._short_at, *self._duplicate_at})

    def _observed_changes(self) -> int:
        """Records the pass saw come or go: the changes of `total` in serve order, plus
        duplicates. Each may have moved one record past the pages: a lower bound of what
        may be missing, not a count of it (docs/consistency.md)."""
        served = [r.total for r in sorted(self._responses, key=lambda r: r.order) if r.total is not None]
        return sum(abs(b - a) for a, b in zip(served, served[1:])) + self._duplicates + len(self._short_at)

    def _same_repeats_as_before(self) -> bool:
        """Repeats only, the same ids at the same offsets as the pass before: an API that
        serves an id twice in one unchanging collection, not records moving."""
        only_repeats = self.drift() is not None and not self._short_at and not self._drift_offsets_of_totals()
        return only_repeats and self._repeats == self._previous_repeats

    def end_pass(self) -> bool:
        """The pass reached the end of the range: True to read the range again."""
        drift = None if self._same_repeats_as_before() else self.drift()
        self._previous_repeats = self._repeats
        if drift is None:
            self.report.final_ids = self._ids  # None unless a full refresh read its range again
            return False
        self.report.drift_offsets = self._drift_offsets()
        if self.report.drift_passes >= self.max_extra_passes:
            self.report.records_possibly_missed = max(1, self._observed_changes())
            log.warning(
                "%s: the API's data kept changing while it was paged (%s); after %d extra"
                " pass(es) the sync completes with what it read; records may be missing (about %d"
                " changes seen) around offset(s) %s, and the next sync of %s reads its whole range again",
                self.endpoint, drift, self.report.drift_passes, self.report.records_possibly_missed,
                few(self.report.drift_offsets), self.endpoint,
            )
            return False
        self.report.drift_passes += 1
        message = (
            f"{self.endpoint}: the API's data changed while it was paged ({drift}); reading it"
            f" again (extra pass {self.report.drift_passes} of at most {self.max_extra_passes})"
        )
        (self.notify or log.info)(message)
        self._new_pass()
        return True


def few(offsets: list[int], shown: int = 10) -> str:
    """Offsets for a log line: the first `shown`, and how many more."""
    more = f" and {len(offsets) - shown} more" if len(offsets) > shown else ""
    return f"{offsets[:shown]}{more}"


def ids_of(records: Optional[list[Any]], key: str) -> list[Hashable]:
    """The primary keys of a page's records; an unhashable key (not one the schema allows)
    counts by its text, a record that is not an object as None."""
    try:
        ids = [record.get(key) for record in records or ()]
        hash(tuple(ids))
        return ids
    except (AttributeError, TypeError):
        values = [record.get(key) if isinstance(record, dict) else None for record in records or ()]
        return [value if isinstance(value, Hashable) else repr(value) for value in values]
