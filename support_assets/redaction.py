"""Keeps the API key out of every log record and error message the process produces.

The key travels in the URL (`?api_key=...`), and URLs end up in urllib3's DEBUG log,
in requests' ConnectionError messages and from there in dlt's trace, Dagster's event
log and compute logs. Two layers close that:

- `scrub(text)` masks `api_key=<value>` and every registered key value; the HTTP layer
  (sources/http_session.py) and the Dagster error layer (defs/errors.py) pass messages through it;
- `protect(key)` registers the key and installs a log-record factory that scrubs every
  record as it is created, whatever logger (urllib3, dlt, dagster, root) or handler
  (console, compute logs, Dagster's event log, pytest's caplog) it goes to.

`protect_configured_key()` registers the key where the project reads it from (the
environment variable, or `api_key` in dlt's secrets such as .dlt/secrets.toml), for a
process that never built the source, e.g. the failure sensor's.

Pure Python, no Dagster import; dlt only inside protect_configured_key.
"""

import logging
import re
import threading
import traceback
from typing import Any, Callable
from urllib.parse import quote, quote_plus

MASK = "***"
# A literal key shorter than this is only masked as a URL parameter: replacing a short
# string everywhere would mangle ordinary log text.
MIN_LITERAL_LENGTH = 6
# `api_key=value` in URLs and form data, and `'api_key': 'value'` in dict reprs.
_PARAMETER = re.compile(
    r"""(?P<name>api[_-]?key)(?P<sep>=|['"]?\s*:\s*['"]?)(?P<value>[^&\s'",;)}\]#]+)""",
    re.IGNORECASE,
)

_secrets: set[str] = set()
_lock = threading.Lock()
_installed_factory: Callable[..., logging.LogRecord] | None = None


def protect(secret: str) -> None:
    """Registers `secret` for masking (as is and URL-encoded) and makes sure every log
    record is scrubbed from now on. Idempotent; empty values are ignored."""
    if secret:
        with _lock:
            if len(secret) >= MIN_LITERAL_LENGTH:
                _secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})
    install_log_redaction()


def protect_configured_key(env_var: str = "SUPPORT_API_KEY") -> None:
    """Registers the API key from `env_var`, and from dlt's secrets (`api_key`), as the
    Dagster resource reads it, so that scrub() masks it even as a bare value."""
    import os

    import dlt

    for key in (os.environ.get(env_var), dlt.secrets.get("api_key")):
        if key:
            protect(str(key))


def scrub(text: str) -> str:
    """`text` with `api_key=...` values and every registered secret replaced by ***."""
    if not text:
        return text
    text = _PARAMETER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    # Longest first, so a key is not half-masked by an encoded form that is its prefix.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install_log_redaction() -> None:
    """Wraps logging's record factory (once per process) so that each record's message,
    exception text and stack are scrubbed before any handler sees them."""
    global _installed_factory
    with _lock:
        if _installed_factory is not None and logging.getLogRecordFactory() is _installed_factory:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return scrub_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed_factory = factory


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: let the handler report it as usual
        return record
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = scrub(text)
        if clean != text:
            # Formatters print exc_text when set; exc_info would re-render the raw exception.
            record.exc_text, record.exc_info = clean, None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record
