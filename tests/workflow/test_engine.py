"""The engine on the local forge, on SQLite and PostgreSQL: a whole request, approval gates, denial,
locks, transient retries with backoff, retry from the failed step, merge polling, cancel, change
requests, leases, and notifications through the outbox. Time is a ManualClock; nothing sleeps."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.workflow.api import Actor, Locked, NotAllowed, RequestInfo, State
from bot.workflow.clock import ManualClock
from provisioners.errors import InvalidSpecError, PermanentError, TransientError
from provisioners.forge.base import ChangeState
from provisioners.forge.local import LocalForge
from provisioners.platform import PlatformConfig, Team
from tests.workflow.support import (
    ALICE,
    BOB,
    MALLORY,
    SRE,
    SRE2,
    CountingForge,
    Recorder,
    drain,
    merge,
    pulls,
    spec,
)


def open_steps(info: RequestInfo) -> list[Any]:
    return [s for s in info.steps if s.kind == "open_pr"]


def forge_for(tmp_path: Path, **kwargs: Any) -> CountingForge:
    return CountingForge(LocalForge(tmp_path / "repos"), **kwargs)


def test_devel_request_runs_to_success(make: Any, tmp_path: Path) -> None:
    recorder, forge = Recorder(), forge_for(tmp_path)
    services = make(notifier=recorder, clock=ManualClock(), forge=forge)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), ALICE)
    assert info.kind == "create" and info.state == State.PENDING
    assert not any(s.kind == "approval" for s in info.steps)  # devel + standard components: self-service
    assert recorder.events == []  # submitting is database-only
    drain(services)
    info = wf.get_request(info.id)
    assert info.state == State.SUCCEEDED, info.error
    assert all(s.state == State.SUCCEEDED and s.attempts == 1 for s in info.steps)
    kinds = [s.kind for s in info.steps]
    assert kinds[-1] == "notify"
    for step in open_steps(info):  # infra PRs are planned first and applied after the merge (pipeline.py)
        after = ["wait_plan", "wait_merge", "wait_apply"] if step.repo == "infra" else ["wait_merge"]
        assert kinds[step.position + 1: step.position + 1 + len(after)] == after
    if any(s.repo == "infra" for s in open_steps(info)):
        last_infra = max(s.position for s in open_steps(info) if s.repo == "infra")
        assert kinds[last_infra + 4] == "bind"  # bind follows the infra apply
    opened = [s for s in open_steps(info) if s.pr_number]
    all_pulls = [p for ps in pulls(forge.root).values() for p in ps]
    assert len(all_pulls) == len(opened)
    assert all(p["state"] == ChangeState.MERGED for p in all_pulls)
    assert sorted(p["key"] for p in all_pulls) == sorted(f"{info.id}-{s.repo}-1" for s in opened)
    svc = wf.get_service("ranking-api")
    assert (svc.team, svc.owner, [e.name for e in svc.environments]) == ("search", "U0ALICE", ["devel"])
    assert recorder.kinds().count("request_finished") == 1
    actions = [e.action for e in wf.audit("ranking-api")]
    assert actions[0] == "request.submitted" and "request.succeeded" in actions and "service.created" in actions


def test_prod_request_stops_at_the_approval_gate(make: Any, tmp_path: Path) -> None:
    recorder, forge = Recorder(), forge_for(tmp_path)
    services = make(notifier=recorder, clock=ManualClock(), forge=forge)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api", envs=["devel", "prod"]), ALICE)
    gate = next(s for s in info.steps if s.kind == "approval")
    assert gate.approver_group == "sre" and "prod" in gate.title
    drain(services)
    info = wf.get_request(info.id)
    assert info.state == State.WAITING and info.current_step().id == gate.id  # type: ignore[union-attr]
    assert [a.step.id for a in wf.pending_approvals()] == [gate.id]
    assert "approval_needed" in recorder.kinds()
    first = open_steps(info)[0]
    assert first.pr_number and info.steps[first.position + 2].id == gate.id  # the gate sees a real PR, planned...
    assert info.steps[first.position + 1].kind == "wait_plan"
    assert all(p["state"] == "open" for ps in pulls(forge.root).values() for p in ps)  # ...and nothing merged

    with pytest.raises(NotAllowed, match="never approves their own"):
        wf.decide(info.id, gate.id, ALICE.model_copy(update={"is_sre": True}), True)
    with pytest.raises(NotAllowed, match="only members of sre"):
        wf.decide(info.id, gate.id, BOB, True)
    wf.decide(info.id, gate.id, SRE, True, "looks right")
    with pytest.raises(NotAllowed, match=r"already approved by <@U0SRE> at"):
        wf.decide(info.id, gate.id, SRE2, False, "too late")
    drain(services)
    info = wf.get_request(info.id)
    assert info.state == State.SUCCEEDED, info.error
    step = next(s for s in info.steps if s.id == gate.id)
    assert (step.decided_by, step.decision_reason) == ("U0SRE", "looks right") and step.decided_at is not None
    assert wf.pending_approvals() == []
    assert "approval.approved" in [e.action for e in wf.audit("ranking-api")]


def test_an_sre_requester_needs_another_sre(make: Any) -> None:
    services = make(clock=ManualClock())
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api", envs=["prod"], owner=""), SRE)
    drain(services)
    gate = next(s for s in info.steps if s.kind == "approval")
    with pytest.raises(NotAllowed, match="never approves their own"):
        wf.decide(info.id, gate.id, SRE, True)
    assert wf.decide(info.id, gate.id, SRE2, True).state == State.RUNNING


def test_denial_stops_the_request_with_its_reason(make: Any, tmp_path: Path) -> None:
    forge = forge_for(tmp_path)
    services = make(clock=ManualClock(), forge=forge)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api", envs=["prod"]), ALICE)
    drain(services)
    gate = next(s for s in info.steps if s.kind == "approval")
    with pytest.raises(NotAllowed, match="reason"):
        wf.decide(info.id, gate.id, SRE, False)
    info = wf.decide(info.id, gate.id, SRE, False, "prod needs a capacity review first")
    assert info.state == State.FAILED
    assert "denied by" in (info.error or "") and "capacity review" in (info.error or "")
    drain(services)  # the worker closes what the denied request opened
    assert [p["state"] for ps in pulls(forge.root).values() for p in ps] == ["closed"]
    with pytest.raises(NotAllowed, match="denied"):
        wf.retry(info.id, ALICE)
    assert wf.submit_create(spec("ranking-api", envs=["prod"]), ALICE).id > info.id  # the lock is released
    denied = [e for e in wf.audit("ranking-api") if e.action == "approval.denied"]
    assert denied[0].actor == "U0SRE" and "capacity review" in denied[0].detail


def test_a_second_request_is_refused_with_the_lock_holder(make: Any) -> None:
    services = make(clock=ManualClock(), auto_merge_local=False)
    wf = services.workflow
    first = wf.submit_create(spec("ranking-api"), ALICE)
    with pytest.raises(Locked) as err:
        wf.submit_create(spec("ranking-api", cpu="500m"), BOB)
    assert (err.value.holder_request_id, err.value.holder) == (first.id, "U0ALICE")
    assert f"#{first.id}" in str(err.value) and "U0ALICE" in str(err.value)
    assert len(wf.list_requests()) == 1  # nothing of the refused request was persisted


def test_precheck_gives_the_refusals_of_submit_without_writing(make: Any) -> None:
    """The Slack ack runs the precheck; it must refuse exactly what submission would, and persist nothing."""
    platform = PlatformConfig()
    platform.teams["search"] = Team(name="search", slack_group="S0SEARCH01")  # members known: outsiders refused
    services = make(clock=ManualClock(), auto_merge_local=False, platform=platform)
    wf = services.workflow
    assert wf.precheck_create(spec("ranking-api"), ALICE).name == "ranking-api"
    assert wf.list_requests() == []
    first = wf.submit_create(spec("ranking-api"), ALICE)
    with pytest.raises(Locked) as err:
        wf.precheck_create(spec("ranking-api", cpu="500m"), BOB)
    assert err.value.holder_request_id == first.id
    with pytest.raises(NotAllowed):
        wf.precheck_create(spec("other-api"), MALLORY)
    with pytest.raises(InvalidSpecError):
        wf.precheck_create(spec("Bad_Name"), ALICE)
    assert len(wf.list_requests()) == 1


def test_transient_errors_back_off_then_give_up(make: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    forge = forge_for(tmp_path)
    services = make(clock=clock, forge=forge, step_max_attempts=3, step_backoff_base_seconds=10,
                    step_backoff_max_seconds=100)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), ALICE)
    first = open_steps(info)[0]
    key = f"{info.id}-{first.repo}-1"
    forge.fail[key] = TransientError("GitHub answered 502")
    assert services.workflow.run_pending("w") == 1
    step = wf.get_request(info.id).steps[first.position]
    assert step.state == State.PENDING and "attempt 1 of 3" in (step.error or "")
    assert wf.run_pending("w") == 0  # not before its backoff
    clock.advance(seconds=10)  # >= the first backoff (5-10 s with jitter)
    assert wf.run_pending("w") == 1
    clock.advance(seconds=20)
    assert wf.run_pending("w") == 1
    info = wf.get_request(info.id)
    assert info.state == State.FAILED and "gave up after 3 attempts: GitHub answered 502" in (info.error or "")
    assert Counter(op for op, k in forge.calls if k == key)["open_change"] == 3


def test_transient_error_honours_retry_at(make: Any, tmp_path: Path) -> None:
    clock = ManualClock()
    forge = forge_for(tmp_path)
    services = make(clock=clock, forge=forge)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), ALICE)
    key = f"{info.id}-{open_steps(info)[0].repo}-1"
    forge.fail[key] = TransientError("rate limited", retry_at=clock.now() + timedelta(hours=1))
    assert wf.run_pending("w") == 1
    del forge.fail[key]
    clock.advance(minutes=59)
    assert wf.run_pending("w") == 0
    clock.advance(minutes=1)
    drain(services)
    assert wf.get_request(info.id).state == State.SUCCEEDED


def test_retry_resumes_from_the_failed_step(make: Any, tmp_path: Path) -> None:
    forge = forge_for(tmp_path)
    services = make(clock=ManualClock(), forge=forge)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), ALICE)
    opens = open_steps(info)
    assert len(opens) >= 2, "the renderers should produce at least two change sets"
    failing = opens[1]
    key = f"{info.id}-{failing.repo}-1"
    forge.fail[key] = PermanentError(f"repository for {failing.repo} is archived; unarchive it")
    drain(services)
    info = wf.get_request(info.id)
    assert info.state == State.FAILED and info.failed_step().id == failing.id  # type: ignore[union-attr]
    assert "archived" in (info.error or "") and f"Step {failing.position + 1}" in (info.error or "")
    before = {s.id: s.attempts for s in info.steps if s.position < failing.position}
    assert all(n == 1 for n in before.values())
    with pytest.raises(Locked, match="retry it"):  # a failed request keeps its lock
        wf.submit_create(spec("ranking-api", cpu="1"), ALICE)
    with pytest.raises(NotAllowed):
        wf.retry(info.id, MALLORY)
    del forge.fail[key]  # the cause is fixed
    info = wf.retry(info.id, ALICE)
    assert info.state == State.PENDING and info.current_step().id == failing.id  # type: ignore[union-attr]
    drain(services)
    info = wf.get_request(info.id)
    assert info.state == State.SUCCEEDED, info.error
    assert {s.id: s.attempts for s in info.steps if s.id in before} == before  # succeeded steps never reran
    assert next(s for s in info.steps if s.id == failing.id).attempts == 2
    opened = Counter(k for op, k in forge.calls if op == "open_change")
    assert opened[f"{info.id}-{opens[0].repo}-1"] == 1 and opened[key] == 2
    with pytest.raises(NotAllowed, match="only a failed request"):
        wf.retry(info.id, ALICE)


def test_wait_for_merge_polls_until_someone_merges(make: Any, tmp_path: Path) -> None:
    clock, forge = ManualClock(), forge_for(tmp_path)
    services = make(clock=clock, forge=forge, auto_merge_local=False)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), ALICE)
    for _ in range(20):
        drain(services)
        info = wf.get_request(info.id)
        if info.state == State.SUCCEEDED:
            break
        assert info.state == State.WAITING
        step = info.current_step()
        assert step is not None and step.kind == "wait_merge"
        clock.advance(hours=1)
        assert wf.run_pending("w") == 1 and wf.get_request(info.id).state == State.WAITING  # polled, still open
        merge(forge.forge, f"{info.id}-{step.repo}-1")
        clock.advance(hours=1)
    assert info.state == State.SUCCEEDED
    assert not any(op == "merge_change" for op, _ in forge.calls)  # LaunchPad never merged: a person did


def test_cancel_closes_the_open_pull_requests(make: Any, tmp_path: Path) -> None:
    forge = forge_for(tmp_path)
    services = make(clock=ManualClock(), forge=forge, auto_merge_local=False)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), ALICE)
    drain(services)
    with pytest.raises(NotAllowed, match="members of team search"):
        wf.cancel(info.id, MALLORY)
    info = wf.cancel(info.id, BOB)
    assert info.state == State.CANCELLED
    assert all(s.state in (State.SUCCEEDED, State.CANCELLED) for s in info.steps)
    drain(services)
    assert [p["state"] for ps in pulls(forge.root).values() for p in ps] == ["closed"]
    with pytest.raises(NotAllowed, match="already cancelled"):
        wf.cancel(info.id, BOB)
    assert wf.submit_create(spec("ranking-api"), ALICE).kind == "create"  # lock released; still a create


def test_change_request_removes_files_the_new_spec_no_longer_renders(make: Any, tmp_path: Path) -> None:
    forge = forge_for(tmp_path)
    services = make(clock=ManualClock(), forge=forge)
    wf = services.workflow
    wf.submit_create(spec("ranking-api", components={"s3": {}}), ALICE)
    drain(services)
    with_s3 = {repo: set(files) for repo, files in _tree(forge).items()}
    change = wf.submit_create(spec("ranking-api"), BOB)
    assert change.kind == "change"
    drain(services)
    assert wf.get_request(change.id).state == State.SUCCEEDED
    without = {repo: set(files) for repo, files in _tree(forge).items()}
    other = forge_for(tmp_path / "fresh")
    fresh = make(clock=ManualClock(), forge=other)
    fresh.workflow.submit_create(spec("ranking-api"), ALICE)
    drain(fresh)
    assert without == {repo: set(files) for repo, files in _tree(other).items()}  # as if created without s3
    assert any(with_s3[r] - without[r] for r in with_s3), "the s3 component should render files of its own"
    with pytest.raises(InvalidSpecError, match="launchpad delete ranking-api --env devel"):
        wf.submit_create(spec("ranking-api", envs=["alpha"]), ALICE)


def _tree(forge: Any) -> dict[str, list[str]]:
    local = forge.forge if isinstance(forge, CountingForge) else forge
    out = {}
    for git_dir in sorted(local.root.rglob("*.git")):
        repo = str(git_dir.relative_to(local.root))[: -len(".git")]
        out[repo] = local.list_files(repo)
    return out


def test_who_may_act(make: Any) -> None:
    services = make(clock=ManualClock())
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api"), MALLORY)  # team members unknown: the creator owns it
    drain(services)
    assert wf.get_request(info.id).state == State.SUCCEEDED
    with pytest.raises(NotAllowed, match="only members of team search"):
        wf.submit_delete("ranking-api", None, Actor(id="U0EVE", teams=["payments"]))
    assert wf.submit_create(spec("ranking-api", cpu="1"), MALLORY).kind == "change"  # the creator may change it

    guarded = PlatformConfig(teams={"search": Team(name="search", slack_group="S0SEARCH"),
                                    "payments": Team(name="payments")})
    strict = make(clock=ManualClock(), platform=guarded)
    with pytest.raises(NotAllowed, match="only members of team search or SRE"):
        strict.workflow.submit_create(spec("other-api"), MALLORY)
    assert strict.workflow.submit_create(spec("other-api"), ALICE).kind == "create"


def test_a_reclaimed_step_keeps_the_newer_result(make: Any) -> None:
    clock = ManualClock()
    services = make(clock=clock)
    wf, engine = services.workflow, services.workflow.engine
    info = wf.submit_create(spec("ranking-api"), ALICE)
    stale = engine.claim("worker-a")
    assert stale is not None
    assert engine.claim("worker-b") is None  # leased
    clock.advance(seconds=121)  # worker-a went silent past its lease
    fresh = engine.claim("worker-b")
    assert fresh is not None and fresh[0].step_id == stale[0].step_id and fresh[0].reclaimed_from == "worker-a"
    engine.run(*fresh)
    engine.run(*stale)  # worker-a wakes up: its lease is gone, its result is dropped
    step = wf.get_request(info.id).steps[0]
    assert step.state == State.SUCCEEDED and step.attempts == 2
    reclaimed = [e for e in wf.audit("ranking-api") if e.action == "step.reclaimed"]
    assert len(reclaimed) == 1 and "worker-a" in reclaimed[0].detail


def test_notifications_come_from_the_worker_in_order(make: Any) -> None:
    recorder = Recorder()
    services = make(clock=ManualClock(), notifier=recorder)
    wf = services.workflow
    info = wf.submit_create(spec("ranking-api", envs=["prod"]), ALICE)
    assert recorder.events == []
    drain(services)
    kinds = recorder.kinds()
    assert kinds[0] == "request_changed"
    assert kinds.index("approval_needed") > kinds.index("step_progress")
    gate = next(s for s in info.steps if s.kind == "approval")
    wf.decide(info.id, gate.id, SRE, True)
    n = len(recorder.events)
    drain(services)
    later = recorder.kinds()[n:]
    assert later[-1] == "request_finished" and later.count("request_finished") == 1
    assert ("step_progress", "Approved by <@U0SRE>") in recorder.events[n:]


def test_waiting_approvals_are_reminded_every_few_hours(make: Any) -> None:
    clock, recorder = ManualClock(), Recorder()
    services = make(clock=clock, notifier=recorder)
    wf = services.workflow
    wf.submit_create(spec("ranking-api", envs=["prod"]), ALICE)
    drain(services)
    assert recorder.kinds().count("approval_needed") == 1
    clock.advance(hours=3)
    assert wf.remind_approvers() == 0
    clock.advance(hours=2)
    assert wf.remind_approvers() == 1 and wf.remind_approvers() == 0
    wf.deliver_notifications("w")
    assert recorder.kinds().count("approval_needed") == 2
    clock.advance(hours=4)
    assert wf.remind_approvers() == 1
