"""Error kinds every provisioner and forge raises, so the workflow can decide: retry, or fail and ask.

`TransientError` means "the same call may succeed later" (5xx, rate limit, timeout); it carries the
earliest time to try again when the remote side said so. `PermanentError` means "a human must change
something first"; its message says what.
"""

from __future__ import annotations

from datetime import datetime


class LaunchPadError(Exception):
    """Base for errors whose message is safe to show a user (never contains a secret)."""


class PermanentError(LaunchPadError):
    """Retrying without a change will fail the same way."""


class TransientError(LaunchPadError):
    """Retrying later may succeed; `retry_at` is the earliest useful moment when known."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class ConflictError(PermanentError):
    """Someone else changed paths this change set writes; we refuse to clobber them silently."""

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class InvalidSpecError(PermanentError):
    """A spec failed validation; `errors` maps field path -> human message (for inline modal errors)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        lines = [f"{field}: {msg}" for field, msg in errors.items()]
        super().__init__("invalid service spec:\n  " + "\n  ".join(lines))

    def one_line(self) -> str:
        """Every problem on one line, for a terminal: 'name: ...; team: ...'."""
        return "; ".join(f"{field}: {msg}" for field, msg in self.errors.items())
