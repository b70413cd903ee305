"""Fetch the pages of an offset-paginated endpoint concurrently once the API's `total` is known.

dlt's RESTClient walks the pages one request at a time. This module keeps that loop, so
auth, hooks, the retrying session, the paginator's checks and the progress counting stay
exactly as they are, and only makes the responses arrive sooner: once the first page has
told the total, the paginator asks a `PagePrefetcher` to start the next page requests on
a thread pool (at most `concurrency` outstanding); when the loop then sends one of
those requests, the session's adapter hands back the response already received instead
of asking the API a second time. Pages still reach dlt in order, one per request.

Rate limits are one budget shared by every request of the source (`RateLimitBudget`): a
429 pauses all of them, prefetches and the loop's own retries alike, for its Retry-After
(capped) or the first backoff wait, and halves the number of requests kept in flight,
which grows back by one after that many successful responses.

Retries are untouched: a prefetch is only a request's *first attempt*. If it failed (429,
5xx, a dropped connection), the loop's retrying session sees that outcome as its first
attempt and retries as usual, so a page still gets at most `RetryRules.max_attempts`.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Optional
from urllib.parse import quote

import orjson
from requests import PreparedRequest, Request, Response, Session
from requests.adapters import BaseAdapter

from .settings import RETRY, RetryRules
from .http_session import retry_after_seconds


class RateLimitBudget:
    """One rate-limit budget for all the requests of a sync.

    `limit` is the most requests kept in flight; `window` the number currently allowed.
    A 429 halves the window and pauses every request until its Retry-After (capped at
    `rules.max_wait`), or the first backoff wait without one; each `window` successful
    responses in a row give one slot back.
    """

    def __init__(
        self,
        limit: int,
        rules: RetryRules = RETRY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"concurrency must be at least 1, got {limit}")
        self.limit = limit
        self.window = limit
        self.rules = rules
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._successes = 0
        self.throttled = 0  # 429s seen
        self.paused_seconds = 0.0  # time requests spent waiting on the budget, summed

    def wait_turn(self) -> None:
        """Blocks while a 429 has paused requests."""
        while True:
            with self._lock:
                delay = self._resume_at - self._clock()
                if delay <= 0:
                    return
                self.paused_seconds += delay
            self._sleep(delay)

    def observe(self, response: Response) -> None:
        with self._lock:
            if response.status_code == 429:
                self.throttled += 1
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                wait = self.rules.wait(1) if wait is None else min(wait, self.rules.max_wait)
                self._resume_at = max(self._resume_at, self._clock() + wait)
                self.window = max(1, self.window // 2)
                self._successes = 0
            elif response.status_code < 400:
                self._successes += 1
                if self.window < self.limit and self._successes >= self.window:
                    self.window += 1
                    self._successes = 0


def parse_json_once(response: Response) -> None:
    """Makes `response.json()` parse the body once, with orjson, and return that result to
    every caller: dlt's data selector and the paginator's `total` each ask for it.
    Anything orjson refuses goes to requests' own parser, so errors stay the same.

    The method stored on the response reaches it through a weak reference: a strong one
    would be a reference cycle, and every page (its body and its parsed records) would then
    wait for the garbage collector instead of going when the sync is done with it. At
    1,000,000 records that held up to ~100 pages at a time (docs/performance.md)."""
    cache: list[Any] = []
    this = weakref.ref(response)

    def json(**kwargs: Any) -> Any:
        response = this()  # whoever calls response.json() holds the response
        assert response is not None
        if kwargs:
            return type(response).json(response, **kwargs)
        if not cache:
            try:
                cache.append(orjson.loads(response.content))
            except orjson.JSONDecodeError:
                return type(response).json(response)
        return cache[0]

    response.json = json  # type: ignore[method-assign]


# Set on every response of the API: its place in the order responses came back, across
# threads. The drift monitor (drift.py) compares `total`s in this order.
SERVED_ORDER = "support_api_served_order"


class PrefetchingAdapter(BaseAdapter):
    """Wraps the session's adapter for the API: sends prefetched requests on a pool of
    threads, answers a request from its prefetch when there is one, and makes every
    request, prefetched or not, wait its turn in the shared budget."""

    def __init__(self, inner: BaseAdapter, budget: RateLimitBudget) -> None:
        super().__init__()
        self.inner = inner
        self.budget = budget
        # Idle workers exit once the adapter (that is, the sync's session) is garbage.
        self._workers = ThreadPoolExecutor(budget.limit, thread_name_prefix="support-api-page")
        self._lock = threading.Lock()
        self._pending: dict[str, Future] = {}  # prefetches by URL
        self._last: dict[str, tuple[PreparedRequest, dict[str, Any]]] = {}  # by path
        self._served = itertools.count()

    def __deepcopy__(self, memo: dict) -> "PrefetchingAdapter":
        # rest_api deep-copies its config, session included, to validate it.
        return self

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        url = request.url or ""
        with self._lock:
            future = self._pending.pop(url, None) if request.method == "GET" else None
            if request.method == "GET" and request.body is None:
                self._last[url.partition("?")[0]] = (request, kwargs)
        if future is not None:
            return future.result()  # or raises what the prefetch raised, for the retry to judge
        return self._attempt(request, kwargs)

    def _attempt(self, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        self.budget.wait_turn()
        response = self.inner.send(request, **kwargs)
        setattr(response, SERVED_ORDER, next(self._served))
        self.budget.observe(response)
        parse_json_once(response)
        return response

    def _prefetch(self, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        response = self._attempt(request, {**kwargs, "stream": False})
        # Read and parse the body here, while the loop waits for other pages, not in the loop.
        if response.status_code < 300:
            try:
                response.json()
            except ValueError:
                pass  # the validator reports it, in page order
        return response

    def prefetch(self, path_url: str, param: str, offsets: list[int]) -> int:
        """Starts GET requests like the last one sent to `path_url`, with `param` set to
        each of `offsets`; returns how many it started (it skips pending ones)."""
        with self._lock:
            last = self._last.get(path_url)
            if last is None:
                return 0
            template, kwargs = last
            started = 0
            for offset in offsets:
                url = _with_param(template.url or "", param, offset)
                if url is None:
                    return started  # the offset is not a query parameter: nothing to vary
                if url in self._pending:
                    continue
                page = template.copy()
                page.url = url
                self._pending[url] = self._workers.submit(self._prefetch, page, kwargs)
                started += 1
            return started

    def pending(self, path_url: str) -> int:
        prefix = path_url + "?"
        with self._lock:
            return sum(1 for url in self._pending if url.startswith(prefix))

    def discard(self, path_url: str) -> None:
        """Forgets the prefetches of a pagination that ended before using them."""
        prefix = path_url + "?"
        with self._lock:
            for url in [url for url in self._pending if url.startswith(prefix)]:
                del self._pending[url]

    def close(self) -> None:
        """Stops fetching ahead: cancels the prefetches not yet sent and waits for those in
        flight, so that after a failed or cancelled sync no page request is left running."""
        with self._lock:
            self._pending.clear()
        self._workers.shutdown(wait=True, cancel_futures=True)
        self.inner.close()


def _with_param(url: str, name: str, value: int) -> Optional[str]:
    """`url` with the query parameter `name` set to `value`, in place; None if it has not
    exactly one. Done on the string, so the URL is the one requests will prepare."""
    base, _, query = url.partition("?")
    parts = query.split("&")
    key = quote(name, safe="") + "="
    hits = [i for i, part in enumerate(parts) if part.startswith(key)]
    if len(hits) != 1:
        return None
    parts[hits[0]] = f"{key}{value}"
    return f"{base}?{'&'.join(parts)}"


class PagePrefetcher:
    """Schedules the next page requests of offset paginations on one HTTP session.

    One per source: it mounts a `PrefetchingAdapter` for `base_url` on `session`, so every
    endpoint of the source shares one budget. `concurrency` is the most page requests in
    flight per endpoint; 1 fetches one page at a time, like dlt.
    """

    def __init__(
        self, session: Session, base_url: str, concurrency: int, rules: RetryRules = RETRY
    ) -> None:
        self.budget = RateLimitBudget(concurrency, rules)
        prefix = base_url if base_url.endswith("/") else base_url + "/"
        self.adapter = PrefetchingAdapter(session.get_adapter(prefix), self.budget)
        session.mount(prefix, self.adapter)
        self._frontier: dict[str, int] = {}  # next offset not yet scheduled, per path

    def __deepcopy__(self, memo: dict) -> "PagePrefetcher":
        # dlt deep-copies each paginator; they must all share this session and budget.
        return self

    def ahead(self, request: Request, param: str, next_offset: int, step: int, end: int) -> None:
        """Called by the paginator once it knows where the pages end: schedules the offsets
        from `next_offset` (the loop's next request) on, below `end`, up to the budget's window."""
        if self.budget.limit <= 1:
            return
        path_url = str(request.url)
        offset = max(next_offset, self._frontier.get(path_url, next_offset))
        room = self.budget.window - self.adapter.pending(path_url)
        offsets = list(range(offset, min(end, offset + step * max(room, 0)), step))
        if offsets:
            self._frontier[path_url] = offset + step * self.adapter.prefetch(path_url, param, offsets)

    def finish(self, request: Request) -> None:
        """The pagination ended: drop what it did not use (e.g. the API's total shrank)."""
        self._frontier.pop(str(request.url), None)
        self.adapter.discard(str(request.url))
