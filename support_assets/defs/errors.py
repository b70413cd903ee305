"""What a failed sync tells Dagster: retry it (and when), or fail at once with the cause.

dlt wraps the real error twice (PipelineStepFailed -> ResourceExtractionError -> the
cause); this module unwraps it to the root cause and decides:

- transient (429/5xx after the HTTP retries ran out, connection failures, timeouts,
  dlt's transient destination errors): `RetryRequested` with the exact wait of
  RetryRules (2, 4, 8 s; a longer Retry-After is honoured, capped), and on the last
  attempt a `Failure` that says the sync gave up;
- everything else (the key rejected, other 4xx, malformed or bad data, unexpected
  errors): `Failure(allow_retries=False)` with the root cause's own message, since no
  retry can fix it.

Messages are scrubbed of the key, and the raised error does not chain dlt's, whose
text we do not control.
"""

import json
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator, Optional

import dagster as dg
import requests
from dlt.common.destination.exceptions import DestinationTransientException
from dlt.common.exceptions import DltException
from dlt.pipeline.exceptions import PipelineStepFailed

from ..sources.settings import RETRY, RetryRules
from ..sources.http_session import ApiError
from ..redaction import scrub

AUTH_HINT = "check SUPPORT_API_KEY (or api_key in .dlt/secrets.toml)"
NOT_FOUND_HINT = "check SUPPORT_API_BASE_URL and the resource paths in the config file (SUPPORT_API_CONFIG)"


class SyncError(Exception):
    """The cause of a failed sync attempt, as shown in the event log: a clean message and
    no chained exceptions."""


@dataclass(frozen=True)
class Problem:
    message: str
    transient: bool
    retry_after: Optional[float] = None


@contextmanager
def sync_errors(
    context: dg.AssetExecutionContext, rules: RetryRules = RETRY, resource: Optional[str] = None
) -> Iterator[None]:
    """Turns an exception of the sync into a Dagster retry or an immediate failure; the message
    starts with `resource`, the name of the resource the step syncs."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested, dg.DagsterError):
        raise
    except Exception as exc:  # noqa: BLE001 - every other error is classified below
        problem = classify(exc)
        if resource:  # first, and once: "customers: BadApiResponse: ..."
            message = problem.message.replace(f" for {resource}: ", ": ", 1)
            problem = replace(problem, message=f"{resource}: {message}")
    else:
        return
    error = for_dagster(problem, context.retry_number, rules)
    # Chains only our clean SyncError (or nothing), never dlt's exceptions.
    raise error from error.__cause__


def for_dagster(problem: Problem, retry_number: int, rules: RetryRules = RETRY) -> Exception:
    """The exception to raise on attempt `retry_number + 1` of the sync."""
    if not problem.transient:
        return dg.Failure(problem.message, allow_retries=False)
    if retry_number >= rules.max_retries:
        attempts = rules.max_retries + 1
        return dg.Failure(
            f"{problem.message}; the sync failed {attempts} times in a row", allow_retries=False
        )
    wait = rules.wait(retry_number + 1)
    if problem.retry_after is not None:
        wait = max(wait, min(problem.retry_after, rules.max_wait))
    retry = dg.RetryRequested(max_retries=rules.max_retries, seconds_to_wait=wait)
    retry.__cause__ = SyncError(problem.message)  # shown as the cause of STEP_UP_FOR_RETRY
    return retry


def classify(exc: BaseException) -> Problem:
    root, endpoint = root_cause(exc)
    where = f" for {endpoint}" if endpoint else ""
    if isinstance(root, ApiError):
        message = str(root)
        if root.status in (401, 403):
            message = f"{message}: {AUTH_HINT}"
        elif root.status == 404:
            message = f"{message}: {NOT_FOUND_HINT}"
        return Problem(scrub(message), root.transient, root.retry_after)
    if isinstance(root, (json.JSONDecodeError, requests.exceptions.JSONDecodeError)):
        # Its `doc` is the body (customer data): only the position goes into the message.
        return Problem(
            f"the API sent a response that is not valid JSON{where}"
            f" ({root.msg}: line {root.lineno} column {root.colno})",
            transient=False,
        )
    transient = isinstance(
        root,
        (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
         DestinationTransientException),
    )
    text = scrub(str(root)) or "no message"
    return Problem(f"{type(root).__name__}{where}: {text}", transient)


def root_cause(exc: BaseException) -> tuple[BaseException, Optional[str]]:
    """The first exception below dlt's wrappers, and the dlt resource (endpoint) it
    came from, if dlt said so."""
    endpoint: Optional[str] = None
    seen: list[BaseException] = []
    while not any(exc is s for s in seen):
        seen.append(exc)
        endpoint = getattr(exc, "pipe_name", None) or endpoint
        if isinstance(exc, PipelineStepFailed):
            inner = exc.exception
        elif isinstance(exc, DltException) and not isinstance(exc, ApiError):
            inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        else:
            inner = None
        if inner is None:
            break
        exc = inner
    return exc, endpoint
