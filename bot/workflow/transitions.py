"""State transitions of requests and steps, each with its audit event and outbox message.

Every function runs inside the caller's transaction and assumes the request row is locked by it
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite transactions hold the write lock). When a request
succeeds, `complete` records the result in the service registry (spec, history, environments and
their expiry) and releases the locks, in that same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow import bulk, locks, records
from bot.workflow.api import RequestKind, State
from bot.workflow.changes import load_spec
from bot.workflow.steps import StepKind
from provisioners.errors import InvalidSpecError
from provisioners.plan import RenderContext


def current_step(s: Session, req: m.Request) -> m.Step | None:
    return s.scalar(select(m.Step).where(m.Step.request_id == req.id, m.Step.position == req.cursor))


def request_state(s: Session, req: m.Request, state: State, now: datetime, actor: str, detail: str = "") -> None:
    if req.state == state:
        return
    records.audit(s, now, actor, req.service, f"request.{state.value}", request_id=req.id, from_state=req.state,
                  to_state=state, detail=detail)
    req.state = state
    req.updated_at = now
    if state.finished:
        req.finished_at = now
    records.notify(s, now, "request_changed", request_id=req.id)


def step_state(s: Session, req: m.Request, step: m.Step, state: State, now: datetime, actor: str,
               detail: str = "") -> None:
    if step.state != state:
        records.audit(s, now, actor, req.service, f"step.{state.value}", request_id=req.id, step_id=step.id,
                      from_state=step.state, to_state=state, detail=detail or step.title)
    step.state = state
    step.updated_at = now
    if state.finished:
        step.finished_at = now
    if state != State.RUNNING:
        step.lease_owner = step.lease_token = None
        step.lease_expires_at = None


def activate(s: Session, req: m.Request, now: datetime, actor: str) -> None:
    """Make the step at the cursor ready: approvals start waiting (and ask), others become runnable."""
    step = current_step(s, req)
    if step is None:
        return
    if step.kind == StepKind.APPROVAL:
        step_state(s, req, step, State.WAITING, now, actor, f"waiting for {step.approver_group}: "
                                                            f"{'; '.join(step.reasons)}")
        request_state(s, req, State.WAITING, now, actor)
        records.notify(s, now, "approval_needed", request_id=req.id, step_id=step.id)
    else:
        step.state = State.PENDING
        step.run_after = now
        step.updated_at = now


def advance(s: Session, req: m.Request, now: datetime, actor: str, ctx: RenderContext) -> None:
    req.cursor += 1
    req.updated_at = now
    total = s.scalar(select(func.count()).select_from(m.Step).where(m.Step.request_id == req.id)) or 0
    if req.cursor >= total:
        complete(s, req, now, actor, ctx)
        return
    activate(s, req, now, actor)
    if req.state == State.WAITING and (step := current_step(s, req)) is not None and step.kind != StepKind.APPROVAL:
        request_state(s, req, State.RUNNING, now, actor)


def insert_approval(s: Session, req: m.Request, after: m.Step, approvers: str, reasons: list[str],
                    now: datetime) -> None:
    """An approval right after `after` that the request's layout did not have (a plan that destroys): the
    reasons join the next step when it already is that group's undecided approval, else a new approval
    step is inserted and the later steps move down one position."""
    following = s.scalar(select(m.Step).where(m.Step.request_id == req.id, m.Step.position == after.position + 1))
    if following is not None and following.kind == StepKind.APPROVAL and following.approver_group == approvers \
            and following.state == State.PENDING:
        following.reasons = [*following.reasons, *reasons]
        return
    s.flush()
    later = (m.Step.request_id == req.id, m.Step.position > after.position)
    # two statements, so no row ever takes a position another still holds (the unique key is checked per row)
    s.execute(update(m.Step).where(*later).values(position=m.Step.position + 100000)
              .execution_options(synchronize_session=False))
    s.execute(update(m.Step).where(m.Step.request_id == req.id, m.Step.position > 100000)
              .values(position=m.Step.position - 99999).execution_options(synchronize_session=False))
    for loaded in [o for o in s.identity_map.values() if isinstance(o, m.Step) and o.request_id == req.id]:
        s.expire(loaded, ["position"])
    title = f"Approval by {approvers}: {'; '.join(reasons)}"
    s.add(m.Step(request_id=req.id, position=after.position + 1, kind=StepKind.APPROVAL,
                 title=title if len(title) <= 200 else title[:199] + "…", state=State.PENDING, repo=None,
                 repo_index=0, forge_key=None, approver_group=approvers, reasons=list(reasons), run_after=now,
                 created_at=now, updated_at=now, attempts=0, failures=0))
    s.flush()
    records.audit(s, now, "system", req.service, "approval.added", request_id=req.id, step_id=after.id,
                  detail="; ".join(reasons))


def fail(s: Session, req: m.Request, step: m.Step, error: str, now: datetime, actor: str) -> None:
    step.error = error
    step_state(s, req, step, State.FAILED, now, actor, error)
    req.error = f"Step {step.position + 1} ({step.title}) failed: {error}"
    request_state(s, req, State.FAILED, now, actor, req.error)
    records.notify(s, now, "step_progress", request_id=req.id, step_id=step.id, text=f"Failed: {error}")
    records.notify(s, now, "request_finished", request_id=req.id)


def cancel(s: Session, req: m.Request, now: datetime, actor: str, reason: str) -> None:
    for step in s.scalars(select(m.Step).where(m.Step.request_id == req.id, m.Step.state.in_(
            [State.PENDING, State.RUNNING, State.WAITING]))):
        step_state(s, req, step, State.CANCELLED, now, actor, reason)
    req.error = req.error or reason
    request_state(s, req, State.CANCELLED, now, actor, reason)
    locks.release(s, req.id)
    req.cleanup_pending = True
    records.notify(s, now, "request_finished", request_id=req.id)


def complete(s: Session, req: m.Request, now: datetime, actor: str, ctx: RenderContext) -> None:
    svc = s.scalar(select(m.Service).where(m.Service.name == req.service))
    if svc is not None and req.kind in (RequestKind.CREATE, RequestKind.CHANGE):
        _record_created(s, req, svc, now, ctx)
    elif svc is not None and req.kind == RequestKind.DELETE:
        _record_deleted(s, req, svc, now)
    elif req.kind == RequestKind.BULK:
        bulk.record(s, req, now, ctx)
    request_state(s, req, State.SUCCEEDED, now, actor)
    locks.release(s, req.id)
    records.notify(s, now, "request_finished", request_id=req.id)


def _record_created(s: Session, req: m.Request, svc: m.Service, now: datetime, ctx: RenderContext) -> None:
    spec_data: dict[str, Any] = dict(req.spec or {})
    domains: dict[str, str | None] = {}
    try:
        spec = load_spec(spec_data, ctx)
        needs_domain = ctx.blueprint(spec).needs_domain
        domains = {e.name: spec.domain_for(e.name, ctx.platform) if needs_domain else None for e in spec.environments}
    except (InvalidSpecError, KeyError):  # the platform changed under the request: record what we know
        pass
    existing = {e.name: e for e in s.scalars(select(m.Environment).where(m.Environment.service_id == svc.id))}
    for env in spec_data.get("environments", []):
        name = env["name"]
        row = existing.get(name)
        if row is None:
            ttl = env.get("ttl_hours")
            s.add(m.Environment(service_id=svc.id, name=name, domain=domains.get(name),
                                expires_at=now + timedelta(hours=ttl) if ttl else None,
                                created_at=now, updated_at=now))
        else:
            row.domain = domains.get(name, row.domain)
            row.updated_at = now
    svc.spec = spec_data
    svc.team = spec_data.get("team", svc.team)
    svc.blueprint = spec_data.get("blueprint", svc.blueprint)
    svc.owner = spec_data.get("owner") or svc.owner
    svc.description = spec_data.get("description", svc.description)
    svc.bindings = req.bindings or svc.bindings
    svc.active = True
    svc.deleted_at = None
    svc.updated_at = now
    s.add(m.ServiceRevision(service_id=svc.id, request_id=req.id, kind=req.kind, spec=spec_data, actor=req.requester,
                            created_at=now))
    action = "service.created" if req.kind == RequestKind.CREATE else "service.changed"
    envs = ", ".join(e["name"] for e in spec_data.get("environments", []))
    records.audit(s, now, req.requester, svc.name, action, request_id=req.id, detail=envs)


def _record_deleted(s: Session, req: m.Request, svc: m.Service, now: datetime) -> None:
    gone = set(req.environments)
    for env in s.scalars(select(m.Environment).where(m.Environment.service_id == svc.id)):
        if env.name in gone:
            s.delete(env)
    spec_data: dict[str, Any] = dict(svc.spec or {})
    remaining = [e for e in spec_data.get("environments", []) if e["name"] not in gone]
    if remaining:
        spec_data["environments"] = remaining
        pins = spec_data.get("pins")
        if isinstance(pins, dict) and isinstance(pins.get("environments"), dict):  # pins of gone environments
            spec_data["pins"] = {**pins, "environments": {e: p for e, p in pins["environments"].items()
                                                          if e not in gone}}
        svc.spec = spec_data
    else:
        svc.spec = None
        svc.active = False
        svc.deleted_at = now
    svc.updated_at = now
    s.add(m.ServiceRevision(service_id=svc.id, request_id=req.id, kind=req.kind, spec=svc.spec, actor=req.requester,
                            created_at=now))
    records.audit(s, now, req.requester, svc.name, "service.deleted" if not remaining else "environments.deleted",
                  request_id=req.id, detail=", ".join(sorted(gone)))
