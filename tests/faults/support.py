"""A request running end to end on GitHub: the real workflow (SQLite or PostgreSQL), the real GitHub forge
through the `ForgeRouter` over HTTP to the local GitHub server, and people played by the test.

`GitHubWorld.drive` runs worker passes the way the scheduler does; between passes it plays the people
(an SRE approves gates, a reviewer merges open LaunchPad PRs on the server, without API calls) and moves
the workflow's ManualClock past backoffs and merge polls when nothing was runnable. The forge's own
retries use a fast policy (milliseconds, not seconds); faults are injected on the server. The checks
say what "nothing lost, nothing duplicated" means: one PR, one branch and one LaunchPad commit per
repository and key, and every step succeeded exactly once.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services import Services, build_services
from bot.workflow.api import Actor, Notifier, RequestInfo, State
from bot.workflow.bindings import PlaceholderBindings
from bot.workflow.clock import ManualClock
from provisioners.forge.credentials import TokenCredential
from provisioners.forge.retry import RetryPolicy
from provisioners.forge.router import ForgeRouter
from provisioners.platform import PlatformConfig
from tests.support.github_server import GitHubServer
from tests.workflow.support import SRE

TOKENS = {"devel": "ghp_faultsDevelToken00000000000000000", "alpha": "ghp_faultsAlphaToken00000000000000000",
          "prod": "ghp_faultsProdToken000000000000000000"}
REPOS = ("platform/infra-live", "platform/k8s-values", "platform/gitops", "search/ranking-web")
FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, wait_cap=5.0, secondary_min_wait=0.05)


def web_spec(envs: list[str] | None = None, name: str = "ranking-web") -> dict[str, Any]:
    """The three-environment web service of examples/ranking-web.yaml (devel, alpha, prod by default)."""
    return {"name": name, "team": "search", "blueprint": "web-service", "description": "fault tests",
            "image": f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/{name}:1.4.2", "port": 8080,
            "domain": "ranking.example.com", "owner": "U0ALICE",
            "environments": [{"name": e} for e in (envs or ["devel", "alpha", "prod"])]}


def router(server: GitHubServer | str, *, timeout: float = 2.0, policy: RetryPolicy = FAST) -> ForgeRouter:
    """One forge per environment token, fast retries, no pacing; `server` or its API URL (worker processes)."""
    api_url = server if isinstance(server, str) else server.api_url
    return ForgeRouter({env: TokenCredential(token) for env, token in TOKENS.items()}, api_url=api_url,
                       policy=policy, writes_per_minute=60_000, writes_per_hour=600_000, timeout=timeout,
                       rng=random.Random(3))


def github_settings(tmp_path: Path, api_url: str, database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path, "database_url": database_url or f"sqlite:///{tmp_path / 'lp.db'}",
                              "forge": "github", "github_api_url": api_url,
                              "github_credentials": {env: {"token": token} for env, token in TOKENS.items()},
                              "platform": PlatformConfig()}
    values.update(overrides)
    return Settings(**values)


@dataclass
class GitHubWorld:
    server: GitHubServer
    services: Services
    clock: ManualClock

    @property
    def workflow(self) -> Any:
        return self.services.workflow

    def drive(self, request_id: int, *, approver: Actor = SRE, rounds: int = 80, worker: str = "fault-worker",
              stop_at: State | None = None) -> RequestInfo:
        """Worker passes and people until the request finishes (or reaches `stop_at`)."""
        info = self.workflow.get_request(request_id)
        for _ in range(rounds):
            ran = self.workflow.run_pending(worker)
            acted = self.review(request_id, approver)
            info = self.workflow.get_request(request_id)
            if info.state.finished or (stop_at is not None and info.state == stop_at):
                return info
            if not ran and not acted:
                self.clock.advance(minutes=20)  # past any backoff or merge poll
        return info

    def review(self, request_id: int, approver: Actor) -> int:
        acted = 0
        for approval in self.workflow.pending_approvals():
            if approval.request.id == request_id:
                self.workflow.decide(request_id, approval.step.id, approver, True, "fault tests")
                acted += 1
        for repo in self.server.repos:
            for pull in self.server.pulls(repo):
                if pull.state == "open" and pull.head.startswith(f"launchpad/{request_id}-"):
                    self.server.merge_pull(repo, pull.number)
                    acted += 1
        return acted

    # --- the checks ------------------------------------------------------------------------------
    def assert_delivered_exactly_once(self, info: RequestInfo) -> None:
        """Succeeded; one PR, one branch and one reachable LaunchPad commit per key; steps succeeded once."""
        assert info.state == State.SUCCEEDED, info.error
        keys = {f"{info.id}-{s.repo}-1" for s in info.steps if s.kind == "open_pr"}
        assert len(keys) == 4
        for key in keys:
            repo = next(r for r in self.server.repos if f"refs/heads/launchpad/{key}" in self.server.repos[r].refs)
            pulls = [p for p in self.server.pulls(repo) if p.head == f"launchpad/{key}"]
            assert len(pulls) == 1 and pulls[0].merged_at is not None, (key, pulls)
            assert [b for b in self.server.branches(repo) if b.startswith("launchpad/")] == [f"launchpad/{key}"]
            assert self.launchpad_commits(repo, key) == 1, key
        succeeded = Counter(e.step_id for e in self.workflow.audit(info.service) if e.action == "step.succeeded"
                            and e.request_id == info.id)
        assert set(succeeded) == {s.id for s in info.steps} and set(succeeded.values()) == {1}

    def launchpad_commits(self, repo: str, key: str) -> int:
        """Commits carrying this key's trailer reachable from any ref (an orphan of a lost write is not)."""
        seen: set[str] = set()
        for sha in self.server.repos[repo].refs.values():
            seen.update(self.server.objects.ancestors(sha))
        return sum(f"LaunchPad-Key: {key}" in self.server.objects.read_commit(c)["message"] for c in seen)


def build_world(tmp_path: Path, server: GitHubServer, *, database_url: str | None = None,
                notifier: Notifier | None = None, forges: ForgeRouter | None = None, **overrides: Any) -> GitHubWorld:
    for repo in REPOS:
        if repo not in server.repos:
            server.seed_repo(repo, {"README.md": "fault tests\n"})
    settings = github_settings(tmp_path, server.api_url, database_url, **overrides)
    clock = ManualClock()
    services = build_services(settings, notifier, forges=forges or router(server), clock=clock,
                              resolver=PlaceholderBindings(settings.platform), rng=random.Random(5))
    return GitHubWorld(server=server, services=services, clock=clock)
