"""What a worker leaves behind when it dies or stops, and submissions that do not hold the service row while
they render; on SQLite and PostgreSQL, on a ManualClock.

- Notifications a dead worker had claimed go to another worker once the short outbox claim ran out (it
  used to be 5 minutes); the ones it had sent are not sent again; a stopping worker hands its unsent
  ones back at once.
- `submit_create` renders outside the transaction that locks the service row, and plans again when the
  service moved meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.store import models as m
from bot.workflow import service as service_module
from bot.workflow.api import ApprovalInfo, RequestInfo, State
from bot.workflow.clock import ManualClock
from tests.workflow.support import ALICE, Recorder, drain, spec


class Died(BaseException):
    """The worker process ends here (what SIGKILL does between two Slack calls)."""


class DiesAfter(Recorder):
    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def request_changed(self, request: RequestInfo) -> None:
        self._tick()
        super().request_changed(request)

    def approval_needed(self, approval: ApprovalInfo) -> None:
        self._tick()
        super().approval_needed(approval)

    def _tick(self) -> None:
        if len(self.events) >= self.calls:
            raise Died()


def undelivered(services: Any) -> int:
    with services.store.session() as s:
        return s.scalar(select(func.count()).select_from(m.OutboxMessage)
                        .where(m.OutboxMessage.delivered_at.is_(None))) or 0


def test_a_dead_workers_notifications_go_to_another_worker_soon(make: Any) -> None:
    clock = ManualClock()
    dying, recorder = DiesAfter(calls=1), Recorder()
    first = make(clock=clock, notifier=dying)
    for n in range(3):
        first.workflow.submit_create(spec(f"svc-{n}"), ALICE)  # three request_changed messages
    with pytest.raises(Died):
        first.workflow.deliver_notifications("doomed")
    assert len(dying.events) == 1 and undelivered(first) == 2  # one sent (and recorded), two claimed

    other = make(clock=clock, notifier=recorder)
    assert other.workflow.deliver_notifications("other") == 0  # still claimed by the dead worker
    clock.advance(seconds=30)  # not the 5 minutes it used to be
    assert other.workflow.deliver_notifications("other") == 2
    assert len(recorder.events) == 2 and undelivered(other) == 0  # the one already sent is not sent again


def test_a_stopping_worker_hands_its_unsent_notifications_back(make: Any) -> None:
    clock = ManualClock()
    recorder = Recorder()
    first = make(clock=clock, notifier=recorder)
    engine = first.workflow.engine
    original = recorder.request_changed

    def stop_after_one(request: RequestInfo) -> None:
        original(request)
        engine.stopping.set()  # SIGTERM arrives while the first message is being sent

    recorder.request_changed = stop_after_one  # type: ignore[method-assign]
    for n in range(3):
        first.workflow.submit_create(spec(f"svc-{n}"), ALICE)
    assert first.workflow.deliver_notifications("leaving") == 1
    assert first.workflow.deliver_notifications("leaving") == 0  # stopped: it takes nothing more
    other = make(clock=clock, notifier=Recorder())
    assert other.workflow.deliver_notifications("other") == 2  # at once, no claim to wait out


def test_submit_renders_outside_the_service_row_lock_and_plans_again_when_it_moved(
        make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    services = make(clock=ManualClock())
    wf = services.workflow
    wf.submit_create(spec("ranking-api"), ALICE)
    drain(services)
    real = service_module.layout_changesets
    renders: list[Any] = []

    def render_while_someone_else_writes(*args: Any, **kwargs: Any) -> Any:
        renders.append(kwargs.get("bindings"))
        if len(renders) == 1:
            # another transaction takes the service row and changes it; with the row (or SQLite's write lock)
            # held by the submission this would fail at once (NOWAIT) or wait for the lock to time out
            with services.store.session() as s:
                svc = s.scalar(select(m.Service).where(m.Service.name == "ranking-api")
                               .with_for_update(nowait=True))
                assert svc is not None
                svc.bindings = {**(svc.bindings or {}), "security_group_ids": {"devel": "sg-0000000000000eeee"}}
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "layout_changesets", render_while_someone_else_writes)
    change = wf.submit_create(spec("ranking-api", cpu="1"), ALICE)
    assert change.kind == "change" and change.state in (State.PENDING, State.RUNNING)
    assert len(renders) == 2  # planned again from what the service is now
    assert renders[1]["security_group_ids"] == {"devel": "sg-0000000000000eeee"}
