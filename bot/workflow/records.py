"""Writing the audit log and the notification outbox, and reading rows back as the API's plain data.

Every state change goes through `audit(...)` in the same transaction as the change itself; every
notification is an outbox row written in that transaction too (delivered later by a worker). The
`*_info` functions turn rows into `bot.workflow.api` models, so nothing above the workflow sees a row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow import api, deployments


def audit(s: Session, at: datetime, actor: str, service: str, action: str, *, request_id: int | None = None,
          step_id: int | None = None, from_state: str | None = None, to_state: str | None = None,
          detail: str = "") -> None:
    s.add(m.AuditEvent(at=at, actor=actor, service=service, action=action, request_id=request_id, step_id=step_id,
                       from_state=from_state, to_state=to_state, detail=detail))


def notify(s: Session, at: datetime, kind: str, *, request_id: int | None = None, step_id: int | None = None,
           service: str | None = None, environment: str | None = None, text: str = "") -> None:
    s.add(m.OutboxMessage(kind=kind, request_id=request_id, step_id=step_id, service=service,
                          environment=environment, text=text, created_at=at))


def step_info(step: m.Step, approval: m.Approval | None = None) -> api.StepInfo:
    return api.StepInfo(
        id=step.id, position=step.position, kind=step.kind, title=step.title, state=api.State(step.state),
        repo=step.repo, pr_url=step.pr_url, pr_number=step.pr_number, error=step.error, attempts=step.attempts,
        approver_group=step.approver_group,
        decided_by=approval.decided_by if approval else None,
        decided_at=approval.decided_at if approval else None,
        decision_reason=approval.reason if approval else None,
        updated_at=step.updated_at,
    )


def plan_before(s: Session, request_id: int, position: int) -> list[str]:
    """The per-unit summary of the last infra plan before `position` (what an approver should read)."""
    step = s.scalar(select(m.Step).where(m.Step.request_id == request_id, m.Step.position < position,
                                         m.Step.kind == "wait_plan", m.Step.state == api.State.SUCCEEDED)
                    .order_by(m.Step.position.desc()).limit(1))
    plan = (step.result or {}).get("plan") if step is not None else None
    return [str(line) for line in plan] if isinstance(plan, list) else []


def request_info(s: Session, req: m.Request) -> api.RequestInfo:
    steps = s.scalars(select(m.Step).where(m.Step.request_id == req.id).order_by(m.Step.position)).all()
    approvals = {a.step_id: a for a in s.scalars(select(m.Approval).where(m.Approval.request_id == req.id))}
    return api.RequestInfo(
        id=req.id, kind=api.RequestKind(req.kind), service=req.service, team=req.team,
        environments=list(req.environments), blueprint=req.blueprint, requester=req.requester,
        state=api.State(req.state), steps=[step_info(st, approvals.get(st.id)) for st in steps],
        created_at=req.created_at, updated_at=req.updated_at, error=req.error, slack_channel=req.slack_channel,
        slack_ts=req.slack_ts, description=req.description,
    )


def service_info(s: Session, svc: m.Service) -> api.ServiceInfo:
    envs = s.scalars(select(m.Environment).where(m.Environment.service_id == svc.id).order_by(m.Environment.id))
    urls = s.scalars(
        select(m.Step.pr_url).join(m.Request, m.Request.id == m.Step.request_id)
        .where(m.Request.service == svc.name, m.Step.pr_url.is_not(None)).order_by(m.Step.id.desc()).limit(20)
    ).all()
    return api.ServiceInfo(
        name=svc.name, team=svc.team, blueprint=svc.blueprint, owner=svc.owner, description=svc.description,
        environments=[api.EnvironmentInfo(name=e.name, expires_at=e.expires_at, domain=e.domain) for e in envs],
        pr_urls=[u for u in urls if u], images=deployments.images(s, svc.name),
    )


def stopped_teardown(s: Session, env: m.Environment, retry: timedelta) -> api.Teardown | None:
    """The automatic teardown of an expired environment when it did not go through: cancelled or denied
    (opened again `retry` after it ended), or failed (waiting for someone to retry or cancel it)."""
    if env.decommission_request_id is None:
        return None
    req = s.get(m.Request, env.decommission_request_id)
    if req is None or req.state not in (api.State.CANCELLED, api.State.FAILED):
        return None
    outcome = "denied" if req.denied else str(req.state)
    ended = req.finished_at or req.updated_at
    retry_at = ended + retry if outcome != "failed" else None
    return api.Teardown(request_id=req.id, outcome=outcome, retry_at=retry_at)


def audit_info(row: m.AuditEvent) -> api.AuditEvent:
    return api.AuditEvent(id=row.id, at=row.at, actor=row.actor, service=row.service, action=row.action,
                          request_id=row.request_id, step_id=row.step_id, from_state=row.from_state,
                          to_state=row.to_state, detail=row.detail)
