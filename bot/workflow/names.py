"""Name claims: a create/change is refused when a name it would take in AWS, Argo CD or DNS is already
taken by another registered service, or by another service's request in flight.

Names are injective by construction (`provisioners.spec.resource_names`, proven in tests/test_names.py);
this check is the safety net for what construction cannot see: a service registered under older rules,
two teams whose names prefix each other (`a` and `a-b` make `a-b-c-devel` twice), a custom domain
another service already answers on. Reads the database inside the caller's transaction; never writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow.api import RequestKind, State
from provisioners.context import RenderContext
from provisioners.errors import InvalidSpecError
from provisioners.spec import EnvironmentSpec, ServiceSpec, name_fields

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


Registry = list[tuple[str, str, str, str | None]]  # (service, team, environment, domain) of every claim holder


def check(s: Session | None, spec: ServiceSpec, ctx: RenderContext, registry: Registry | None = None) -> None:
    """Raise InvalidSpecError on the `name` field naming the other service when a claim is taken. `registry`:
    what `registered` read a moment ago (a precheck's snapshot); by default read now, in `s`."""
    if registry is None:
        assert s is not None, "without a registry snapshot the claims are read in a session"
        registry = registered(s, ctx)
    platform = ctx.platform
    wanted: dict[tuple[str, str], str] = {}
    for mine in spec.environments:
        wanted.update(claims(name_fields(spec.name, spec.team, mine.name, platform.organisation)))
    wanted.update({("domain", d): f"domain {d}" for d in domains(spec, ctx).values()})
    for other, team, env, domain in registry:
        if other == spec.name:
            continue
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


def registered(s: Session, ctx: RenderContext) -> Registry:
    """(service, team, environment, domain) of every active service and open create/change request."""
    rows = s.execute(select(m.Service.name, m.Service.team, m.Environment.name, m.Environment.domain)
                     .join(m.Environment, m.Environment.service_id == m.Service.id)
                     .where(m.Service.active.is_(True))).all()
    out: Registry = [(svc, team, env, domain) for svc, team, env, domain in rows]
    pending = s.execute(select(m.Request.service, m.Request.team, m.Request.environments, m.Request.spec)
                        .where(m.Request.state.in_(IN_FLIGHT),
                               m.Request.kind.in_([RequestKind.CREATE, RequestKind.CHANGE]))).all()
    for svc, team, envs, data in pending:
        claimed = _recorded_domains(data or {}, ctx)
        out += [(svc, team, env, claimed.get(env)) for env in envs or []]
    return out


def _recorded_domains(data: dict[str, Any], ctx: RenderContext) -> dict[str, str]:
    """`domains` of a request in flight, from its recorded spec. That spec was validated when it was
    submitted, so it is only rebuilt here, not validated again: this runs for every request in flight on
    every submission, inside a Slack acknowledgement."""
    try:
        envs = [EnvironmentSpec.model_construct(**e) for e in data.get("environments") or []]
        spec = ServiceSpec.model_construct(**{**data, "environments": envs})
        return domains(spec, ctx)
    except (TypeError, KeyError, AttributeError):  # a spec recorded by an older LaunchPad: claims no domain
        return {}
