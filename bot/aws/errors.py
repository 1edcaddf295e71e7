"""Errors the AWS operations raise: each message says what happened and what to do next.

Messages are shown to Slack users and printed by the CLI, so they must never contain a secret
(a temporary password, a credential) — only names, ARNs and the permission that was missing.
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from provisioners.errors import PermanentError, TransientError

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                                 "UnauthorizedAccess", "AuthorizationError"})
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                              "PriorRequestNotComplete", "LimitExceeded", "ServiceUnavailable"})


class AwsError(PermanentError):
    """An AWS operation could not be done as asked; the message says why and who can fix it."""


class NoIdentityMapping(AwsError):
    """The Slack user's email maps to no IAM user (neither by tag nor by the configured map)."""


class NoSuchIamUser(AwsError):
    """The IAM user named (or mapped to) does not exist."""


class AwsAccessDenied(AwsError):
    """The bot's role lacks a permission; the message names the action."""


class PolicyUnreadable(AwsError):
    """The account password policy could not be read, so no compliant password can be generated."""


class ResetNotAllowed(AwsError):
    """Only SRE may reset someone else's console password."""


class ResetRateLimited(AwsError):
    """Too many resets of one user's password within an hour."""

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at

    @classmethod
    def over(cls, user: str, resets: int, per_hour: int, retry_at: datetime) -> ResetRateLimited:
        """The refusal every limiter gives (in memory or in the database), worded once."""
        return cls(f"{user}'s console password was reset {resets} times in the last hour (limit {per_hour}); "
                   f"try again after {retry_at:%H:%M} UTC or ask an SRE", retry_at)


class InvalidDomain(AwsError):
    """The text given to `lookup` is not a hostname."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_access_denied(exc: ClientError) -> bool:
    return error_code(exc) in ACCESS_DENIED_CODES


def translate(exc: ClientError, action: str, resource: str = "") -> AwsError | TransientError:
    """Map a botocore ClientError to our error kinds; `action` is the IAM action name, e.g. iam:GetUser."""
    code = error_code(exc)
    on = f" on {resource}" if resource else ""
    if code in ACCESS_DENIED_CODES:
        return AwsAccessDenied(f"the bot's AWS role may not {action}{on}; an SRE must grant it "
                               "(see the policy in docs/aws.md)")
    if code in THROTTLING_CODES:
        return TransientError(f"AWS is throttling {action}; try again in a minute")
    message = str(exc.response.get("Error", {}).get("Message", "")) or code
    return AwsError(f"AWS refused {action}{on}: {message}")
