"""What this project knows about the support API: its endpoints (read from the config file by
config_file.py), page size and retry rules.

Plain data with no dlt or Dagster import, so the HTTP session (http_session.py) and the
Dagster retries (defs/errors.py, defs/assets.py) read the same numbers.
"""

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional


ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
# `{resources.<parent>.<field>}` in a child's path or params (rest_api's placeholder).
_PLACEHOLDER = re.compile(r"\{resources\.([^.{}]+)\.[^{}]+\}")


@dataclass(frozen=True)
class Endpoint:
    """One resource of the config file (config_file.py), in dlt rest_api's own vocabulary, and what
    the project reads off it. `resource` is the rest_api resource dict, `resource_defaults` applied;
    it becomes the table `name` and the asset `support_api/<name>`."""

    resource: Mapping[str, Any]
    # How the API writes cursor values: a strftime pattern, or "unix" for epoch seconds. Not a
    # rest_api key (rest_api takes a `convert` callable, which YAML cannot hold).
    cursor_format: str = ISO_SECONDS

    @classmethod
    def of(cls, name: str, path: str, cursor_format: str = ISO_SECONDS, **resource: Any) -> "Endpoint":
        """An endpoint built in Python, with the config file's defaults: `Endpoint.of("agents",
        "/v1/agents", endpoint={"paginator": {"type": "json_link"}})`."""
        endpoint = {"path": path, "data_selector": "data", **resource.pop("endpoint", {})}
        resource = {"primary_key": "id", "write_disposition": "merge", "name": name, **resource, "endpoint": endpoint}
        return cls(resource, cursor_format)

    @property
    def name(self) -> str:
        return self.resource["name"]

    @property
    def endpoint(self) -> Mapping[str, Any]:
        return self.resource.get("endpoint") or {}

    @property
    def path(self) -> str:
        return self.endpoint["path"]

    @property
    def params(self) -> Mapping[str, Any]:
        return self.endpoint.get("params") or {}

    @property
    def paginator(self) -> Mapping[str, Any]:
        """The paginator's config, {"type": ...} even where the file gives only the type's name."""
        paginator = self.endpoint.get("paginator") or {"type": "auto"}
        return {"type": paginator} if isinstance(paginator, str) else paginator

    @property
    def primary_key(self) -> str:
        return self.resource.get("primary_key") or "id"

    @property
    def write_disposition(self) -> str:
        return self.resource.get("write_disposition") or "merge"

    @property
    def columns(self) -> Mapping[str, Mapping[str, Any]]:
        """The declared dlt column hints."""
        return self.resource.get("columns") or {}

    @property
    def incremental(self) -> Optional[Mapping[str, Any]]:
        return self.endpoint.get("incremental")

    @property
    def cursor_field(self) -> Optional[str]:
        """The field incremental syncs, the new-data probe and the freshness check read; None:
        the API cannot filter this collection by change time, so every sync reads it whole."""
        return (self.incremental or {}).get("cursor_path")

    @property
    def cursor_param(self) -> Optional[str]:
        return (self.incremental or {}).get("start_param")

    @property
    def cursor_end_param(self) -> Optional[str]:
        return (self.incremental or {}).get("end_param")

    @property
    def deleted_field(self) -> Optional[str]:
        """The column with dlt's `hard_delete` hint: a record where it is set (true, or any
        value but null) is deleted from the table by the next merge."""
        return next((name for name, hint in self.columns.items() if hint.get("hard_delete")), None)

    @property
    def parent(self) -> Optional[str]:
        """The resource whose records this child's requests are made for, if any: named by a
        `{resources.<parent>.<field>}` placeholder in the path or params, or a `resolve` param."""
        for value in (self.path, *self.params.values()):
            if isinstance(value, Mapping) and value.get("type") == "resolve":
                return value.get("resource")
            found = _PLACEHOLDER.search(value) if isinstance(value, str) else None
            if found:
                return found.group(1)
        return None

    @property
    def description(self) -> str:
        parent = f", one request per {self.parent} record" if self.parent else ""
        return f"Records of GET {self.path}{parent}, merged by {self.primary_key}."


def with_parents(names: Iterable[str], endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    """The endpoints named, with the parents (and their parents) their requests are made from,
    in the order of `endpoints`: what a source needs to load `names`."""
    by_name = {e.name: e for e in endpoints}
    needed: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        parent = by_name[name].parent
        if parent:
            pending.append(parent)
    return tuple(e for e in by_name.values() if e.name in needed)


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
