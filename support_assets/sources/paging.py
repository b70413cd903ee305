"""How a resource pages, read off its rest_api `paginator` config, and the progress of its pages.

Pure dlt, no Dagster import. `Paging.of(endpoint)` says what the project may rely on:
- offset pagination that reads a record count (`total`) gets the project's own paginator, with
  the drift monitor and concurrent pages (`offset_with_total`); the validator checks the count;
- page-number pagination with a `total_path` reads a page count: the validator checks it is one;
- every other paginator (json_link, header_link, cursor...) is dlt's own, built by rest_api
  from the file's config, and the pages end when dlt's paginator says so.

`PageCounter` (a rest_api response action) and `LastPage` (a step right after the paginator)
give every resource its progress lines, whatever its paginator.
"""

from dataclasses import dataclass
from typing import Any, Optional

import logging

from dlt.common import jsonpath
from dlt.extract.items_transform import ItemTransform
from dlt.sources.helpers.rest_client.exceptions import IgnoreResponseException

from .progress import SyncProgress
from .settings import Endpoint

log = logging.getLogger(__name__)

# Query parameters that set a page's size, by the names APIs use; the probe sets the first one
# the file's `params` hold to 1.
SIZE_PARAMS = ("per_page", "page_size", "pagesize", "limit", "size", "count", "page[size]")


@dataclass(frozen=True)
class Paging:
    kind: str  # the rest_api paginator type ("offset", "page_number", "json_link", ...)
    total_field: Optional[str] = None  # the record count an offset paginator reads
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: Optional[int] = None
    pages_total_field: Optional[str] = None  # the page count a page-number paginator reads
    page_param: Optional[str] = None
    base_page: int = 0
    size_param: Optional[str] = None  # the query parameter that sets the page size, if any

    @classmethod
    def of(cls, endpoint: Endpoint) -> "Paging":
        config = dict(endpoint.paginator)
        kind = str(config.get("type") or "auto")
        size_param = next((p for p in endpoint.params if p.lower() in SIZE_PARAMS), None)
        if kind == "offset":
            total = config.get("total_path", "total")
            plain = isinstance(total, str) and total.isidentifier() and not config.get("has_more_path")
            body = config.get("offset_body_path") or config.get("limit_body_path")
            limit_param = config.get("limit_param") or "limit"
            return cls(
                kind,
                total_field=total if plain and not body else None,
                offset_param=config.get("offset_param") or "offset",
                limit_param=limit_param,
                limit=config.get("limit"),
                size_param=limit_param,
            )
        if kind == "page_number":
            total = config.get("total_path", "total")
            plain = isinstance(total, str) and total.isidentifier()
            return cls(
                kind,
                pages_total_field=total if plain else None,
                page_param=config.get("page_param") or "page",
                base_page=int(config.get("base_page") or 0),
                size_param=size_param,
            )
        return cls(kind, size_param=size_param)

    @property
    def offset_with_total(self) -> bool:
        """Offset pagination with a record count: the project's paginator, drift monitor and
        concurrent pages apply."""
        return self.kind == "offset" and self.total_field is not None and bool(self.limit)


class PageCounter:
    """A rest_api response action (a response hook): counts each 2xx page of one resource and
    its records into SyncProgress, with the record count where the paginator reads one. Runs
    after the validator, so the page is known to be an object with a list of records."""

    def __init__(self, name: str, progress: SyncProgress, data_selector: str, total_field: Optional[str]) -> None:
        self.name = name
        self.progress = progress
        self.selector = data_selector if data_selector.isidentifier() else jsonpath.compile_path(data_selector)
        self.total_field = total_field

    def __deepcopy__(self, memo: dict) -> "PageCounter":
        return self  # rest_api deep-copies its config: the counts must reach the one progress

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> None:
        if not 200 <= response.status_code < 300:
            return
        body = response.json()
        if isinstance(self.selector, str):
            data = body.get(self.selector)
        else:
            found = jsonpath.find_values(self.selector, body)
            data = found[0] if len(found) == 1 else found
        total = body.get(self.total_field) if self.total_field else None
        self.progress.page(self.name, len(data or ()), total if isinstance(total, int) else None)


class GoneParents:
    """A response action of a child resource. A 404 for one parent record's children, after
    earlier requests of the same child succeeded, means the parent was deleted upstream while
    the sync read it (its children went with it): the sync skips that parent (rest_api's
    `ignore`) and counts it in the progress. A 404 before any success is the path being wrong,
    and fails the sync as any 404 does."""

    def __init__(self, name: str, progress: Optional[SyncProgress]) -> None:
        self.name = name
        self.progress = progress
        self.succeeded = False

    def __deepcopy__(self, memo: dict) -> "GoneParents":
        return self

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> None:
        if 200 <= response.status_code < 300:
            self.succeeded = True
        elif response.status_code == 404 and self.succeeded:
            path = response.request.path_url.split("?")[0]  # no query string: it holds the key
            message = f"{self.name}: GET {path} answered 404 Not Found: its parent record is gone upstream; skipped"
            if self.progress is not None:
                self.progress.parent_gone(self.name, message)
            else:
                log.warning(message)
            raise IgnoreResponseException(message)


class PageHooks:
    """Several response hooks as one rest_api response action: rest_api decodes the body as text
    for every action it checks, so one action costs one decode per page, not one per hook."""

    def __init__(self, *hooks: Any) -> None:
        self.hooks = hooks

    def __deepcopy__(self, memo: dict) -> "PageHooks":
        return self

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> None:
        for hook in self.hooks:
            hook(response)


class LastPage(ItemTransform[Any, Any]):
    """A step right after the paginator of a resource that is not a child: says in the progress
    lines when the resource's last page is in (a child's pages end once per parent record)."""

    def __init__(self, name: str, progress: SyncProgress) -> None:
        super().__init__(lambda item: item)
        self.name = name
        self.progress = progress

    def __call__(self, item: Any, meta: Any = None) -> Any:
        paginator = getattr(item, "paginator", None)  # rest_api's PageData
        if paginator is not None and not paginator.has_next_page:
            self.progress.finished(self.name)
        return item
