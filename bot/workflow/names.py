"""Name claims: a create/change is refused when a name it would take in AWS, Argo CD or DNS is already
taken by another registered service, or by another service's request in flight.

Names are injective by construction (`provisioners.spec.resource_names`, proven in tests/test_names.py);
this check is the safety net for what construction cannot see: a service registered under older rules,
two teams whose names prefix each other (`a` and `a-b` make `a-b-c-devel` twice), a custom domain
another service already answers on. Reads the database inside the caller's transaction; never writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow.api import RequestKind, State
from provisioners.context import RenderContext
from provisioners.errors import InvalidSpecError
from provisioners.spec import ServiceSpec, name_fields, parse_spec

IN_FLIGHT = (State.PENDING, State.RUNNING, State.WAITING, State.FAILED)


def claims(names: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """(namespace, name) -> what it is, for the names two services must never share (`name_fields`)."""
    return {
        ("IAM role", names["iam_role"]): "IAM role", ("IAM role", names["ci_role"]): "CI role",
        ("security group", names["security_group"]): "pods' security group",
        ("security group", names["rds_security_group"]): "database security group",
        ("target group", names["target_group"]): "target group", ("S3 bucket", names["bucket"]): "S3 bucket",
        ("RDS", names["rds"]): "RDS identifier", ("ElastiCache", names["elasticache"]): "ElastiCache id",
        ("ECR", names["ecr_repository"]): "ECR repository",
        ("Argo CD", names["application"]): "Argo CD application",
    }


def check(s: Session, spec: ServiceSpec, ctx: RenderContext) -> None:
    """Raise InvalidSpecError on the `name` field naming the other service when a claim is taken."""
    platform = ctx.platform
    wanted: dict[tuple[str, str], str] = {}
    for mine in spec.environments:
        wanted.update(claims(name_fields(spec.name, spec.team, mine.name, platform.organisation)))
    wanted.update({("domain", d): f"domain {d}" for d in domains(spec, ctx).values()})
    for other, team, env, domain in _registered(s, spec.name, ctx):
        taken = claims(name_fields(other, team, env, platform.organisation))
        if domain:
            taken[("domain", domain)] = f"domain {domain}"
        clash = sorted(set(wanted) & set(taken))
        if clash:
            kind, name = clash[0]
            raise InvalidSpecError({"name": (
                f"{spec.name} would take the {wanted[(kind, name)]} {name!r}, which service {other} already has "
                f"in {env}; choose another service name" + (" or domain" if kind == "domain" else ""))})


def domains(spec: ServiceSpec, ctx: RenderContext) -> dict[str, str]:
    """Environment -> the hostname the service answers on (none for blueprints without a domain)."""
    if not ctx.blueprint(spec).needs_domain:
        return {}
    return {e.name: spec.domain_for(e.name, ctx.platform) for e in spec.environments}


def _registered(s: Session, excluding: str, ctx: RenderContext) -> Iterable[tuple[str, str, str, str | None]]:
    """(service, team, environment, domain) of every other active service and open create/change request."""
    rows = s.execute(select(m.Service.name, m.Service.team, m.Environment.name, m.Environment.domain)
                     .join(m.Environment, m.Environment.service_id == m.Service.id)
                     .where(m.Service.active.is_(True), m.Service.name != excluding)).all()
    yield from ((svc, team, env, domain) for svc, team, env, domain in rows)
    pending = s.execute(select(m.Request.service, m.Request.team, m.Request.environments, m.Request.spec)
                        .where(m.Request.state.in_(IN_FLIGHT), m.Request.service != excluding,
                               m.Request.kind.in_([RequestKind.CREATE, RequestKind.CHANGE]))).all()
    for svc, team, envs, data in pending:
        try:
            claimed = domains(parse_spec(data or {}, ctx.platform, ctx.blueprints, recorded=True), ctx)
        except (InvalidSpecError, KeyError):
            claimed = {}
        for env in envs or []:
            yield svc, team, env, claimed.get(env)
