"""What one sync reads, in dlt's terms: its type, its cursor window and its write disposition.

Pure dlt, no Dagster import. The three sync types map onto dlt's own machinery:

- incremental: `dlt.sources.incremental` (rest_api's `incremental` config) on the endpoint's
  cursor field; the last value lives in dlt's state in the destination and goes to the API as
  `cursor_param`, moved back by `lag` (the lookback) so that changes made while the previous
  sync paged are read again; the merge on the primary key absorbs the overlap.
- full refresh: the `replace` write disposition with dlt's `insert-from-staging` strategy (set
  on the destination), so the table is swapped in one transaction only after every page
  arrived; `replace` also resets the resource's state, so the incremental starts from nothing
  and leaves the cursor at the newest record read.
- backfill: an incremental with `initial_value` and `end_value`; dlt then keeps its state in
  memory only, so the stored cursor does not move.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable, Optional

from .api import Endpoint
from .drift import DEFAULT_MAX_DRIFT_PASSES

UNIX = "unix"


class SyncType(str, Enum):
    incremental = "incremental"
    full_refresh = "full_refresh"
    backfill = "backfill"


def parse_time(value: Any, fmt: Optional[str] = None) -> datetime:
    """An aware UTC datetime from a cursor value: epoch seconds, a string in `fmt` (a strftime
    pattern, or "unix" for epoch seconds as text), or ISO 8601 (naive means UTC)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if fmt == UNIX and text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), timezone.utc)
        try:
            parsed = datetime.strptime(text, fmt) if fmt and fmt != UNIX else None
        except ValueError:
            parsed = None
        # Raises ValueError quoting the text: a timestamp, never customer data.
        parsed = parsed or datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        raise ValueError(f"not a timestamp: a {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_time(moment: datetime, fmt: str) -> Any:
    """`moment` as the API writes cursor values: epoch seconds for "unix", else strftime(fmt)."""
    moment = moment.astimezone(timezone.utc)
    if fmt == UNIX:
        return int(moment.timestamp())
    return moment.strftime(fmt)


def cursor_resolution(fmt: str) -> timedelta:
    """The smallest step between two cursor values in `fmt`."""
    return timedelta(microseconds=1) if "%f" in fmt else timedelta(seconds=1)


def param_converter(fmt: str) -> Callable[[Any], Any]:
    """rest_api's `convert`: a cursor value (stored, lagged or a bound) to the query parameter.
    None (no cursor yet) stays None, and requests leaves the parameter out."""

    def convert(value: Any) -> Any:
        return None if value is None else format_time(parse_time(value, fmt), fmt)

    return convert


@dataclass(frozen=True)
class SyncPlan:
    """One sync: its type, the incremental lookback, for a backfill the [start, end) window,
    the extra passes allowed while the data changes under it (drift.py), and the endpoints
    whose whole range it reads because an earlier sync hit that bound (`rescan`)."""

    sync_type: SyncType = SyncType.incremental
    lookback_seconds: float = 0
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    max_drift_passes: int = DEFAULT_MAX_DRIFT_PASSES
    rescan: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_drift_passes < 0:
            raise ValueError(f"max_drift_passes must be >= 0 (got {self.max_drift_passes})")
        if self.lookback_seconds < 0:
            raise ValueError(f"lookback_seconds must be >= 0 (got {self.lookback_seconds})")
        if self.sync_type is SyncType.backfill:
            if self.start is None or self.end is None:
                raise ValueError("a backfill needs both backfill_start and backfill_end")
            if not self.start < self.end:
                raise ValueError(
                    f"backfill_start ({self.start.isoformat()}) must be before"
                    f" backfill_end ({self.end.isoformat()})"
                )
        elif self.start is not None or self.end is not None:
            raise ValueError(
                f"backfill_start and backfill_end only apply to sync_type backfill, not {self.sync_type.value}"
            )

    @property
    def write_disposition(self) -> str:
        # Full refresh: replace through a staging dataset, swapped in one transaction.
        return "replace" if self.sync_type is SyncType.full_refresh else "merge"

    def reads_whole_range(self, endpoint: Endpoint) -> bool:
        """An earlier sync of `endpoint` hit the drift bound: read every record (merged), with
        no cursor filter and without moving the stored cursor, so what it missed arrives."""
        return endpoint.name in self.rescan and self.sync_type is not SyncType.full_refresh

    def incremental(self, endpoint: Endpoint) -> dict[str, Any]:
        """rest_api's `incremental` config for `endpoint`."""
        config: dict[str, Any] = {
            "cursor_path": endpoint.cursor_field,
            "start_param": endpoint.cursor_param,
            "convert": param_converter(endpoint.cursor_format),
            # No boundary de-duplication by dlt: it would drop a record changed twice within one
            # cursor tick as "already seen". The merge on the primary key removes the overlap.
            "primary_key": [],
        }
        if self.sync_type is SyncType.backfill:
            assert self.start is not None and self.end is not None
            # With an end_value, dlt keeps the state in memory only: the stored cursor stays put.
            config["initial_value"] = format_time(self.start, endpoint.cursor_format)
            config["end_value"] = format_time(self.end, endpoint.cursor_format)
            if endpoint.cursor_end_param:
                config["end_param"] = endpoint.cursor_end_param
        else:
            config["initial_value"] = None
            if self.lookback_seconds:
                config["lag"] = self.lookback_seconds
        return config

    def processing_steps(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        if self.sync_type is not SyncType.full_refresh:
            return []
        # `replace` does not merge, so a record that an offset page served twice (it moved while
        # the API was paged) would land twice; keep its first copy. A newer version of it has a
        # later cursor value and comes with the next incremental sync.
        return [{"filter": first_of_each(endpoint.primary_key)}]


def first_of_each(key: str) -> Callable[[dict], bool]:
    seen: set = set()

    def keep(record: dict) -> bool:
        value = record.get(key)
        if value in seen:
            return False
        seen.add(value)
        return True

    return keep
