"""Which forge delivers a change set: by repository and the change set's environments.

The workflow asks `forge_for(repo, environments)` and never sees a credential. For GitHub, the
`ForgeRouter` keeps one `GitHubForge` (one client, one installation-token cache, one write pacer)
per configured credential, and picks the credential with `credentials.choose_credential`: a devel
change set only ever gets the devel forge, and a temporary environment's the credential of its base
environment unless one is configured for it. `check` asks GitHub whether every credential works for the
repositories it will be used for (`launchpad config --check`, start-up). For the embedded default,
`StaticForgeRouter` hands out the one `LocalForge`. It holds no request state and never decides what to write.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from provisioners.errors import PermanentError, TransientError
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


@dataclass
class CredentialCheck:
    """What `ForgeRouter.check` found: `problems` (permanent, one line each) and `unverified` (GitHub did not
    answer; say so, but do not refuse to start over it)."""

    problems: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    checked: dict[str, list[str]] = field(default_factory=dict)  # credential name -> repositories it covers


class ForgeRouter:
    """One GitHubForge per credential; `environment_order` ranks environments least to most privileged
    (platform.environment_order); a temporary environment uses `temporary_base`'s credential unless one is
    configured for it (platform.temporary_environment_base); `api` is how every forge talks to GitHub
    ('graphql' or 'rest'; Settings.github_api_mode, default graphql)."""

    def __init__(self, credentials: Mapping[str, Credential], *, api_url: str = DEFAULT_API_URL,
                 environment_order: Sequence[str] = DEFAULT_ENVIRONMENT_ORDER, temporary_base: str | None = None,
                 policy: RetryPolicy | None = None,
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
        self._temporary_base = temporary_base
        self._api_url = api_url
        self._policy = policy or RetryPolicy()
        self._writes = (writes_per_minute, writes_per_hour)
        self._timeout = timeout
        self._sleep, self._clock, self._rng = sleep, clock, rng
        self._forges: dict[str, GitHubForge] = {}
        self._lock = threading.Lock()

    def credential_for(self, repo: str, environments: Sequence[str] = ()) -> str:
        """The configured credential name this change set would use (for logs and the audit trail)."""
        return choose_credential(self._credentials, repo, environments, self._order, self._temporary_base)

    def forge_for(self, repo: str, environments: Sequence[str] = ()) -> GitHubForge:
        return self._forge(self.credential_for(repo, environments))

    def check(self, repositories: Sequence[str]) -> CredentialCheck:
        """Ask GitHub whether each credential works: the token is accepted, or the App's key, app and
        installation are; and each repository it will be used for (by environment_order, and 'default'
        for change sets without one) is reachable with it. One line per problem, naming the credential."""
        result = CredentialCheck(checked={name: [] for name in self._credentials})
        for repo in repositories:
            for environments in [[env] for env in self._order] + [[]]:
                try:
                    name = self.credential_for(repo, environments)
                except PermanentError as err:
                    result.problems.append(str(err))
                    continue
                if repo not in result.checked[name]:
                    result.checked[name].append(repo)
        for name, repos in result.checked.items():
            try:
                result.problems += self._forge(name).check(repos)
            except TransientError as err:
                result.unverified.append(f"credential {name!r} could not be checked: {err}")
        result.problems = list(dict.fromkeys(result.problems))
        return result

    def _forge(self, name: str) -> GitHubForge:
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
