"""Claiming runnable steps with a lease: the one place that decides which worker runs what.

A step is runnable when it is its request's current step, the request is active, it is not an
approval, its `run_after` has come, and nobody holds an unexpired lease on it. A worker locks the
step's request with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL; on SQLite every transaction
already holds the write lock), then takes the step with a conditional UPDATE whose row count proves
the claim, and gets a fresh lease token. Finishing a step is only accepted with that token, so a
worker whose lease expired (and whose step another worker reclaimed) cannot overwrite the newer
result. Rows are always locked request first, then step, in every transition (no lock-order cycles).
Taking over a step from a worker whose lease expired counts as one of the step's attempts: a step that
kills its worker every time (out of memory) fails its request once the attempts run out, instead of
being reclaimed forever.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow import records, transitions
from bot.workflow.api import State
from bot.workflow.steps import POLLING, StepKind

ACTIVE_REQUEST_STATES = (State.PENDING, State.RUNNING, State.WAITING)
CLAIMABLE_STEP_STATES = (State.PENDING, State.WAITING, State.RUNNING)


@dataclass(frozen=True)
class Claim:
    """A step held by one worker until `expires_at`; `token` proves it when finishing."""

    step_id: int
    request_id: int
    token: str
    worker: str
    expires_at: datetime
    reclaimed_from: str | None


def claim_next(s: Session, worker: str, now: datetime, lease: timedelta,
               kinds: Collection[str] | None = None, *, max_attempts: int | None = None) -> Claim | None:
    """Claim one runnable step, or return None. Rows are locked request first, then step (the order
    every other transition uses), and a request another worker is updating is skipped, not waited on.
    A reclaim that uses up `max_attempts` (with the step's transient failures) fails the step instead."""
    query = (
        select(m.Step.id, m.Step.request_id)
        .join(m.Request, m.Request.id == m.Step.request_id)
        .where(*_runnable(now))
        .order_by(m.Step.run_after, m.Step.id)
        .limit(10)
    )
    if kinds is not None:
        query = query.where(m.Step.kind.in_(list(kinds)))
    for step_id, request_id in s.execute(query).all():
        locked = s.scalar(select(m.Request.id).where(m.Request.id == request_id)
                          .with_for_update(skip_locked=True))
        if locked is None:
            continue  # another worker is recording something on this request right now
        claim = _take(s, step_id, worker, now, lease, max_attempts)
        if claim is not None:
            return claim
    return None


def _runnable(now: datetime) -> tuple[Any, ...]:
    return (
        m.Request.state.in_(ACTIVE_REQUEST_STATES),
        m.Step.position == m.Request.cursor,
        m.Step.kind != StepKind.APPROVAL,
        m.Step.state.in_(CLAIMABLE_STEP_STATES),
        or_(m.Step.run_after.is_(None), m.Step.run_after <= now),
        or_(m.Step.lease_expires_at.is_(None), m.Step.lease_expires_at <= now),
    )


def _take(s: Session, step_id: int, worker: str, now: datetime, lease: timedelta,
          max_attempts: int | None = None) -> Claim | None:
    """The conditional UPDATE whose row count proves the claim (re-checked under the request lock)."""
    step = s.get(m.Step, step_id, populate_existing=True)
    req = s.get(m.Request, step.request_id, populate_existing=True) if step is not None else None
    if step is None or req is None or step.position != req.cursor or req.state not in ACTIVE_REQUEST_STATES:
        return None
    previous_owner = step.lease_owner if step.state == State.RUNNING else None
    token = uuid.uuid4().hex
    expires = now + lease
    result = s.execute(
        update(m.Step)
        .where(m.Step.id == step_id, m.Step.state.in_(CLAIMABLE_STEP_STATES),
               or_(m.Step.run_after.is_(None), m.Step.run_after <= now),
               or_(m.Step.lease_expires_at.is_(None), m.Step.lease_expires_at <= now))
        .values(state=State.RUNNING, lease_owner=worker, lease_token=token, lease_expires_at=expires,
                attempts=m.Step.attempts + 1, reclaims=m.Step.reclaims + (1 if previous_owner else 0),
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    s.refresh(step)
    if step.started_at is None:
        step.started_at = now
    if previous_owner is not None:
        records.audit(s, now, f"worker:{worker}", req.service, "step.reclaimed", request_id=req.id, step_id=step.id,
                      from_state=State.RUNNING, to_state=State.RUNNING,
                      detail=f"lease of {previous_owner} expired; attempt {step.attempts}")
        if max_attempts is not None and step.reclaims + step.failures >= max_attempts:
            transitions.fail(s, req, step, poisoned(step.reclaims, previous_owner), now, f"worker:{worker}")
            return None
    elif step.kind not in POLLING or step.attempts == 1:
        records.audit(s, now, f"worker:{worker}", req.service, "step.started", request_id=req.id, step_id=step.id,
                      to_state=State.RUNNING, detail=f"{step.title} (attempt {step.attempts})")
    if req.state != State.RUNNING and step.kind not in POLLING:
        records.audit(s, now, f"worker:{worker}", req.service, "request.running", request_id=req.id,
                      from_state=req.state, to_state=State.RUNNING)
        req.state = State.RUNNING
        req.updated_at = now
    return Claim(step_id=step.id, request_id=req.id, token=token, worker=worker, expires_at=expires,
                 reclaimed_from=previous_owner)


def poisoned(deaths: int, last: str) -> str:
    """The error of a step whose workers kept dying: what happened, and what to look at."""
    return (f"worker died {deaths} time{'' if deaths == 1 else 's'} running this step (last: {last}); it may be "
            "killing its worker (out of memory, a crash): see that worker's log, fix the cause, then retry the "
            "request")


def holds(step: m.Step, claim: Claim) -> bool:
    """True while the claim is still the step's lease (not reclaimed, not cancelled)."""
    return step.state == State.RUNNING and step.lease_token == claim.token
