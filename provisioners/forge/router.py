"""Which forge delivers a change set: by repository and the change set's environments.

The workflow asks `forge_for(repo, environments)` and never sees a credential. For GitHub, the
`ForgeRouter` keeps one `GitHubForge` (one client, one installation-token cache, one write pacer)
per configured credential, and picks the credential with `credentials.choose_credential`: a devel
change set only ever gets the devel forge. For the embedded default, `StaticForgeRouter` hands out
the one `LocalForge`. It holds no request state and never decides what to write.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from provisioners.forge.base import Forge
from provisioners.forge.credentials import Credential, choose_credential
from provisioners.forge.github import API_MODES, DEFAULT_API_URL, GitHubForge, Quota
from provisioners.forge.retry import Clock, RetryPolicy, Sleep, WritePacer

DEFAULT_ENVIRONMENT_ORDER = ("devel", "alpha", "prod")


class ForgeRoutes(Protocol):
    """What the workflow depends on: the forge for one repository and change set."""

    def forge_for(self, repo: str, environments: Sequence[str] = ()) -> Forge: ...


class StaticForgeRouter:
    """Every repository and environment goes to the same forge (the local forge, or one GitHub token)."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge

    def forge_for(self, repo: str, environments: Sequence[str] = ()) -> Forge:
        return self.forge


class ForgeRouter:
    """One GitHubForge per credential; `environment_order` ranks environments least to most privileged;
    `api` is how every forge talks to GitHub ('graphql' or 'rest'; Settings.github_api_mode, default graphql)."""

    def __init__(self, credentials: Mapping[str, Credential], *, api_url: str = DEFAULT_API_URL,
                 environment_order: Sequence[str] = DEFAULT_ENVIRONMENT_ORDER, policy: RetryPolicy | None = None,
                 writes_per_minute: int = 60, writes_per_hour: int = 450, timeout: float = 15.0,
                 sleep: Sleep = time.sleep, clock: Clock = time.time, rng: random.Random | None = None,
                 api: str = "rest") -> None:
        if not credentials:
            raise ValueError("ForgeRouter needs at least one GitHub credential")
        if api not in API_MODES:
            raise ValueError(f"GitHub api mode must be one of {', '.join(API_MODES)}, not {api!r}")
        self.api = api
        self._credentials = dict(credentials)
        self._order = list(environment_order)
        self._api_url = api_url
        self._policy = policy or RetryPolicy()
        self._writes = (writes_per_minute, writes_per_hour)
        self._timeout = timeout
        self._sleep, self._clock, self._rng = sleep, clock, rng
        self._forges: dict[str, GitHubForge] = {}
        self._lock = threading.Lock()

    def credential_for(self, repo: str, environments: Sequence[str] = ()) -> str:
        """The configured credential name this change set would use (for logs and the audit trail)."""
        return choose_credential(self._credentials, repo, environments, self._order)

    def forge_for(self, repo: str, environments: Sequence[str] = ()) -> GitHubForge:
        name = self.credential_for(repo, environments)
        with self._lock:
            forge = self._forges.get(name)
            if forge is None:
                pacer = WritePacer(*self._writes, clock=self._clock, sleep=self._sleep)
                forge = GitHubForge(self._credentials[name], api_url=self._api_url, name=name, policy=self._policy,
                                    pacer=pacer, timeout=self._timeout, sleep=self._sleep, clock=self._clock,
                                    rng=self._rng, api=self.api)
                self._forges[name] = forge
            return forge

    def write_waits(self) -> dict[str, float]:
        """Seconds each credential's write pacer has made writes wait so far (for metrics and benchmarks)."""
        with self._lock:
            return {name: forge.pacer.waited for name, forge in self._forges.items()}

    def quotas(self) -> dict[str, Quota]:
        """Remaining primary rate limit per credential used so far (no API call; for metrics)."""
        with self._lock:
            return {name: forge.quota() for name, forge in self._forges.items()}

    def __repr__(self) -> str:
        return f"ForgeRouter(credentials={sorted(self._credentials)}, api_url={self._api_url!r}, api={self.api!r})"
