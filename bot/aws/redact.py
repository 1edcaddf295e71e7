"""Keep a secret out of library debug logs while it travels through boto3 or slack_sdk.

botocore logs request bodies and slack_sdk logs JSON bodies at DEBUG; either would write a temporary
password to a log (raw, or URL-encoded in a query body). `secret_kept_out_of_logs(secret)` rewrites any
such record from those libraries for the duration of one call. It is a guard, not a licence: our own
code never logs a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "slack_sdk", "slack_bolt")
REDACTED = "[redacted]"


def secret_forms(secret: str) -> list[str]:
    """The secret as libraries may print it: raw, form/URL-encoded (botocore's query bodies), JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote(secret, safe="-_.~"), quote_plus(secret),
             quote_plus(secret, safe="-_.~"), json.dumps(secret)[1:-1]}
    return sorted((f for f in forms if f), key=len, reverse=True)


class _SecretFilter(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self._forms = secret_forms(secret)

    def _scrub(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop it rather than risk printing its args
            return False
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True


def _library_loggers() -> list[logging.Logger]:
    names = [n for n in list(logging.Logger.manager.loggerDict)
             if n.split(".")[0] in LIBRARY_LOGGERS]
    return [logging.getLogger(n) for n in set(names) | set(LIBRARY_LOGGERS)]


@contextlib.contextmanager
def secret_kept_out_of_logs(secret: str) -> Iterator[None]:
    flt = _SecretFilter(secret)
    loggers = _library_loggers()
    for lg in loggers:
        lg.addFilter(flt)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(flt)
