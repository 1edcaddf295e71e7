"""GitHub App installation tokens: minted for one repository and the permissions a call needs, reused until
five minutes before they expire, dropped when GitHub rejects one; and the App's own start-up checks.

A token is requested from `POST /app/installations/{id}/access_tokens` with a JWT signed by the App's
private key (PyGithub's AppAuth), narrowed to the repository the call concerns (`repositories`) and to
the permissions it needs (`permissions`, the table in docs/forge.md: reads get read, deliveries get
write, and a change set touching `.github/workflows/` also gets Workflows write), so a token never
carries more than its step needs, whatever the installation grants. A cached token whose repository
and permissions cover a call is reused. GitHub's refusals become one-line `PermanentError`s naming the
credential, the app id and the installation id (wrong installation id, a key GitHub does not accept,
a repository the installation does not include, a permission it was not granted). This module never
decides what to write, and every token it sees is registered with the log filter before use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from github import Auth, GithubException, GithubIntegration

from provisioners.errors import PermanentError
from provisioners.forge.credentials import (
    AppCredential,
    credential_variable,
    describe,
    load_private_key,
    register_secret,
)
from provisioners.forge.retry import Clock, Retrier, is_rate_limited

log = logging.getLogger(__name__)

REFRESH_MARGIN = 300.0  # seconds before expiry a cached token is replaced
READ = {"contents": "read", "metadata": "read", "pull_requests": "read"}
WRITE = {"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"}
WORKFLOWS = {"workflows": "write"}
_LEVELS = {"read": 1, "write": 2, "admin": 3}


def permissions(*, write: bool, workflows: bool = False) -> dict[str, str]:
    """What a call needs (docs/forge.md): reads, or a delivery; Workflows write when it touches workflow files."""
    wanted = dict(WRITE if write else READ)
    if workflows:
        wanted.update(WORKFLOWS)
    return wanted


def touches_workflows(paths: Iterable[str]) -> bool:
    """GitHub refuses to create, change or delete `.github/workflows/*` without the Workflows permission."""
    return any(p.startswith(".github/workflows/") for p in paths)


@dataclass(frozen=True)
class Access:
    """What one call needs: a repository ('owner/name'; None: any the installation has) and permissions."""

    repo: str | None
    permissions: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, repo: str | None, wanted: Mapping[str, str]) -> Access:
        return cls(repo.lower() if repo else None, tuple(sorted(wanted.items())))


@dataclass(frozen=True)
class Grant:
    token: str = field(repr=False)
    expires_at: float
    access: Access

    def covers(self, access: Access) -> bool:
        if self.access.repo is not None and self.access.repo != access.repo:
            return False
        granted = dict(self.access.permissions)
        return all(_LEVELS.get(granted.get(name, ""), 0) >= _LEVELS[level] for name, level in access.permissions)


class InstallationTokens:
    """The installation tokens of one App credential (one per GitHubForge); thread-safe."""

    def __init__(self, credential: AppCredential, *, name: str, api_url: str, timeout: int, user_agent: str,
                 retrier: Retrier, clock: Clock) -> None:
        self.credential, self.name = credential, name
        self._api_url, self._timeout, self._user_agent = api_url, timeout, user_agent
        self._retrier, self._clock = retrier, clock
        self._grants: list[Grant] = []
        self._lock = threading.Lock()
        self._sent = threading.local()
        self._integration: GithubIntegration | None = None
        self._key: Any = None
        self._app_lock = threading.Lock()

    def auth(self, access: Access) -> Auth.Auth:
        """A PyGithub auth that puts a current token for `access` on every request it signs."""
        return _InstallationAuth(self, access)

    def token(self, access: Access) -> str:
        """A cached token covering `access`, or a new one narrowed to it."""
        with self._lock:
            now = self._clock()
            self._grants = [g for g in self._grants if g.expires_at - REFRESH_MARGIN > now]
            grant = next((g for g in self._grants if g.covers(access)), None)
            if grant is None:
                grant = self._mint(access)
                self._grants.append(grant)
            return grant.token

    def sent(self, token: str) -> None:
        self._sent.token = token

    def reject_last(self) -> bool:
        """GitHub answered 401 to the last request this thread signed: drop that token so the next request
        mints a new one. False when this thread signed nothing with an installation token."""
        token = getattr(self._sent, "token", None)
        if token is None:
            return False
        with self._lock:
            self._grants = [g for g in self._grants if g.token != token]
        self._sent.token = None
        log.info("GitHub rejected an installation token of %s (401); minting a new one", self._who)
        return True

    # --- checks -------------------------------------------------------------------------------------

    def check(self, repos: Sequence[str]) -> list[str]:
        """Problems found by asking GitHub (the key parses; the app, the installation and each repository
        are reachable), one line each. Transient failures raise TransientError."""
        try:
            installation = self._call(lambda i: i.requester.requestJsonAndCheck(
                "GET", f"/app/installations/{self.credential.installation_id}")[1], "look up the App installation")
        except PermanentError as err:
            return [str(err)]
        problems = []
        if isinstance(installation, dict) and installation.get("suspended_at"):
            problems.append(f"{self._who}: the installation is suspended; an organisation owner can unsuspend it "
                            "in the organisation's GitHub App settings")
        account = str(((installation or {}).get("account") or {}).get("login") or "") \
            if isinstance(installation, dict) else ""
        for repo in repos:
            owner = repo.split("/", 1)[0]
            if account and owner.lower() != account.lower():
                problems.append(f"{self._who} is installed on {account!r}, not on {owner!r}: it cannot reach {repo}; "
                                f"one App installation covers one organisation, so give {owner!r} its own credential "
                                f"(e.g. {credential_variable(f'{owner}_{self.name}', 'INSTALLATION_ID')})")
                continue
            try:
                self.token(Access.of(repo, WRITE))
            except PermanentError as err:
                problems.append(str(err))
        return problems

    # --- minting ------------------------------------------------------------------------------------

    @property
    def _who(self) -> str:
        return describe(self.name, self.credential)

    def _mint(self, access: Access) -> Grant:
        body: dict[str, Any] = {"permissions": dict(access.permissions)}
        if access.repo is not None:
            body["repositories"] = [access.repo.split("/", 1)[1]]
        path = f"/app/installations/{self.credential.installation_id}/access_tokens"
        _, data = self._call(lambda i: i.requester.requestJsonAndCheck(
            "POST", path, input=body, headers={"Accept": "application/vnd.github+json"}),
            "get an installation token", access)
        token = str(data.get("token") or "") if isinstance(data, dict) else ""
        if not token:
            raise PermanentError(f"{self._who}: GitHub answered the installation-token request without a token")
        register_secret(token)
        granted = [str(r.get("full_name") or "") for r in data.get("repositories") or [] if isinstance(r, dict)]
        if access.repo is not None and granted and access.repo not in {g.lower() for g in granted}:
            # `repositories` names are resolved in the installation's own account: 'infra' of another
            # organisation came back as this organisation's 'infra'
            account = granted[0].split("/", 1)[0]
            raise PermanentError(f"{self._who} cannot access repository {access.repo}: the installation is on "
                                 f"{account!r}; one App installation covers one organisation, so give "
                                 f"{access.repo.split('/', 1)[0]!r} a credential of its own (docs/forge.md)")
        expires = _timestamp(data.get("expires_at")) or self._clock() + 3600
        return Grant(token=token, expires_at=expires, access=access)

    def _call(self, fn: Callable[[GithubIntegration], Any], what: str, access: Access | None = None) -> Any:
        """One App-authenticated call under the retrier; GitHub's refusals re-worded (one line, permanent)."""
        integration = self._app()

        def attempt() -> Any:
            try:
                return fn(integration)
            except GithubException as err:
                if err.status >= 500 or is_rate_limited(err):
                    raise
                raise PermanentError(self._refusal(err, access)) from None

        return self._retrier.run(attempt, what=f"{what} for {self._who}")

    def _app(self) -> GithubIntegration:
        with self._app_lock:
            if self._integration is None:
                # parsed (and checked) once, with a clear line instead of PyJWT's; JWTs are signed with the
                # parsed key, not by re-reading the PEM for each one
                self._key = load_private_key(self.name, self.credential)
                self._integration = GithubIntegration(
                    auth=Auth.AppAuth(self.credential.app_id, sign_func=self._sign), base_url=self._api_url,
                    timeout=self._timeout, retry=None, seconds_between_requests=None, seconds_between_writes=None,
                    user_agent=self._user_agent)
            return self._integration

    def _sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self._key, algorithm="RS256")

    def _refusal(self, err: GithubException, access: Access | None) -> str:
        message = _message(err)
        app, installation = self.credential.app_id, self.credential.installation_id
        if err.status == 401:
            return (f"GitHub rejected the JWT of {self._who} (401 {message or 'Bad credentials'}): the private key "
                    f"does not belong to App {app}, or {credential_variable(self.name, 'APP_ID')} is wrong, or this "
                    "machine's clock is more than a minute off")
        if err.status == 404:
            return (f"GitHub App {app} has no installation {installation} (credential {self.name!r}): set "
                    f"{credential_variable(self.name, 'INSTALLATION_ID')} to the number at the end of the "
                    "installation's settings URL (…/settings/installations/<id>)")
        if err.status == 403:
            return (f"{self._who} may not get an installation token (403 {message}); the installation may be "
                    "suspended")
        repo = access.repo if access is not None else None
        if err.status == 422 and repo and "repositor" in message.lower():
            return (f"{self._who} cannot access repository {repo} (422 {message}): add it to the installation's "
                    "repositories, or fix platform.repositories; one App installation covers one organisation")
        if err.status == 422 and "permission" in message.lower():
            wanted = ", ".join(f"{k}: {v}" for k, v in (access.permissions if access else ()))
            return (f"{self._who} was not granted the permissions LaunchPad asks for ({wanted}) (422 {message}): "
                    "grant them in the App's settings (docs/forge.md lists them) and have the organisation "
                    "accept them")
        return f"GitHub refused an installation token for {self._who} ({err.status} {message})"


class _InstallationAuth(Auth.Auth):
    """Signs each request with a current token for one Access (minted on first use or after a 401)."""

    def __init__(self, tokens: InstallationTokens, access: Access) -> None:
        self._tokens, self._access = tokens, access

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._tokens.token(self._access)

    def authentication(self, headers: dict[str, Any]) -> None:
        token = self.token
        self._tokens.sent(token)
        headers["Authorization"] = f"token {token}"


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _message(err: GithubException) -> str:
    data = err.data
    text = data.get("message", "") if isinstance(data, dict) else ""
    return " ".join(str(text).split())[:200]
