"""The HTTP session the dlt source talks to the API with: retries by RetryRules, and
errors that say what went wrong without the key, the query string or the body.

dlt's `Client` supplies the retry machinery (tenacity: status codes and connection
errors, exponential waits, Retry-After in seconds or as an HTTP date, capped); this
module picks the project's numbers, counts the retries into SyncProgress and turns
whatever requests raises into an `ApiError` whose message names the method, path and
cause. The original exception is not chained: its text holds the full URL, key
included, and would otherwise reach dlt's trace and Dagster's event log.

Pure dlt/requests, no Dagster import.
"""

import http
import logging
import socket
from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry
from dlt.sources.helpers import requests as dlt_requests

from .settings import RETRY, RetryRules
from .progress import SyncProgress
from ..redaction import scrub

if TYPE_CHECKING:  # tenacity comes with dlt, whose Client retries with it
    from tenacity import RetryCallState

log = logging.getLogger(__name__)


class ApiError(requests.RequestException):
    """A request to the API failed. `transient` says whether trying again later can help
    (429/5xx after the HTTP retries ran out, connection failures, timeouts)."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


def http_session(
    rules: RetryRules = RETRY,
    progress: Optional[SyncProgress] = None,
    sleep: Optional[Callable[[float], None]] = None,
) -> requests.Session:
    """A requests session that retries only the transient failures in `rules`.

    `progress` counts each retry and its wait; `sleep` replaces the wait itself (tests).
    """
    session = dlt_requests.Client(
        raise_for_status=False,
        status_codes=rules.status_codes,
        exceptions=(requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError),
        request_max_attempts=rules.max_attempts,
        request_backoff_factor=rules.backoff_factor,
        request_max_retry_delay=rules.max_wait,
        request_timeout=rules.request_timeout,
        respect_retry_after_header=True,
    ).session
    # dlt wrapped `send` in a tenacity retry; keep its conditions and waits, add our hooks.
    retrying = session.send.retry.copy(before_sleep=_count_retry(rules, progress))
    if sleep is not None:
        retrying = retrying.copy(sleep=sleep)
    unretried_send = session.send.__wrapped__

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        attempts = retrying.copy()
        try:
            return attempts(unretried_send, request, **kwargs)
        except ApiError:
            raise
        except requests.RequestException as exc:
            tries = attempts.statistics.get("attempt_number", 1)
            error = api_error(exc, request, tries, rules)
        # Raised outside the `except`, so the original (URL and key in its text) is not
        # even the implicit __context__ of the error dlt and Dagster will record.
        raise error

    session.send = send  # type: ignore[method-assign]
    _read_environment_once_per_host(session)
    return session


def _read_environment_once_per_host(session: requests.Session) -> None:
    """requests reads proxy and CA settings from the environment for every request (dlt's
    client asks it to): ~0.1 s of a 1,000-page sync. The environment does not change within
    a sync, so read it once per scheme and host; the proxies and NO_PROXY still apply."""
    merge = session.merge_environment_settings
    cache: dict[tuple, dict[str, Any]] = {}

    def merge_once(url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        key = (tuple(urlsplit(str(url))[:2]), repr(proxies), stream, verify, cert)
        if key not in cache:
            cache[key] = merge(url, proxies, stream, verify, cert)
        return dict(cache[key])  # a copy: callers update it

    session.merge_environment_settings = merge_once  # type: ignore[method-assign]


def _count_retry(
    rules: RetryRules, progress: Optional[SyncProgress]
) -> Callable[["RetryCallState"], None]:
    def before_sleep(state: "RetryCallState") -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        request = state.args[0] if state.args else None
        what = _describe_outcome(state)
        message = (
            f"{_request_name(request)}: {what}; retry {state.attempt_number} of"
            f" {rules.max_retries} in {wait:g} s"
        )
        if progress is not None:
            progress.retries += 1
            progress.retry_wait_seconds += wait
        if progress is not None and progress.log is not None:
            progress.log(message)
        else:
            log.warning(message)

    return before_sleep


def _describe_outcome(state: "RetryCallState") -> str:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return _status_text(exc.response.status_code)
    if exc is not None:
        return _connection_problem(exc, None)
    response = state.outcome.result() if state.outcome else None
    if isinstance(response, requests.Response):
        return _status_text(response.status_code)
    return "failed"


def api_error(
    exc: requests.RequestException,
    request: Optional[requests.PreparedRequest],
    attempts: int,
    rules: RetryRules,
) -> ApiError:
    """The message a user needs for a failed request, with no URL query, key or body."""
    name = _request_name(request)
    tries = f"(tried {attempts} time{'s' if attempts != 1 else ''})"
    response = exc.response if isinstance(exc, requests.HTTPError) else None
    if response is not None:
        status = response.status_code
        if status in (401, 403):
            return ApiError(f"the API rejected the key ({status}) for {name}", transient=False, status=status)
        if status in rules.status_codes:
            return ApiError(
                f"the API answered {_status_text(status)} for {name} {tries}",
                transient=True,
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        return ApiError(f"the API answered {_status_text(status)} for {name}", transient=False, status=status)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        where = _origin(request)
        return ApiError(
            f"could not get an answer from the API{where} for {name}:"
            f" {_connection_problem(exc, rules)} {tries}",
            transient=True,
        )
    # Invalid URL, too many redirects and the like: a configuration problem.
    return ApiError(f"{name} failed: {type(exc).__name__}: {scrub(str(exc))}", transient=False)


_RETRY_AFTER = Retry()  # only its Retry-After parser is used; RetryRules caps the wait


def retry_after_seconds(header: Optional[str]) -> Optional[float]:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None when
    there is none or it is not valid: urllib3's own parser."""
    if not header:
        return None
    try:
        return float(_RETRY_AFTER.parse_retry_after(header))
    except InvalidHeader:
        return None


def _request_name(request: Optional[requests.PreparedRequest]) -> str:
    if request is None or not request.url:
        return "the request"
    return f"{request.method} {urlsplit(request.url).path or '/'}"


def _origin(request: Optional[requests.PreparedRequest]) -> str:
    """' at http://host:port', without user info or query."""
    if request is None or not request.url:
        return ""
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    return f" at {parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def _status_text(status: int) -> str:
    # The standard phrase, not the server's: the reason line is the server's free text.
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _connection_problem(exc: BaseException, rules: Optional[RetryRules]) -> str:
    if isinstance(exc, requests.Timeout):
        if isinstance(exc, requests.ConnectTimeout):
            return "timed out connecting"
        limit = f" within {rules.request_timeout:g} s" if rules else ""
        return f"no answer{limit}"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection dropped mid-answer"
    causes = _causes(exc)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "host not found"
    if any(isinstance(c, TimeoutError) or "timed out" in type(c).__name__.lower() for c in causes):
        return "timed out"
    return "the connection dropped"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, its args that are exceptions (urllib3 nests them there), its
    `reason` and its cause/context chain."""
    found: list[BaseException] = []
    pending = [exc]
    while pending and len(found) < 20:
        current = pending.pop()
        if current is None or any(current is f for f in found):
            continue
        found.append(current)
        pending.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        for attr in ("reason", "__cause__", "__context__"):
            value = getattr(current, attr, None)
            if isinstance(value, BaseException):
                pending.append(value)
    return found
