"""Logging set-up: plain or JSON lines, and a filter that scrubs anything shaped like a secret.

The scrubber is a last line of defence; code must still never pass a secret to a logger.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

SECRET_PATTERNS = re.compile(
    r"(xox[abposr]-[0-9A-Za-z-]+|xapp-[0-9A-Za-z-]+|gh[pousr]_[0-9A-Za-z]{20,}|github_pat_[0-9A-Za-z_]{20,}"
    r"|(?i:(?:token|authorization|password)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',]+)"
)


def scrub(text: str) -> str:
    return SECRET_PATTERNS.sub("[redacted]", text)


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "step_id", "repo"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(ScrubFilter())
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
