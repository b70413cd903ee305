"""One cheap request that asks the API whether an endpoint has records changed since a cursor.

Pure HTTP with the project's session (no Dagster): the new-data sensor calls it on every tick,
so it asks for a single record and reads the count of matches from `total`.
"""

from dataclasses import replace
from typing import Any

import requests

from .settings import RETRY, Endpoint
from .http_session import ApiError, http_session

# A sensor tick must stay short: one retry, a short timeout.
PROBE_RETRY = replace(RETRY, max_retries=1, max_wait=5, request_timeout=10)


class ProbeError(Exception):
    """The API could not answer the probe. The message names the endpoint and the status or
    the error's type, never the URL's query (it holds the key) nor the body (customer data)."""


def count_changed(
    base_url: str, api_key: str, endpoint: Endpoint, since: Any, session: Any = None
) -> int:
    """How many records of `endpoint` have `cursor_field` at or after `since` (None: all
    records): the response's `total`, or the size of the one-record page when the API sends
    no total."""
    session = session or http_session(PROBE_RETRY)
    url = base_url.rstrip("/") + endpoint.path
    params = {"limit": 1, "offset": 0, endpoint.cursor_param: since, "api_key": api_key}
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
    total = body.get("total") if isinstance(body, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list):
        return len(data)
    raise ProbeError(f"{where} answered without `total` or a `data` list")
