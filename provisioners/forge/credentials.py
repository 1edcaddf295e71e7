"""GitHub credentials as plain values, which one a change set may use, and keeping them out of logs.

A credential is a token or a GitHub App installation (app id, private key, installation id); the
bot maps its settings to these types, so `provisioners` never imports `bot`. Choosing a
credential is a pure function of (repository owner, the change set's environments): a devel change
never resolves to the prod credential. A change set spanning several environments uses the
credential of its most privileged environment (the last one in the configured order), so a
devel+prod pull request is opened with the prod credential and a devel-only one never is.
Secrets are hidden from `repr`, and `redact_github_logs` masks them in PyGithub's debug logs
(which otherwise print installation-token responses verbatim).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from provisioners.errors import PermanentError


@dataclass(frozen=True)
class TokenCredential:
    """A personal access token or a fine-grained token."""

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("a GitHub token credential needs a non-empty token")
        register_secret(self.token)


@dataclass(frozen=True)
class AppCredential:
    """A GitHub App installation; installation tokens are fetched and cached until they expire."""

    app_id: int
    private_key: str = field(repr=False)
    installation_id: int

    def __post_init__(self) -> None:
        if not self.private_key:
            raise ValueError("a GitHub App credential needs its private key")
        register_secret(self.private_key)


Credential = TokenCredential | AppCredential


def make_credential(*, token: str | None = None, app_id: int | None = None, private_key: str | None = None,
                    installation_id: int | None = None) -> Credential:
    """Build a credential from plain values (what bot/config.py GitHubCredential holds, unwrapped)."""
    if token:
        return TokenCredential(token)
    if app_id is not None and private_key and installation_id is not None:
        return AppCredential(app_id=app_id, private_key=private_key, installation_id=installation_id)
    raise ValueError("a GitHub credential needs a token, or app_id + private_key + installation_id")


def credential_keys(repo: str, environment: str | None) -> list[str]:
    """Names tried in order for one environment: organisation-specific first, then generic, then default.
    YAML may use 'acme/prod'; environment variables cannot hold '/', so 'acme_prod' works too."""
    owner = repo.split("/", 1)[0].lower() if "/" in repo else ""
    names = [environment.lower()] if environment else []
    names.append("default")
    keys: list[str] = []
    for name in names:
        if owner:
            keys += [f"{owner}/{name}", f"{owner}_{name}"]
        keys.append(name)
    return keys


def choose_credential(credentials: Mapping[str, Credential], repo: str, environments: Sequence[str],
                      order: Sequence[str]) -> str:
    """The configured name of the credential for this repository and change set.

    `order` lists standard environments from least to most privileged; environments not in it
    (temporary ones) rank lowest. Raises PermanentError naming what to configure when none fits."""
    available = {k.lower(): k for k in credentials}
    rank = {env.lower(): i for i, env in enumerate(order)}
    env = max(environments, key=lambda e: rank.get(e.lower(), -1)) if environments else None
    for key in credential_keys(repo, env):
        if key in available:
            return available[key]
    wanted = env or "default"
    raise PermanentError(f"no GitHub credential for {repo} in environment {wanted!r}; set "
                         f"LAUNCHPAD_GITHUB_CREDENTIALS__{wanted.upper()}__TOKEN (or the App fields), "
                         "see docs/forge.md")


# --- keeping secrets out of logs -----------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_TOKEN_FIELD = re.compile(r"""(["']token["']\s*:\s*["'])[^"']+(["'])""")
_TOKEN_SHAPES = re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})\b")


def register_secret(secret: str) -> None:
    """Remember a secret so the log filter masks it wherever it appears."""
    if len(secret) >= 8:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: str) -> str:
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _TOKEN_FIELD.sub(r"\1***\2", text)
    return _TOKEN_SHAPES.sub("***", text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


def redact_github_logs() -> None:
    """Attach the masking filter to PyGithub's request logger (idempotent; filters do not propagate,
    so it goes on the exact logger PyGithub writes to)."""
    for name in ("github.Requester", "github.GithubIntegration", "github"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
