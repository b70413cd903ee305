"""One cheap request that asks the API whether an endpoint has records changed since a cursor.

Pure HTTP with the project's session (no Dagster): the new-data sensor calls it on every tick,
for each resource with a cursor, whatever its paginator. It asks for the first page with the
cursor parameter and a page size of 1 where the paginator has a size parameter (offset's
`limit`; a page-number API's `per_page` or the like from the file's `params`), and reads the
count of matches: offset pagination's record total; page-number pagination's page total (pages
of one record); else a `total` in the body; else the page's length (0 or 1: "something changed").
"""

from dataclasses import replace
from typing import Any

import requests

from dlt.common import jsonpath

from .paging import Paging
from .settings import RETRY, Endpoint
from .http_session import ApiError, http_session

# A sensor tick must stay short: one retry, a short timeout.
PROBE_RETRY = replace(RETRY, max_retries=1, max_wait=5, request_timeout=10)


class ProbeError(Exception):
    """The API could not answer the probe. The message names the endpoint and the status or
    the error's type, never the URL's query (it holds the key) nor the body (customer data)."""


def can_probe(endpoint: Endpoint) -> bool:
    """Whether `count_changed` can ask about `endpoint`: a resource of its own (no parent) whose
    incremental sends its cursor to the API (`start_param`)."""
    return bool(endpoint.cursor_param) and not endpoint.parent


def count_changed(
    base_url: str, api_key: str, endpoint: Endpoint, since: Any, session: Any = None
) -> int:
    """How many records of `endpoint` have `cursor_field` at or after `since` (None: all
    records), from one request (see the module's docstring for what is read)."""
    if not can_probe(endpoint):
        raise ValueError(
            f"{endpoint.name}: the probe needs a resource of its own (no parent) whose"
            " `endpoint.incremental` has a `start_param`"
        )
    session = session or http_session(PROBE_RETRY)
    url = base_url.rstrip("/") + endpoint.path
    paging = Paging.of(endpoint)
    params: dict[str, Any] = {k: v for k, v in endpoint.params.items() if isinstance(v, (str, int, float))}
    if paging.kind == "offset":
        params.update({paging.offset_param: 0, paging.limit_param: 1})
    elif paging.kind == "page_number":
        params[paging.page_param or "page"] = paging.base_page
    if paging.size_param and paging.kind != "offset":
        params[paging.size_param] = 1
    params.update({endpoint.cursor_param: since, "api_key": api_key})
    where = f"GET {endpoint.path} ({endpoint.name})"
    try:
        response = session.get(url, params=params, timeout=PROBE_RETRY.request_timeout)
    except ApiError as exc:  # the project's session: its message is already safe to show
        raise ProbeError(f"{where} failed: {exc}") from None
    except requests.RequestException as exc:  # its text quotes the URL, which holds the key
        raise ProbeError(f"{where} failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise ProbeError(f"{where} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise ProbeError(f"{where} did not answer with JSON") from None
    if not isinstance(body, dict):
        raise ProbeError(f"{where} answered without an object")
    counts = [paging.total_field, "total"]
    if paging.pages_total_field and paging.size_param:  # pages of one record: the page count
        counts.insert(0, paging.pages_total_field)
    for field in counts:
        total = body.get(field) if field else None
        if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            return total
    selector = endpoint.endpoint.get("data_selector") or "data"
    found = jsonpath.find_values(jsonpath.compile_path(selector), body)
    data = found[0] if len(found) == 1 else found
    if isinstance(data, list):
        return len(data)
    raise ProbeError(f"{where} answered without a count or a `{selector}` list")
