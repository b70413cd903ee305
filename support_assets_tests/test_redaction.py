"""Masking the key in text and in every log record, whatever logger or handler."""

import io
import logging
from urllib.parse import quote, quote_plus

import pytest

from support_assets.redaction import protect, scrub


@pytest.mark.parametrize(
    "text, expected",
    [
        ("GET /v1/resource?offset=0&limit=100&api_key=abc123 HTTP/1.1", "GET /v1/resource?offset=0&limit=100&api_key=*** HTTP/1.1"),
        ("url: /v1/resource?api_key=abc%2Fdef&offset=100", "url: /v1/resource?api_key=***&offset=100"),
        ("params={'api_key': 'abc123', 'limit': 100}", "params={'api_key': '***', 'limit': 100}"),
        ('{"API_KEY": "abc123"}', '{"API_KEY": "***"}'),
        ("nothing to hide", "nothing to hide"),
        ("", ""),
    ],
)
def test_scrub_masks_the_api_key_parameter(text, expected):
    assert scrub(text) == expected


def test_scrub_masks_a_protected_key_anywhere_and_url_encoded(api_key):
    key = api_key + "/+ x"
    protect(key)
    text = f"token {key}, path {quote(key, safe='')} and query {quote_plus(key)}"

    clean = scrub(text)

    assert api_key not in clean
    assert clean.count("***") == 3


def test_short_keys_are_only_masked_as_a_url_parameter():
    protect("ab")
    assert scrub("tab table ?api_key=ab") == "tab table ?api_key=***"


def test_every_log_record_is_scrubbed_before_any_handler_sees_it(api_key):
    protect(api_key)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("urllib3.connectionpool.test_redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug('%s://%s:%s "%s %s %s"', "http", "127.0.0.1", 80, "GET", f"/v1/resource?api_key={api_key}", "HTTP/1.1")
        logger.info(f"key is {api_key}")
        try:
            raise ConnectionError(f"Max retries exceeded with url: /v1/resource?api_key={api_key}")
        except ConnectionError:
            logger.exception("request failed")
        logger.warning("stack", stack_info=True, extra={"note": "no key here"})
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert api_key not in output
    assert 'GET /v1/resource?api_key=*** HTTP/1.1' in output
    assert "key is ***" in output
    assert "ConnectionError: Max retries exceeded with url: /v1/resource?api_key=***" in output
    assert "Traceback" in output  # the traceback is kept, masked
