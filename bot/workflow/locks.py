"""Service/environment locks, Atlantis-style: the second request is refused and told who holds the lock.

A request that renders a service locks the service as a whole (environment `*`: every such request
rewrites service-wide files) plus each environment it touches (so `extend` of an environment being
torn down is refused too). The unique key on (service, environment) is the lock; taking it is an
insert, so two replicas racing for it cannot both win. Locks are released when the request succeeds
or is cancelled; a failed request keeps them until it is retried to success or cancelled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.workflow.api import Locked

SERVICE_WIDE = "*"


def acquire(s: Session, service: str, environments: list[str], request_id: int, holder: str, at: datetime) -> None:
    """Take every lock or none; raises Locked naming the holder."""
    wanted = [SERVICE_WIDE, *sorted(set(environments))]
    held = holder_of(s, service, wanted)
    if held is not None:
        raise held
    try:
        with s.begin_nested():
            s.add_all([m.Lock(service=service, environment=env, request_id=request_id, holder=holder, acquired_at=at)
                       for env in wanted])
            s.flush()
    except IntegrityError:
        held = holder_of(s, service, wanted)
        raise held or Locked(f"{service} was locked by another request just now; try again", 0, "") from None


def holder_of(s: Session, service: str, environments: list[str]) -> Locked | None:
    """The Locked error for the first lock held on these environments, or None when all are free."""
    row = s.execute(
        select(m.Lock, m.Request).join(m.Request, m.Request.id == m.Lock.request_id)
        .where(m.Lock.service == service, m.Lock.environment.in_(environments)).order_by(m.Lock.id).limit(1)
    ).first()
    if row is None:
        return None
    lock, req = row
    return _locked(lock, req)


def holders(s: Session, services: list[str]) -> dict[str, Locked]:
    """Service -> the Locked error naming who holds it, for every one of `services` that is busy (one query;
    every request that renders a service holds its service-wide lock)."""
    rows = s.execute(
        select(m.Lock, m.Request).join(m.Request, m.Request.id == m.Lock.request_id)
        .where(m.Lock.service.in_(services), m.Lock.environment == SERVICE_WIDE).order_by(m.Lock.service)
    ).all()
    return {lock.service: _locked(lock, req) for lock, req in rows}


def acquire_many(s: Session, services: dict[str, list[str]], request_id: int, holder: str, at: datetime) -> None:
    """Lock many services for one request (a bulk change), all or none; raises Locked naming a busy one."""
    busy = holders(s, sorted(services))
    if busy:
        first = next(iter(busy.values()))
        more = f" ({len(busy) - 1} more of the selected services are busy too)" if len(busy) > 1 else ""
        raise Locked(f"{first}{more}", first.holder_request_id, first.holder)
    try:
        with s.begin_nested():
            s.add_all([m.Lock(service=service, environment=env, request_id=request_id, holder=holder, acquired_at=at)
                       for service, envs in sorted(services.items()) for env in [SERVICE_WIDE, *sorted(set(envs))]])
            s.flush()
    except IntegrityError:
        busy = holders(s, sorted(services))
        if busy:
            raise next(iter(busy.values())) from None
        raise Locked("one of the selected services was locked by another request just now; try again", 0,
                     "") from None


def _locked(lock: m.Lock, req: m.Request) -> Locked:
    what = lock.service if lock.environment == SERVICE_WIDE else f"{lock.service}/{lock.environment}"
    hint = (f"retry it (`launchpad retry {req.id}`) or cancel it (`launchpad cancel {req.id}`)"
            if req.state == "failed" else f"wait for it to finish, or cancel it (`launchpad cancel {req.id}`)")
    return Locked(f"{what} is locked by request #{req.id} ({req.kind}, {req.state}) of {lock.holder}; {hint}",
                  req.id, lock.holder)


def release(s: Session, request_id: int) -> None:
    s.execute(delete(m.Lock).where(m.Lock.request_id == request_id))
