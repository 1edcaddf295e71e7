"""Temporary environments on a controlled clock: a reminder before expiry (once), extension within
the platform maximum, then the automatic decommission request at expiry (once, on every replica)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import run_once
from bot.workflow.api import Locked, NotAllowed, NotFound, State
from bot.workflow.clock import ManualClock
from provisioners.forge.local import LocalForge
from tests.workflow.support import ALICE, MALLORY, SRE, CountingForge, Recorder, drain, non_empty_tree, spec


def test_reminder_then_automatic_decommission(make: Any, tmp_path: Path) -> None:
    clock, recorder = ManualClock(), Recorder()
    forge = CountingForge(LocalForge(tmp_path / "repos"))
    services = make(clock=clock, notifier=recorder, forge=forge, ttl_reminder_hours=24)
    wf = services.workflow
    start = clock.now()
    info = wf.submit_create(spec("preview-api", envs=["tmp-pr42"]), ALICE)  # ttl_hours 48
    drain(services)
    assert wf.get_request(info.id).state == State.SUCCEEDED
    [env] = wf.get_service("preview-api").environments
    assert env.name == "tmp-pr42" and env.expires_at == start + timedelta(hours=48)

    clock.advance(hours=23)  # 25 h before expiry: too early
    run_once(wf, "replica-1")
    assert "ttl_reminder" not in recorder.kinds()
    clock.advance(hours=2)  # 23 h before expiry
    run_once(wf, "replica-1")
    run_once(wf, "replica-2")  # every replica runs the job; the owner hears it once
    reminders = [v for k, v in recorder.events if k == "ttl_reminder"]
    assert len(reminders) == 1 and reminders[0][0].name == "preview-api" and reminders[0][1].name == "tmp-pr42"

    clock.advance(hours=23)  # the moment of expiry
    opened = wf.expire_environments()
    assert len(opened) == 1 and opened[0].kind == "delete" and opened[0].requester == "system"
    assert opened[0].environments == ["tmp-pr42"]
    assert wf.expire_environments() == []  # opened once
    drain(services)
    assert wf.get_request(opened[0].id).state == State.SUCCEEDED
    with pytest.raises(NotFound):
        wf.get_service("preview-api")
    left = [f"{repo}/{path}" for repo, files in non_empty_tree(forge.forge).items() for path in files]
    assert not [p for p in left if "tmp-pr42" in p or "preview-api" in p]  # only shared platform files remain
    actions = [e.action for e in wf.audit("preview-api")]
    assert actions.index("environment.reminded") < actions.index("service.deleted")


def test_extend_within_the_maximum(make: Any) -> None:
    clock, recorder = ManualClock(), Recorder()
    services = make(clock=clock, notifier=recorder, ttl_reminder_hours=24)
    wf = services.workflow
    start = clock.now()
    wf.submit_create(spec("preview-api", envs=["devel", "tmp-pr42"]), ALICE)
    drain(services)
    clock.advance(hours=30)
    run_once(wf, "w")
    assert recorder.kinds().count("ttl_reminder") == 1

    info = wf.extend("preview-api", "tmp-pr42", 72, ALICE)
    assert info.kind == "extend" and info.state == State.SUCCEEDED
    env = next(e for e in wf.get_service("preview-api").environments if e.name == "tmp-pr42")
    assert env.expires_at == start + timedelta(hours=48 + 72)
    with pytest.raises(NotAllowed, match=r"maximum is 336h .* at most 246h"):
        wf.extend("preview-api", "tmp-pr42", 300, ALICE)
    with pytest.raises(NotAllowed, match="devel is permanent"):
        wf.extend("preview-api", "devel", 24, ALICE)
    with pytest.raises(NotFound, match="no environment tmp-nope"):
        wf.extend("preview-api", "tmp-nope", 24, ALICE)
    with pytest.raises(NotAllowed, match="members of team search"):
        wf.extend("preview-api", "tmp-pr42", 24, MALLORY)

    clock.set(start + timedelta(hours=48 + 72 - 20))  # within the reminder window of the new expiry
    run_once(wf, "w")
    assert recorder.kinds().count("ttl_reminder") == 2  # reminded again for the new expiry
    clock.set(start + timedelta(hours=48 + 71))
    assert wf.expire_environments() == []  # not yet
    assert "environment.extended" in [e.action for e in wf.audit("preview-api")]


def test_expiry_waits_for_a_running_request_and_extend_is_refused_during_decommission(make: Any) -> None:
    clock = ManualClock()
    services = make(clock=clock)
    wf = services.workflow
    wf.submit_create(spec("preview-api", envs=["tmp-a1"]), ALICE)
    drain(services)
    change = wf.submit_create(spec("preview-api", envs=["tmp-a1"], cpu="1"), ALICE)
    clock.advance(hours=49)
    assert wf.expire_environments() == []  # locked by the change: the job tries again next tick
    drain(services)
    assert wf.get_request(change.id).state == State.SUCCEEDED
    [decommission] = wf.expire_environments()
    with pytest.raises(Locked, match=f"#{decommission.id}"):
        wf.extend("preview-api", "tmp-a1", 24, ALICE)
    drain(services)
    assert wf.list_services() == []


def _teardowns(wf: Any, service: str) -> list[Any]:
    return [r for r in wf.list_requests(service=service) if r.kind == "delete" and r.requester == "system"]


def test_a_cancelled_automatic_teardown_is_reminded_and_retried(make: Any) -> None:
    """A temporary environment's data store is disposable: its automatic teardown opens no approval gate
    (the create's approval covered it, TTL included). Cancelled, the owner hears at once that it is still
    up and when LaunchPad tries again; ttl_teardown_retry_hours later it does, once."""
    clock, recorder = ManualClock(), Recorder()
    services = make(clock=clock, notifier=recorder, ttl_teardown_retry_hours=24)
    wf = services.workflow
    create = wf.submit_create(spec("cache-api", envs=["tmp-q4mig"], components={"elasticache": {}}), ALICE)
    drain(services)
    gate = next(s for s in wf.get_request(create.id).steps if s.kind == "approval")  # data store: SRE, once
    wf.decide(create.id, gate.id, SRE, True)
    drain(services)
    assert wf.get_request(create.id).state == State.SUCCEEDED

    clock.advance(hours=48)
    [first] = wf.expire_environments()
    assert [s.kind for s in first.steps if s.kind == "approval"] == []  # tears itself down, no SRE wait
    cancelled = wf.cancel(first.id, ALICE)
    reminders = recorder.kinds().count("ttl_reminder")

    clock.advance(minutes=1)
    run_once(wf, "replica-1")
    run_once(wf, "replica-2")
    told = [v[1] for k, v in recorder.events if k == "ttl_reminder"][reminders:]
    assert len(told) == 1 and told[0].teardown is not None
    assert told[0].teardown.request_id == first.id and told[0].teardown.outcome == "cancelled"
    assert told[0].teardown.retry_at == cancelled.updated_at + timedelta(hours=24)
    assert _teardowns(wf, "cache-api") == [wf.get_request(first.id)]  # not yet

    clock.advance(hours=23)
    run_once(wf, "replica-1")
    assert len(_teardowns(wf, "cache-api")) == 1 and recorder.kinds().count("ttl_reminder") == reminders + 1
    clock.advance(hours=1)
    run_once(wf, "replica-1")  # opens the teardown again and runs it
    run_once(wf, "replica-2")
    second = [r for r in _teardowns(wf, "cache-api") if r.id != first.id]
    assert len(second) == 1 and second[0].state == State.SUCCEEDED
    with pytest.raises(NotFound):
        wf.get_service("cache-api")
    assert recorder.kinds().count("ttl_reminder") == reminders + 1  # reminded once for the cancelled teardown
    assert any("did not go through" in e.detail for e in wf.audit("cache-api") if e.action == "environment.reminded")


def test_a_denied_automatic_teardown_is_reminded_and_asked_again(make: Any, tmp_path: Path) -> None:
    """A platform that has SRE approve TTL teardowns (`ttl_expiry: true` in its policy): a denial leaves the
    environment up; the owner is told, and the teardown comes back for a decision after the retry period."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {id: ttl, when: {ttl_expiry: true}, approvers: sre, reason: TTL teardown}\n")
    clock, recorder = ManualClock(), Recorder()
    services = make(clock=clock, notifier=recorder, approval_policy_file=policy, ttl_teardown_retry_hours=24)
    wf = services.workflow
    wf.submit_create(spec("preview-api", envs=["tmp-pr42"]), ALICE)
    drain(services)
    clock.advance(hours=48)
    [first] = wf.expire_environments()
    drain(services)
    gate = next(s for s in wf.get_request(first.id).steps if s.kind == "approval")
    wf.decide(first.id, gate.id, SRE, False, reason="still demoing it")

    run_once(wf, "w")
    [(_, env)] = [v for k, v in recorder.events if k == "ttl_reminder"]
    assert env.teardown is not None and env.teardown.outcome == "denied"
    clock.advance(hours=24)
    run_once(wf, "w")
    second = [r for r in _teardowns(wf, "preview-api") if r.id != first.id]
    assert len(second) == 1 and second[0].state == State.WAITING  # asked again
    gate = next(s for s in second[0].steps if s.kind == "approval")
    wf.decide(second[0].id, gate.id, SRE, True)
    drain(services)
    with pytest.raises(NotFound):
        wf.get_service("preview-api")
