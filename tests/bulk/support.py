"""Test support for bulk changes: many recorded services without running a create request for each.

`seed` records services the way a succeeded create leaves them (service row, spec, environments, a
revision) and returns what their files look like, so a test (or bench/bulk.py) can put those files
in the repositories in one commit per repository. Creating 500 services through the workflow would
cost 500 requests' worth of pull requests; the bulk change under test starts from their outcome.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services import Services, build_services
from bot.store import models as m
from bot.workflow.api import BulkChange, RequestInfo, Selector
from bot.workflow.bindings import PlaceholderBindings
from bot.workflow.changes import repository_for
from bot.workflow.clock import ManualClock
from provisioners.forge.credentials import TokenCredential
from provisioners.forge.retry import RetryPolicy
from provisioners.forge.router import ForgeRouter
from provisioners.plan import RenderContext, plan
from provisioners.spec import ServiceSpec, parse_spec
from tests.support.github_server import GitHubServer
from tests.workflow.support import SRE, SRE2

TEAMS = ("search", "payments")


def web_spec(name: str, *, team: str = "search", envs: tuple[str, ...] = ("devel", "alpha", "prod"),
             rds: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "team": team, "blueprint": "web-service", "description": "bulk tests",
                            "image": f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/{team}/{name}:1.0.0",
                            "port": 8080, "domain": f"{name}.example.com", "owner": "U0ALICE",
                            "environments": [{"name": e} for e in envs]}
    if rds:
        data["components"] = {"rds": {}}
    return data


def worker_spec(name: str, *, team: str = "search", envs: tuple[str, ...] = ("devel",)) -> dict[str, Any]:
    return {"name": name, "team": team, "blueprint": "worker", "port": 8080, "description": "bulk tests",
            "owner": "U0ALICE", "environments": [{"name": e} for e in envs]}


def fleet(count: int, *, prefix: str = "svc") -> list[dict[str, Any]]:
    """`count` web services over two teams, every third with a database; names sort in creation order."""
    return [web_spec(f"{prefix}-{i:03d}", team=TEAMS[i % 2], rds=i % 3 == 0) for i in range(count)]


def seed(services: Services, specs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Record `specs` as live services; returns forge repository name -> every file their plans write."""
    ctx: RenderContext = services.render_context
    now = datetime.now(UTC)
    parsed: list[ServiceSpec] = [parse_spec(data, ctx.platform, ctx.blueprints) for data in specs]
    with services.store.session() as s:
        for spec in parsed:
            data = spec.model_dump(mode="json")
            svc = m.Service(name=spec.name, team=spec.team, blueprint=spec.blueprint, owner=spec.owner,
                            created_by=spec.owner, description=spec.description, spec=data, bindings=None,
                            active=True, created_at=now, updated_at=now)
            s.add(svc)
            s.flush()
            for env in spec.environments:
                s.add(m.Environment(service_id=svc.id, name=env.name, created_at=now, updated_at=now))
            s.add(m.ServiceRevision(service_id=svc.id, request_id=None, kind="create", spec=data, actor=spec.owner,
                                    created_at=now))
    return rendered(ctx, parsed)


def rendered(ctx: RenderContext, specs: list[ServiceSpec]) -> dict[str, dict[str, str]]:
    """Forge repository name -> path -> content of what `specs` render to now."""
    files: dict[str, dict[str, str]] = {}
    for spec in specs:
        for cs in plan(spec, ctx, check=False):
            name, _ = repository_for(ctx.platform, cs.repo, spec)
            files.setdefault(name, {}).update(cs.files)
    return files


# --- a bulk change against the local GitHub API server (acceptance test and bench/bulk.py) -------------
GITHUB_TOKEN = "ghp_bulkTestToken000000000000000000000"


@dataclass
class GitHubRun:
    """What one bulk request cost on the GitHub API: every call (method, path), the PRs, the time."""

    services: int
    changed_services: int
    request: RequestInfo
    calls: list[tuple[str, str, str]]
    writes: int
    pulls: int
    files: int
    seconds: float
    submit_seconds: float


def bulk_on_github(tmp: Path, count: int, change: BulkChange, *, selector: Selector | None = None,
                   latency: float = 0.0, api: str = "graphql") -> GitHubRun:
    """Record `count` services, put their files in the server's repositories, then run one bulk request
    through the real workflow and GitHub forge (`api`: 'graphql', the default setting, or 'rest' with
    PyGithub; over HTTP). A second SRE approves gates and a reviewer merges PRs on the server (no API
    calls); the workflow's clock jumps past merge polls. Calls are (method, path, GraphQL operation)."""
    selector = selector or Selector()
    with GitHubServer() as server:
        settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'bulk.db'}", forge="github",
                            github_api_url=server.api_url, github_credentials={"default": {"token": GITHUB_TOKEN}})
        router = ForgeRouter({"default": TokenCredential(GITHUB_TOKEN)}, api_url=server.api_url,
                             policy=RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.05),
                             writes_per_minute=60_000, writes_per_hour=600_000, api=api)
        clock = ManualClock()
        services = build_services(settings, None, forges=router, clock=clock,
                                  resolver=PlaceholderBindings(settings.platform))
        try:
            for repo, files in seed(services, fleet(count)).items():
                server.seed_repo(repo, files)
            wf = services.workflow
            preview = wf.preview_bulk(selector, change, SRE)
            server.reset_calls()
            server.latency_seconds = latency
            started = time.perf_counter()
            info = wf.submit_bulk(selector, change, SRE)
            submitted = time.perf_counter() - started
            for _ in range(20):
                ran = wf.run_pending("bulk-worker")
                acted = 0
                for approval in wf.pending_approvals():
                    wf.decide(approval.request.id, approval.step.id, SRE2, True, "reviewed")
                    acted += 1
                for name in server.repos:
                    for pull in server.pulls(name):
                        if pull.state == "open":
                            server.merge_pull(name, pull.number)
                            acted += 1
                info = wf.get_request(info.id)
                if info.state.finished:
                    break
                if not ran and not acted:
                    clock.advance(minutes=20)
            seconds = time.perf_counter() - started
        finally:
            services.close()
        calls = list(server.calls)
        pulls = sum(len(server.pulls(name)) for name in server.repos)
    return GitHubRun(services=count, changed_services=len(preview.services), request=info,
                     calls=[(c.method, re.sub(r"\b[0-9a-f]{40}\b", "<sha>", c.path), c.operation) for c in calls],
                     writes=sum(c.is_write for c in calls),
                     pulls=pulls, files=preview.files, seconds=seconds, submit_seconds=submitted)
