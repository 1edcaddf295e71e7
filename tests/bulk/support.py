"""Test support for bulk changes: many recorded services without running a create request for each.

`seed` records services the way a succeeded create leaves them (service row, spec, environments, a
revision) and returns what their files look like, so a test (or bench/bulk.py) can put those files
in the repositories in one commit per repository. Creating 500 services through the workflow would
cost 500 requests' worth of pull requests; the bulk change under test starts from their outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.services import Services
from bot.store import models as m
from bot.workflow.changes import repository_for
from provisioners.plan import RenderContext, plan
from provisioners.spec import ServiceSpec, parse_spec

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
