"""Argo CD's API server, read with a read-only token: the Applications LaunchPad follows.

`ArgoCd` talks to one API server (one per environment, or one shared: `Settings.argocd`) and GETs
an Application or its resource tree, returning Argo CD's JSON as is; judging it (synced? healthy?
why not?) is the workflow's job (`bot.workflow.deploy`). `ArgoCdRouter` picks the server for an
environment, as the forge router picks a GitHub credential. Every request names the Application's
project, so a missing Application is a 404 rather than Argo CD's deliberate 403 (CVE-2022-41354).
Transient failures (5xx, timeouts, dropped connections, 429) are retried here with the forge's
policy (`provisioners.forge.retry`); a Retry-After longer than the policy's cap becomes a
`TransientError` carrying `retry_at`, so the step is retried then. 401/403 are permanent and name the
setting to fix. The token is sent only in the Authorization header and never appears in a message.
"""

from __future__ import annotations

import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from provisioners.errors import PermanentError, TransientError
from provisioners.forge.credentials import register_secret
from provisioners.forge.retry import RetryPolicy, backoff_delay

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class ArgoCd:
    """One Argo CD API server; `name` is the settings key (environment or 'default'), used in messages."""

    def __init__(self, name: str, url: str, token: str, *, ui_url: str = "", timeout: float = 10.0,
                 policy: RetryPolicy | None = None, ca_bundle: str = "", sleep: Sleep = time.sleep,
                 clock: Clock = time.time, rng: random.Random | None = None) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.ui_url = (ui_url or url).rstrip("/")
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.sleep, self.clock = sleep, clock
        self.rng = rng or random.Random()
        self.calls = 0
        register_secret(token)
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self._session.verify = ca_bundle or True

    def application(self, app: str, project: str) -> dict[str, Any] | None:
        """GET /api/v1/applications/{name}; None when Argo CD has no such Application (in that project)."""
        return self._get(f"/api/v1/applications/{_quote(app)}", {"project": project}, f"read Application {app}")

    def resource_tree(self, app: str, project: str) -> dict[str, Any]:
        """GET /api/v1/applications/{name}/resource-tree: the live objects and their health."""
        tree = self._get(f"/api/v1/applications/{_quote(app)}/resource-tree", {"project": project},
                         f"read the resource tree of {app}")
        return tree or {}

    def revision_date(self, app: str, project: str, revision: str, source: int) -> datetime | None:
        """GET /api/v1/applications/{name}/revisions/{revision}/metadata: the commit's date (None if unknown)."""
        meta = self._get(f"/api/v1/applications/{_quote(app)}/revisions/{_quote(revision)}/metadata",
                         {"project": project, "sourceIndex": str(source)}, f"read revision {revision[:7]} of {app}")
        date = (meta or {}).get("date")
        try:
            return datetime.fromisoformat(str(date).replace("Z", "+00:00")) if date else None
        except ValueError:
            return None

    def link(self, app: str, namespace: str) -> str:
        """The Application's page in the Argo CD UI."""
        return f"{self.ui_url}/applications/{_quote(namespace)}/{_quote(app)}"

    def close(self) -> None:
        self._session.close()

    # --- one GET, retried -----------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, str], what: str) -> dict[str, Any] | None:
        failures = limited = 0
        while True:
            self.calls += 1
            try:
                response = self._session.get(self.url + path, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failures += 1
                self._backoff(failures, what, "timed out" if isinstance(exc, requests.Timeout) else
                              "connection failed")
                continue
            status = response.status_code
            if status == 200:
                return _json(response, what, self.name)
            if status == 404:
                return None
            message = _error_message(response)
            if status == 429:
                limited += 1
                self._wait(response, what, limited)
                continue
            if status >= 500:
                failures += 1
                self._backoff(failures, what, f"HTTP {status}{f' ({message})' if message else ''}")
                continue
            if status == 401:
                raise PermanentError(f"Argo CD ({self.name}) rejected LaunchPad's token while trying to {what} "
                                     f"(401 {message or 'Unauthenticated'}); renew it and set "
                                     f"LAUNCHPAD_ARGOCD__{self.name.upper()}__TOKEN (docs/argocd.md)")
            if status == 403:
                raise PermanentError(f"LaunchPad's Argo CD account ({self.name}) may not {what} (403 "
                                     f"{message or 'permission denied'}); grant it `applications, get` on the "
                                     "team projects (docs/argocd.md, 'Following deployments')")
            raise PermanentError(f"Argo CD ({self.name}) answered {status} while trying to {what}: "
                                 f"{message or 'no message'}")

    def _backoff(self, failures: int, what: str, reason: str) -> None:
        if failures > self.policy.max_retries:
            raise TransientError(f"Argo CD ({self.name}) failed {failures} times while trying to {what} (last: "
                                 f"{reason}); LaunchPad will try again later")
        delay = backoff_delay(self.policy, failures, self.rng)
        log.info("Argo CD (%s) %s while trying to %s; retry %d/%d in %.1fs", self.name, reason, what, failures,
                 self.policy.max_retries, delay)
        self.sleep(delay)

    def _wait(self, response: requests.Response, what: str, limited: int) -> None:
        try:
            wait = float(response.headers.get("Retry-After", ""))
        except ValueError:
            wait = self.policy.backoff_base * 2 ** (limited - 1)
        if wait > self.policy.wait_cap or limited > self.policy.max_retries:
            retry_at = datetime.fromtimestamp(self.clock() + wait, UTC)
            raise TransientError(f"Argo CD ({self.name}) is rate limiting LaunchPad (while trying to {what}); "
                                 f"LaunchPad will try again after {retry_at:%H:%M:%S} UTC", retry_at=retry_at)
        log.info("Argo CD (%s) rate limit; waiting %.0fs", self.name, wait)
        self.sleep(max(wait, 0.0))


class ArgoCdRouter:
    """The Argo CD server of each environment: its own key, else (temporary environments) the key of
    `temporary_base`, else 'default'. It holds no state besides the clients."""

    def __init__(self, clients: Mapping[str, ArgoCd], *, namespace: str = "argocd",
                 temporary_base: str = "devel") -> None:
        self.clients = {k.lower(): v for k, v in clients.items()}
        self.namespace = namespace
        self.temporary_base = temporary_base

    def client(self, env: str) -> ArgoCd | None:
        for key in (env.lower(), self.temporary_base.lower() if env.startswith("tmp-") else None, "default"):
            if key is not None and key in self.clients:
                return self.clients[key]
        return None

    def configured(self, env: str) -> bool:
        return self.client(env) is not None

    def application(self, env: str, app: str, project: str) -> dict[str, Any] | None:
        return self._client(env).application(app, project)

    def resource_tree(self, env: str, app: str, project: str) -> dict[str, Any]:
        return self._client(env).resource_tree(app, project)

    def link(self, env: str, app: str) -> str:
        return self._client(env).link(app, self.namespace)

    def revision_date(self, env: str, app: str, project: str, revision: str, source: int) -> datetime | None:
        return self._client(env).revision_date(app, project, revision, source)

    def calls(self) -> int:
        return sum(c.calls for c in self.clients.values())

    def _client(self, env: str) -> ArgoCd:
        client = self.client(env)
        if client is None:
            raise PermanentError(f"no Argo CD is configured for {env}; set LAUNCHPAD_ARGOCD__{env.upper()}__URL "
                                 "and __TOKEN (or __DEFAULT__), see docs/argocd.md")
        return client


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _json(response: requests.Response, what: str, name: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise TransientError(f"Argo CD ({name}) sent something that is not JSON while LaunchPad tried to {what}; "
                             "a proxy in front of it may be failing") from None
    if not isinstance(data, dict):
        raise PermanentError(f"Argo CD ({name}) sent an unexpected answer while LaunchPad tried to {what}")
    return data


def _error_message(response: requests.Response) -> str:
    """Argo CD's own error text (runtimeError.message), never anything LaunchPad sent."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or "")[:300]
    return ""
