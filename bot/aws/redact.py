"""Keep a secret out of library debug logs while it travels through boto3 or slack_sdk.

botocore logs request bodies and slack_sdk logs JSON bodies at DEBUG; either would write a temporary
password to a log. `secret_kept_out_of_logs(secret)` rewrites any such record from those libraries
for the duration of one call. It is a guard, not a licence: our own code never logs a secret.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "slack_sdk", "slack_bolt")
REDACTED = "[redacted]"


class _SecretFilter(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop it rather than risk printing its args
            return False
        if self._secret in message:
            record.msg = message.replace(self._secret, REDACTED)
            record.args = None
        if record.exc_text and self._secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self._secret, REDACTED)
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
